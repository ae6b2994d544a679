"""Every shape of wrong answer a student can return is judged as the student's failure, never as a grader fault.

Each graded function of each assignment has a list of wrong answers: the wrong container (None, a list, a
dict, a generator, a number, a string), the input handed back unchanged, unbatched or twice-batched
datasets, wrong ranks, dtypes and Keras classes, empty results. Round ``i`` of an assignment replaces
every function with its ``i``-th wrong answer in the reference module (``tests/corpus.py``'s BASES) and
grades the probes that use a replaced function: no check may end as an internal grader error (a
``grader_fault``, or a probe that crashed inside the sandbox worker), and no replaced function may keep
all of its checks.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import replace

import pytest

from autograder import graders
from autograder.core.outcomes import Outcome
from autograder.host.runner import Limits
from conftest import BundledGrading, run_cli
from corpus import BASES

LIMITS = Limits(step_timeout=120)

# Messages that say the kit broke rather than what the student returned.
KIT_BROKE = ("Internal grader error", "reported an internal error", "Traceback")

NONE, EMPTY_LIST, EMPTY_DICT, GENERATOR, NUMBER, TEXT = (
    "return None", "return []", "return {}", "return (x for x in [])", "return 3", 'return "model"')
CONTAINERS = [NONE, EMPTY_LIST, EMPTY_DICT, GENERATOR, NUMBER, TEXT]
NOT_A_MODEL = ["return keras.layers.Dense(1)", "return keras.Sequential()", "return keras.Sequential"]

NORMALIZE = CONTAINERS + [
    "return images, labels",                                                   # the input unchanged
    "import numpy as np\nreturn np.asarray(images, dtype=np.float64) / 255.0, labels",  # float64
    "return tf.cast(images, tf.float32) / 255.0",                              # no labels
    "return tf.reshape(tf.cast(images, tf.float32) / 255.0, [-1]), labels",    # rank 1
    "return tf.zeros((0,)), labels",                                           # empty
    "return {'images': tf.cast(images, tf.float32) / 255.0, 'labels': labels}",
    "return tf.cast(images, tf.float32) / 255.0, labels, labels",              # a triple
    "return tf.strings.as_string(images), labels",                             # strings
]
SCALE = "lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)"
CLASSIFIER = CONTAINERS + NOT_A_MODEL + [
    "return [layers.Flatten(), layers.Dense(10, activation='softmax')]",
    "return keras.Sequential([layers.Flatten(), layers.Dense(10, activation='softmax')])",  # never built
]

WRONG = {
    "fashion_mnist": {"normalize": NORMALIZE, "build_dense_classifier": CLASSIFIER},
    "cnn": {
        "normalize": NORMALIZE,
        "make_batches": CONTAINERS + [  # scaled here, so that a wrong normalize of the same round does not mask
            "return train_dataset, test_dataset",                              # the input unchanged
            f"return train_dataset.map({SCALE}), test_dataset.map({SCALE})",  # unbatched
            f"return tuple(d.map({SCALE}).batch(batch_size, drop_remainder=True).batch(2)\n"
            "             for d in (train_dataset, test_dataset))",           # batched twice
            f"return tuple(d.map({SCALE}).batch(batch_size).batch(batch_size)\n"
            "             for d in (train_dataset, test_dataset))",           # ragged: batching the batches fails
            f"return train_dataset.map({SCALE}).batch(batch_size)",            # one dataset
            "return train_dataset.take(0), test_dataset.take(0)",              # empty
            f"return [x for x, _ in train_dataset.map({SCALE}).batch(batch_size)], []",  # lists of tensors
            f"return tuple(d.map({SCALE}).map(lambda x, y: {{'image': x, 'label': y}}).batch(batch_size)\n"
            "             for d in (train_dataset, test_dataset))",           # dict elements
            f"return tuple(d.map({SCALE}).map(lambda x, y: x).batch(batch_size)\n"
            "             for d in (train_dataset, test_dataset))",           # images only
            f"return tuple(d.map({SCALE}).map(lambda x, y: (x, tf.one_hot(y, 10))).batch(batch_size)\n"
            "             for d in (train_dataset, test_dataset))",           # one-hot labels
            f"return train_dataset.map({SCALE}).repeat(), test_dataset.map({SCALE}).repeat()",  # endless
        ],
        "build_cnn": CLASSIFIER,
    },
    "gap": {
        "pre_process_image": CONTAINERS + [
            "return image, label",                                             # the input unchanged
            "return tf.image.resize(tf.cast(image, tf.float32) / 255.0, (image_size, image_size))",  # no label
            "return tf.cast(tf.image.resize(image, (image_size, image_size)), tf.float64) / 255.0, label",
            "return tf.zeros((0,)), label",                                    # empty
            "return tf.image.resize(tf.cast(image, tf.float32) / 255.0, (image_size, image_size))[None], label",
            "return {'image': image, 'label': label}",
            "return tf.strings.as_string(image), label",                       # strings
            "return tf.reduce_mean(tf.cast(image, tf.float32)) / 255.0, label",  # a scalar
            "return (tf.image.resize(tf.cast(image, tf.float32) / 255.0, (image_size, image_size)),\n"
            "        tf.strings.as_string(label))",                           # a string label
        ],
        "build_head": CONTAINERS + NOT_A_MODEL + [
            "return keras.Sequential([keras.Input((image_size, image_size, 3))])",  # no layers after the input
            "return [layers.Conv2D(32, 3), layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(2)]",
        ],
        "build_standard_classifier": CONTAINERS + NOT_A_MODEL + [
            "return [layers.Flatten(), layers.Dense(1, activation='sigmoid')]",
            "return keras.Sequential([layers.Dense(1)])",                      # built by the grader, wrong
        ],
        "add_gap": CONTAINERS + NOT_A_MODEL + [
            "return head",                                                     # the input unchanged
            "return [head, layers.GlobalAveragePooling2D(), layers.Dense(1, activation='sigmoid')]",
            "return keras.Sequential([head, layers.GlobalAveragePooling2D()])",  # 64 outputs, not compiled
        ],
    },
    "pretrained": {
        "load_image_batch": CONTAINERS + [
            "return path",                                                     # the input unchanged
            "return keras.utils.load_img(path, target_size=target_size)",      # a PIL image
            "return np.zeros((0,), np.float32)",                               # empty
            "return np.zeros(target_size, np.float32)",                        # rank 2
            "return np.asarray(keras.utils.load_img(path, target_size=target_size))",  # uint8, rank 3
            "return keras.utils.img_to_array(keras.utils.load_img(path, target_size=target_size))[None]"
            ".astype('float64')",                                              # float64
            "return np.full((1, *target_size, 3), 'x')",                       # strings
            "return [[1, 2], [3]]",                                            # ragged nested lists
        ],
        "preprocess": CONTAINERS + [
            "return batch",                                                    # the input unchanged
            "return np.array(batch, copy=True)[0]",                            # rank 3
            "return np.zeros((0,))",                                           # empty
            "return float(np.mean(batch))",                                    # a scalar
            "return np.array(['x'])",                                          # strings
            "raise ValueError('unknown')",                                     # raises for every name
        ],
        "top_predictions": CONTAINERS + [
            "return batch",                                                    # the input unchanged
            "return [('a', 'b', 'c')]",                                        # a score that is no number
            "return [('n01440764', 'tench', None)]",
            "return keras.applications.imagenet_utils.decode_predictions(model.predict(batch, verbose=0), top=top)",
            "return ['tench', 'goldfish', 'great_white_shark']",
            "return [[]]",
            "return model.predict(batch, verbose=0)",                          # the raw scores
        ],
        "build_feature_extractor": CONTAINERS + NOT_A_MODEL + [
            "return keras.applications.VGG16(weights=weights, include_top=False, input_shape=input_shape).layers",
            "return keras.applications.VGG16(weights=weights, include_top=False, input_shape=input_shape).output",
        ],
        "extract_features": CONTAINERS + [
            "return batch",                                                    # the input unchanged
            "return model.predict(batch, verbose=0).reshape(len(batch), -1)",  # rank 2
            "return np.zeros((0,))",                                           # empty
            "return float(model.predict(batch, verbose=0).mean())",            # a scalar
            "return np.array(['x'] * 4)",                                      # strings
            "return [model.predict(batch, verbose=0)]",                        # a list around the array
        ],
    },
    "transfer": {
        "load_vgg_base": CONTAINERS + NOT_A_MODEL + [
            "return keras.applications.VGG16(include_top=False, weights=weights,\n"
            "                                input_shape=(image_size, image_size, 3)).layers",
        ],
        "freeze_vgg": CONTAINERS + NOT_A_MODEL + [
            "return vgg",                                                      # the input unchanged
            "vgg.trainable = False\nreturn [vgg]",
        ],
        "build_transfer_model": CONTAINERS + NOT_A_MODEL + [
            "return vgg",                                                      # the input unchanged
            "return [vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)]",
        ],
        "unfreeze_from": CONTAINERS + NOT_A_MODEL + [
            "return vgg",                                                      # nothing unfrozen
            "raise ValueError('no such layer')",
        ],
        "compile_for_fine_tuning": CONTAINERS + NOT_A_MODEL + [
            "return model",                                                    # the input unchanged
            "model.compile(optimizer='rmsprop')\nreturn model",                 # compiled without a loss
        ],
    },
}

IMPORTS = "import numpy as np\nimport tensorflow as tf\nimport keras\nfrom keras import layers\n"


def with_bodies(source: str, bodies: dict[str, str]) -> str:
    """``source`` with the body of each named top-level function replaced (its signature kept)."""
    lines = source.splitlines(keepends=True)
    nodes = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name in bodies]
    assert {node.name for node in nodes} == set(bodies), f"not in the base: {set(bodies) - {n.name for n in nodes}}"
    for node in sorted(nodes, key=lambda n: -n.lineno):
        header = lines[node.lineno - 1:node.body[0].lineno - 1]
        body = textwrap.indent(textwrap.dedent(bodies[node.name]).strip() + "\n", "    ")
        lines[node.lineno - 1:node.end_lineno] = header + [body, "\n"]
    return IMPORTS + "".join(lines)


def rounds(assignment_id: str) -> list[dict[str, str]]:
    """Round ``i``: every function's ``i``-th wrong answer (functions with fewer answers sit out)."""
    table = WRONG[assignment_id]
    return [{name: answers[i] for name, answers in table.items() if i < len(answers)}
            for i in range(max(len(answers) for answers in table.values()))]


