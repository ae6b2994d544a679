"""A frozen base's features are shared by the gradings of one run only when base and images are the same bytes, but
for the names Keras numbers on (autograder/host/feature_cache.py), and give the same training run as computing them."""
import dataclasses
import json

import numpy as np
import pytest

from autograder.graders.transfer.checks import model_inputs
from autograder.graders.transfer.contract import TRAIN_SIZE, reference_base, reference_transfer_model
from autograder.host import feature_cache, training_cache
from conftest import block, solution_blocks


@pytest.fixture(scope="module")
def base():
    return reference_base(TRAIN_SIZE, trainable=False)


@pytest.fixture(scope="module")
def images(grading_context):
    train, _ = grading_context.two_class_images(64, 48, TRAIN_SIZE)
    return model_inputs(train.images)


def _counting(base, images):
    calls = []

    def compute():
        calls.append(1)
        return base.predict(images, verbose=0, batch_size=64)
    return compute, calls


def test_the_second_grading_reads_what_the_first_computed(base, images, tmp_path):
    compute, calls = _counting(base, images)
    first = feature_cache.features(tmp_path, base, images, compute)
    second = feature_cache.features(tmp_path, base, images, compute)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, base.predict(images, verbose=0, batch_size=64))


def test_a_full_folder_keeps_nothing_more(base, images, tmp_path, monkeypatch):
    monkeypatch.setattr(feature_cache, "MAX_ENTRIES", 3)
    for k in range(3):
        (tmp_path / f"{k}.npy").write_bytes(b"")
    compute, calls = _counting(base, images)
    feature_cache.features(tmp_path, base, images, compute)
    feature_cache.features(tmp_path, base, images, compute)
    assert len(calls) == 2 and len(list(tmp_path.iterdir())) == 3


def test_features_of_another_dtype_are_used_as_computed_and_not_kept(base, images, tmp_path):
    """A base under a float16 policy: its features reach the head as they came, as without a folder."""
    computed = base.predict(images, verbose=0, batch_size=64).astype(np.float16)
    found = feature_cache.features(tmp_path, base, images, lambda: computed)
    assert found is computed and not list(tmp_path.iterdir())


def test_without_a_folder_nothing_is_kept(base, images):
    compute, calls = _counting(base, images)
    feature_cache.features(None, base, images, compute)
    feature_cache.features(None, base, images, compute)
    assert len(calls) == 2


def test_one_changed_weight_or_pixel_or_setting_is_another_entry(base, images, tmp_path):
    """A base saved and loaded (as the grading process gets each student's) is the same entry; a base that
    differs in one bit of one weight, or in one layer setting, is not; nor are images that differ in one value."""
    import keras
    from autograder.host.evidence import load_model_safely

    known = feature_cache.digest(base, images)
    assert feature_cache.digest(base, images.copy()) == known  # the bytes, not the object
    other_images = images.copy()
    other_images[0, 0, 0, 0] += 1.0
    assert feature_cache.digest(base, other_images) != known
    base.save(tmp_path / "base.keras")
    loaded = load_model_safely(tmp_path / "base.keras")
    assert feature_cache.digest(loaded, images) == known
    kernel, bias = loaded.get_layer("block5_conv3").get_weights()
    kernel[0, 0, 0, 0] = np.nextafter(kernel[0, 0, 0, 0], np.float32(1.0))
    loaded.get_layer("block5_conv3").set_weights([kernel, bias])
    assert feature_cache.digest(loaded, images) != known
    config = base.get_config()
    config["layers"][-1]["config"]["padding"] = "same"  # the last pooling: same weights, other features
    padded = keras.Model.from_config(config)
    padded.set_weights(base.get_weights())
    padded.trainable = False
    assert feature_cache.digest(padded, images) != known


def test_a_base_named_otherwise_is_the_same_entry_but_not_one_wired_or_set_otherwise(base, images):
    """Keras numbers a name after the models the process built first (a notebook's exploration): such a base is
    the same entry. Names are replaced only where they name a layer, so a layer named after an activation is not
    confused with that activation, and which layer feeds which still counts."""
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])  # one more input layer, so one more number
    again = reference_base(TRAIN_SIZE, trainable=False)
    again.set_weights(base.get_weights())
    assert again.layers[0].name != base.layers[0].name
    assert feature_cache.digest(again, images) == feature_cache.digest(base, images)

    def dense_named(name):  # the same weights: only the activation differs
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(4, activation=name, name=name)(inputs))
        model.set_weights([np.eye(4, dtype=np.float32), np.zeros(4, np.float32)])
        return model
    small = np.ones((2, 4), np.float32)
    assert feature_cache.digest(dense_named("relu"), small) != feature_cache.digest(dense_named("tanh"), small)

    def wired(second_reads_first: bool):
        inputs = keras.Input((4,))
        first = keras.layers.Dense(4)(inputs)
        second = keras.layers.Dense(4)(first if second_reads_first else inputs)
        model = keras.Model(inputs, keras.layers.Add()([first, second]))
        model.set_weights([np.eye(4, dtype=np.float32), np.zeros(4, np.float32)] * 2)
        return model
    assert feature_cache.digest(wired(True), small) == feature_cache.digest(wired(True), small)
    assert feature_cache.digest(wired(True), small) != feature_cache.digest(wired(False), small)


