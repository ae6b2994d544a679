"""ImageNet class names: grading uses the kit's own index, so it needs nothing from outside the kit."""
import json
import os
import re
import subprocess
import sys

import pytest

from autograder.host import imagenet
from conftest import ROOT
from corpus import PRETRAINED_BASE

PREDICTION_CHECKS = {"predictions_default_top", "predictions_top_argument", "predictions_classes",
                     "predictions_tuple_fields"}


def test_the_grading_index_has_1000_wordnet_shaped_classes():
    index = imagenet.grading_class_index()
    assert sorted(index, key=int) == [str(i) for i in range(1000)]
    wnids = [entry[0] for entry in index.values()]
    names = [entry[1] for entry in index.values()]
    assert all(re.fullmatch(r"n\d{8}", wnid) for wnid in wnids), wnids[:3]
    assert len(set(wnids)) == 1000 and len(set(names)) == 1000
    assert all(re.fullmatch(r"[a-z]+_[a-z]+", name) for name in names), names[:3]


def test_the_grading_index_is_the_same_in_every_process():
    here = json.dumps(imagenet.grading_class_index(), sort_keys=True)
    there = subprocess.run([sys.executable, "-c", "import json; from autograder.host import imagenet; "
                            "print(json.dumps(imagenet.grading_class_index(), sort_keys=True))"],
                           capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    assert here == there


def _grade_in_a_bare_home(tmp_path, source: str) -> dict:
    """The real CLI with HOME empty, no Keras cache, no class-index variable, and no ../shared beside the files."""
    home, folder = tmp_path / "home", tmp_path / "alone" / "submission"
    home.mkdir()
    folder.mkdir(parents=True)
    (folder / "pretrained.py").write_text(source, encoding="utf-8")
    env = {key: value for key, value in os.environ.items()
           if key not in ("AUTOGRADER_IMAGENET_CLASS_INDEX", "KERAS_HOME")}
    env["HOME"] = str(home)
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--assignment", "pretrained",
                           "--json", str(out)], capture_output=True, text=True, cwd=folder, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not (home / ".keras" / "models" / imagenet.CLASS_INDEX_FILE).exists()  # nothing was fetched or cached
    return {test["tags"][1]: test for test in json.loads(out.read_text(encoding="utf-8"))["tests"]}


@pytest.mark.slow
def test_the_reference_gets_full_marks_with_nothing_beside_the_kit(tmp_path):
    tests = _grade_in_a_bare_home(tmp_path, (ROOT / "solutions" / "pretrained.py").read_text(encoding="utf-8"))
    assert PREDICTION_CHECKS <= set(tests)
    faults = [check for check, test in tests.items() if test["extra_data"]["grader_fault"]]
    assert not faults, faults
    assert all(test["score"] == test["max_score"] for test in tests.values()), \
        {check: test["output"] for check, test in tests.items() if test["score"] != test["max_score"]}


@pytest.mark.slow
def test_a_wrong_top_predictions_still_loses_its_points_there(tmp_path):
    wrong = PRETRAINED_BASE.replace("decode_predictions(scores, top=top)[0]",
                                    "decode_predictions(scores, top=3)[0][::-1]")
    assert wrong != PRETRAINED_BASE
    tests = _grade_in_a_bare_home(tmp_path, wrong)
    lost = {check for check, test in tests.items() if test["score"] < test["max_score"]}
    assert lost == {"predictions_top_argument", "predictions_classes"}, lost
    assert "reverse order" in tests["predictions_classes"]["output"]
    assert not [check for check, test in tests.items() if test["extra_data"]["grader_fault"]]