CASES = [(assignment_id, i) for assignment_id in graders.ASSIGNMENT_IDS for i in range(len(rounds(assignment_id)))]


def test_every_graded_function_has_wrong_answers_of_every_container_shape():
    for assignment_id in graders.ASSIGNMENT_IDS:
        assignment = graders.load(assignment_id)
        functions = {name for probe in assignment.probes.values() for name in probe.uses}
        classes = {"AccuracyCallback"}  # a class, graded by fashion_mnist's callback probes
        assert set(WRONG[assignment_id]) == functions - classes, assignment_id
        for name, answers in WRONG[assignment_id].items():
            assert set(CONTAINERS) <= set(answers) and len(set(answers)) == len(answers), (assignment_id, name)
            for answer in answers:
                compile(with_bodies(BASES[assignment_id], {name: answer}), f"{assignment_id}.py", "exec")


def _round(case):
    """Round ``index`` of an assignment: its probes that use a replaced function, and the module."""
    assignment_id, index = case
    bodies = rounds(assignment_id)[index]
    full = graders.load(assignment_id)
    probes = {name: probe for name, probe in full.probes.items() if set(probe.uses) & set(bodies)}
    partial = replace(full, probes=probes, checks=[check for check in full.checks if check.probe in probes])
    return partial, with_bodies(BASES[assignment_id], bodies)