@pytest.mark.parametrize("content", [b"not an array", "wrong shape", "wrong dtype"])
def test_a_file_that_is_not_the_expected_array_is_computed_again(base, images, tmp_path, content):
    path = tmp_path / f"{feature_cache.digest(base, images)}.npy"
    if content == "wrong shape":
        np.save(path, np.zeros((3, 1, 1, 512), np.float32))
    elif content == "wrong dtype":
        np.save(path, np.zeros((len(images), 1, 1, 512), np.float64))
    else:
        path.write_bytes(content)
    compute, calls = _counting(base, images)
    found = feature_cache.features(tmp_path, base, images, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(found, base.predict(images, verbose=0, batch_size=64))
    np.testing.assert_array_equal(np.load(path), found)  # replaced by what was computed


def test_an_object_array_is_never_unpickled(base, images, tmp_path):
    path = tmp_path / f"{feature_cache.digest(base, images)}.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    compute, calls = _counting(base, images)
    feature_cache.features(tmp_path, base, images, compute)
    assert len(calls) == 1


def test_a_training_run_on_shared_features_is_the_one_computed_here(grading_context, tmp_path):
    """The transfer training check on a student's model, as the grading process loads it, once computing the
    features and twice reading them: the same run."""
    import keras
    from autograder.host.evidence import load_model_safely

    model = reference_transfer_model(reference_base(TRAIN_SIZE, trainable=False))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.save(tmp_path / "model.keras")
    shared = tmp_path / "shared"
    shared.mkdir()

    def run(context):
        train, test = context.two_class_images(64, 48, TRAIN_SIZE)
        return context.train_and_evaluate(load_model_safely(tmp_path / "model.keras"), train, test, epochs=2,
                                          batch_size=16, max_params=20_000_000, inputs=model_inputs)

    alone = run(dataclasses.replace(grading_context, shared_folder=None))
    runs = []
    for _ in range(2):
        runs.append(run(dataclasses.replace(grading_context, shared_folder=shared)))
        for kept in shared.glob(f"*{training_cache.SUFFIX}"):  # the run itself trains again, on read features
            kept.unlink()
    assert len(list(shared.glob("*.npy"))) == 2  # the training and the test images
    for found in runs:
        assert found.accuracy == alone.accuracy
        assert found.history == alone.history


# Only the function the training check needs (the others are not attempted, and cost little): a head on the
# base it was given, whose weights it halved first.
OTHER_BASE = """import keras
from keras import layers


def build_transfer_model(vgg):
    vgg.set_weights([weights * 0.5 for weights in vgg.get_weights()])
    model = keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model
"""


def reference_head() -> str:
    """The reference's build_transfer_model (solutions/transfer.py) alone, after the module's imports."""
    blocks = solution_blocks("transfer", demo=False)
    return f"{blocks[0]}\n\n\n{block(blocks, 'build_transfer_model')}\n"


@pytest.mark.slow
def test_a_class_shares_features_by_base_and_a_student_with_another_base_changes_nobodys(tmp_path, monkeypatch):
    """grade-all hands its grading processes the run's folder: a student whose base differs (its weights
    halved) adds entries of their own, and the two students who hand in the reference's head, one graded before
    and one after them, share its features and its training run (autograder.host.training_cache) and get every
    point their head earns: the training check's among them, which the halved base loses."""
    from autograder import graders
    from autograder.classroom import grade_all as grade_all_module
    from autograder.classroom.grade_all import BatchOptions, grade_all

    head = reference_head()
    for student, source in (("amy", head), ("eve", OTHER_BASE), ("zed", head)):
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "transfer.py").write_text(source, encoding="utf-8")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    monkeypatch.setattr(grade_all_module, "run_shared_folder", lambda options, cleanup: shared)
    report = grade_all(tmp_path / "class", tmp_path / "out", BatchOptions(assignments=("transfer",), workers=1))
    scores = {summary.student: summary.score for summary in report.summaries}
    transfer = graders.load("transfer")
    head_points = sum(check.points for check in transfer.checks
                      if transfer.probes[check.probe].uses == ("build_transfer_model",))
    assert scores["amy"] == scores["zed"] == head_points > scores["eve"]
    trains = {student: json.loads((tmp_path / "out" / student / "results.json").read_text(encoding="utf-8"))
              for student in scores}
    trains = {student: next(t["score"] for t in payload["tests"] if t["extra_data"]["check_id"] == "transfer_trains")
              for student, payload in trains.items()}
    assert trains["amy"] == trains["zed"] > trains["eve"] == 0
    assert len(list(shared.glob("*.npy"))) == 4  # two bases, each with the training and the test images
    assert len(list(shared.glob(f"*{training_cache.SUFFIX}"))) == 2  # eve's run, and the reference's
