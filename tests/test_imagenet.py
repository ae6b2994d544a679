"""Offline ImageNet class names: where the kit looks, and what graders say when there are none."""
import json

import pytest

from autograder import imagenet
from autograder.context import GradingContext
from autograder.grading import grade_submission
from autograder.outcomes import Outcome
from autograder.runner import Limits
from conftest import SHARED
from corpus import PRETRAINED_BASE

SHARED_INDEX = SHARED / "data" / imagenet.CLASS_INDEX_FILE


def _index_file(path, n=1000):
    path.write_text(json.dumps({str(i): [f"n{i:08d}", f"class_{i}"] for i in range(n)}), encoding="utf-8")
    return path


def test_keras_cache_comes_first_then_the_environment_variable(tmp_path, monkeypatch):
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    named = _index_file(tmp_path / "named.json")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(imagenet.CLASS_INDEX_ENV, str(named))
    assert imagenet.class_index_path() == named
    cached = _index_file(cache / imagenet.CLASS_INDEX_FILE)
    assert imagenet.class_index_path() == cached


def test_missing_or_malformed_index_names_the_variable(tmp_path):
    with pytest.raises(imagenet.MissingResource, match=imagenet.CLASS_INDEX_ENV):
        imagenet.load_class_index(None)
    with pytest.raises(imagenet.MissingResource, match="1000"):
        imagenet.load_class_index(_index_file(tmp_path / "short.json", n=10))
    assert len(imagenet.load_class_index(_index_file(tmp_path / "full.json"))) == 1000


@pytest.mark.skipif(not SHARED_INDEX.is_file(), reason="../shared/data/imagenet_class_index.json is not present")
def test_the_shared_copy_is_a_valid_index():
    index = imagenet.load_class_index(SHARED_INDEX)
    assert index["0"][0].startswith("n") and len(index) == 1000


def test_without_a_class_index_the_prediction_checks_are_kit_errors_not_student_failures(submit):
    context = GradingContext(seed=0, class_index_path=None)
    directory = submit({"pretrained.py": PRETRAINED_BASE})
    (result,) = grade_submission(directory, assignment="pretrained", context=context,
                                 limits=Limits(step_timeout=120)).assignments
    for check in result.checks:
        if check.check_id.startswith("predictions"):
            assert check.outcome is Outcome.ERROR and check.grader_fault, check
            assert imagenet.CLASS_INDEX_ENV in check.message and "not your fault" in check.message
        else:
            assert check.passed, check