ROUNDS = BundledGrading("wrong-answers", CASES, _round)


@pytest.mark.parametrize("case", ROUNDS.params(lambda case: f"{case[0]}-round{case[1]}"))
def test_wrong_answers_fail_as_the_students_not_the_graders(case, tmp_path_factory, grading_context):
    assignment_id, index = case
    bodies = rounds(assignment_id)[index]
    partial, results = ROUNDS.graded(case, folder=tmp_path_factory.getbasetemp() / "wrong-answers",
                                     context=grading_context, limits=LIMITS)
    by_id = {result.check_id: result for result in results}
    for result in results:
        assert not result.grader_fault, (bodies, result)
        assert not any(text in str(result.message) for text in KIT_BROKE), (bodies, result)
        if not result.passed:
            assert result.score == 0 and str(result.message).strip(), (bodies, result)
            assert result.outcome in (Outcome.FAILED, Outcome.ERROR), (bodies, result)
    for name, answer in bodies.items():
        own = [by_id[check.id] for check in partial.checks if name in partial.probes[check.probe].uses]
        assert own and not all(result.passed for result in own), f"{name}: `{answer}` kept all its checks"


@pytest.mark.slow
def test_an_unbatched_test_split_is_reported_by_the_cli_not_as_a_grader_fault(submit):
    """The held-out corpus found the pipeline probe crashing here (exit 3, 'not your fault')."""
    source = BASES["cnn"].replace("test_batches = test_dataset.map(normalize).batch(batch_size)",
                                  "test_batches = test_dataset.map(normalize)")
    assert source != BASES["cnn"]
    directory = submit({"cnn.py": source})
    completed = run_cli("grade", str(directory), "--assignment", "cnn", "--timeout", "120")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "single examples, not batches" in completed.stdout, completed.stdout[-3000:]
    assert "not your fault" not in completed.stdout + completed.stderr
