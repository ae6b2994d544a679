"""A training check's run is shared by the gradings of one run only when model, data and settings are the same
(autograder/host/training_cache.py), and is then the run that computing gives."""
import dataclasses
import json
import random

import numpy as np
import pytest

from autograder.host import training_cache

EPOCHS, BATCH = 1, 32


def dense_model(learning_rate: float = 1e-3, hidden: int = 32):
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(hidden, "relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(10, "softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture
def saved(tmp_path):
    """The model saved as a student's worker saves it, and a loader giving the grading process's copy."""
    from autograder.host.evidence import load_model_safely

    path = tmp_path / "model.keras"
    dense_model().save(path)
    return lambda: load_model_safely(path)


@pytest.fixture
def shared(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    return folder


def train(context, model):
    train_split, test_split = context.fashion_mnist(200, 100)
    return context.train_and_evaluate(model, train_split, test_split, epochs=EPOCHS, batch_size=BATCH,
                                      max_params=10**6)


def arrays(context, model):
    train_split, test_split = context.fashion_mnist(200, 100)
    return (context.fit_to_input(model, train_split.images), train_split.labels,
            context.fit_to_input(model, test_split.images), test_split.labels)


def entries(folder):
    return sorted(folder.glob(f"*{training_cache.SUFFIX}"))


def test_training_is_the_same_for_every_copy_of_a_model_whatever_ran_before(grading_context, saved):
    """What sharing rests on: two copies loaded in one process, one after other Keras work that drew random
    numbers, have one digest and train to the same numbers, bit for bit."""
    import keras

    first = saved()
    keras.random.normal((3,), seed=None)
    dense_model(hidden=8)  # more layers made, more default seeds drawn
    random.random()  # dense_model seeded Python's random numbers as the first load found them: move on from there
    second = saved()
    key = {training_cache.digest(m, arrays(grading_context, m), epochs=EPOCHS, batch_size=BATCH, seed=0)
           for m in (first, second)}
    assert len(key) == 1 and None not in key
    alone = dataclasses.replace(grading_context, shared_folder=None)
    one, two = train(alone, first), train(alone, second)
    assert (one.accuracy, one.history) == (two.accuracy, two.history)


def test_the_second_grading_reads_what_the_first_computed(grading_context, saved, shared, monkeypatch):
    import keras

    alone = train(dataclasses.replace(grading_context, shared_folder=None), saved())
    context = dataclasses.replace(grading_context, shared_folder=shared)
    first = train(context, saved())
    assert len(entries(shared)) == 1
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained again instead of reading"))
    second = train(context, saved())
    assert (first.accuracy, first.history) == (second.accuracy, second.history) == (alone.accuracy, alone.history)
    assert json.loads(entries(shared)[0].read_text())["accuracy"] == alone.accuracy


def test_one_changed_weight_setting_or_input_is_another_entry(grading_context, saved):
    """Every load of a saved model (as the grading process gets each student's) is one entry; one bit of one
    weight, a learning rate, a trainable flag, the dropout's seed, one label, the epochs, the batch size or the
    seed make another."""
    original = saved()
    data = arrays(grading_context, original)
    key = training_cache.digest(original, data, epochs=EPOCHS, batch_size=BATCH, seed=0)
    assert training_cache.digest(saved(), tuple(a.copy() for a in data), epochs=EPOCHS, batch_size=BATCH,
                                 seed=0) == key

    def changed(edit):
        model = saved()
        edit(model)
        return training_cache.digest(model, data, epochs=EPOCHS, batch_size=BATCH, seed=0)

    def one_bit(model):
        kernel, bias = model.layers[1].get_weights()
        kernel[0, 0] = np.nextafter(kernel[0, 0], np.float32(1.0))
        model.layers[1].set_weights([kernel, bias])

    def frozen(model):
        model.layers[1].trainable = False

    def seeded(model):
        model.layers[2].seed_generator.state.assign(np.array([1, 0], dtype="uint32"))

    def slower(model):
        model.compile(optimizer=type(model.optimizer)(1e-4), loss=model.loss, metrics=["accuracy"])

    others = {changed(one_bit), changed(frozen), changed(seeded), changed(slower)}
    labels = data[3].copy()
    labels[0] = (labels[0] + 1) % 10
    others |= {training_cache.digest(original, (*data[:3], labels), epochs=EPOCHS, batch_size=BATCH, seed=0),
               training_cache.digest(original, data, epochs=EPOCHS + 1, batch_size=BATCH, seed=0),
               training_cache.digest(original, data, epochs=EPOCHS, batch_size=BATCH * 2, seed=0),
               training_cache.digest(original, data, epochs=EPOCHS, batch_size=BATCH, seed=1)}
    assert len(others) == 8 and key not in others


def test_a_model_named_otherwise_is_the_same_entry_unless_training_sees_its_names(grading_context):
    """A model built after others (its layers numbered on: ``dense_3`` for ``dense``) trains to the same numbers
    and is the same entry. Where the names reach the run (a loss given per output, keyed by the output's name;
    curves named after several outputs) they count."""
    import keras

    first, second = dense_model(), dense_model()
    assert [layer.name for layer in first.layers] != [layer.name for layer in second.layers]
    data = arrays(grading_context, first)
    keys = {training_cache.digest(m, data, epochs=EPOCHS, batch_size=BATCH, seed=0) for m in (first, second)}
    assert len(keys) == 1 and None not in keys
    alone = dataclasses.replace(grading_context, shared_folder=None)
    one, two = train(alone, first), train(alone, second)
    assert (one.accuracy, one.history) == (two.accuracy, two.history)

    def per_output(model):
        model.compile(optimizer="adam", loss={model.layers[-1].name: "sparse_categorical_crossentropy"})
        return training_cache.digest(model, data, epochs=EPOCHS, batch_size=BATCH, seed=0)
    assert per_output(dense_model()) != per_output(dense_model())

    def two_outputs():
        keras.utils.set_random_seed(3)
        inputs = keras.Input((28, 28))
        flat = keras.layers.Flatten()(inputs)
        model = keras.Model(inputs, [keras.layers.Dense(10, "softmax")(flat), keras.layers.Dense(10, "softmax")(flat)])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return training_cache.digest(model, (data[0], (data[1], data[1]), data[2], (data[3], data[3])),
                                     epochs=EPOCHS, batch_size=BATCH, seed=0)
    assert two_outputs() != two_outputs()


@pytest.mark.parametrize("content", ["not json", "a list", "accuracy above 1", "accuracy as text", "a curve of text",
                                     "a curve named with markup", "an extra field", "too long",
                                     "nested past the parser"])
def test_a_file_that_is_not_a_run_is_computed_again(grading_context, saved, shared, content):
    model = saved()
    key = training_cache.digest(model, arrays(grading_context, model), epochs=EPOCHS, batch_size=BATCH, seed=0)
    good = {"accuracy": 0.5, "history": {"loss": [1.0]}}
    text = {"not json": "{", "a list": "[0.5]", "accuracy above 1": json.dumps({**good, "accuracy": 1.5}),
            "accuracy as text": json.dumps({**good, "accuracy": "1.0"}),
            "a curve of text": json.dumps({**good, "history": {"loss": ["1.0"]}}),
            "a curve named with markup": json.dumps({**good, "history": {"<b>loss</b>": [1.0]}}),
            "an extra field": json.dumps({**good, "passed": True}),
            "too long": json.dumps({**good, "history": {"loss": [1.0] * 20_000}}),
            "nested past the parser": "[" * 30_000 + "]" * 30_000}[content]
    (shared / f"{key}{training_cache.SUFFIX}").write_text(text)
    found = train(dataclasses.replace(grading_context, shared_folder=shared), model)
    alone = train(dataclasses.replace(grading_context, shared_folder=None), saved())
    assert (found.accuracy, found.history) == (alone.accuracy, alone.history)
    assert json.loads(entries(shared)[0].read_text()) == {"accuracy": alone.accuracy, "history": alone.history}


def test_a_compile_config_that_json_cannot_state_is_computed_and_not_kept(grading_context, saved, shared):
    import keras

    model = saved()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float("nan")), loss=model.loss)
    assert training_cache.digest(model, arrays(grading_context, model), epochs=EPOCHS, batch_size=BATCH,
                                 seed=0) is None
    found = train(dataclasses.replace(grading_context, shared_folder=shared), model)
    assert 0 <= found.accuracy <= 1 and entries(shared) == []


def test_a_full_folder_keeps_nothing_more(shared, monkeypatch):
    monkeypatch.setattr(training_cache, "MAX_ENTRIES", 2)
    for name in ("a", "b"):
        (shared / f"{name}{training_cache.SUFFIX}").write_text("{}")
    calls = []
    for _ in range(2):
        training_cache.training_run(shared, "c" * 64, lambda: calls.append(1) or (0.5, {"loss": [1.0]}))
    assert len(calls) == 2 and len(entries(shared)) == 2


def _hold_then_compute(shared, key, release, result):
    """In a thread: compute ``key``'s run, which takes until ``release`` is set; returns the thread."""
    import threading

    started = threading.Event()

    def computing():
        started.set()
        release.wait(30)
        return result

    thread = threading.Thread(target=training_cache.training_run, args=(shared, key, computing))
    thread.start()
    assert started.wait(30)
    return thread


def test_two_gradings_needing_one_run_at_once_compute_it_once(shared):
    import threading

    key, release, result = "d" * 64, threading.Event(), (0.75, {"loss": [0.5]})
    holder = _hold_then_compute(shared, key, release, result)
    threading.Timer(0.5, release.set).start()
    calls = []
    found = training_cache.training_run(shared, key, lambda: calls.append(1) or (0.1, {"loss": [9.0]}))
    holder.join(30)
    assert calls == [] and found == result


def test_a_grading_waits_for_another_only_so_long_then_computes(shared, monkeypatch):
    import threading
    import time

    monkeypatch.setattr(training_cache, "MAX_WAIT_SECONDS", 0.3)
    key, release = "e" * 64, threading.Event()
    holder = _hold_then_compute(shared, key, release, (0.75, {"loss": [0.5]}))
    started = time.monotonic()
    try:
        found = training_cache.training_run(shared, key, lambda: (0.25, {"loss": [1.5]}))
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    assert found == (0.25, {"loss": [1.5]}) and 0.3 <= waited < 10
