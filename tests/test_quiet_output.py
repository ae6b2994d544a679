"""The terminal shows the grade, not TensorFlow's start-up lines; real warnings and errors still show."""
import os
import re
import subprocess
import sys

from autograder import graders
from autograder.core.quiet import is_noise, startup_noise_filtered

from conftest import ROOT

# What `import tensorflow` printed before the fix, even with TF_CPP_MIN_LOG_LEVEL=3 (see autograder/core/quiet.py).
STARTUP_NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|Could not find cuda drivers|"
                           r"cpu_feature_guard|This TensorFlow binary is optimized")


def _without_log_level() -> dict[str, str]:
    """The tests' environment minus TF_CPP_MIN_LOG_LEVEL (conftest sets it): a user who never set it."""
    return {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"} | {"COLUMNS": "200"}


def test_noise_line_on_fd_2_is_dropped_and_other_lines_are_replayed_in_order(capfd):
    with startup_noise_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1.2 42 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"E0000 00:00:1.3 42 loader.cc:7] a real error from C++\n")
        os.write(2, b"x.py:1: UserWarning: a real Python warning\n")
    # (Python-level warnings in a real process: test_quiet_import_keeps_warnings_emitted_after_it.)
    assert capfd.readouterr().err == ("E0000 00:00:1.3 42 loader.cc:7] a real error from C++\n"
                                      "x.py:1: UserWarning: a real Python warning\n")


def test_noise_patterns_are_specific():
    assert is_noise("I0000 00:00:1796205530.622775    4303 cudart_stub.cc:31] Could not find cuda drivers on your "
                    "machine, GPU will not be used.\n")
    assert not is_noise("W0000 00:00:1.0 42 cudart_stub.cc:31] Could not load dynamic library 'libcudart.so.12'\n")
    assert not is_noise("oneDNN custom operations are on, said the student\n")  # not a C++ log line


def test_quiet_import_keeps_warnings_emitted_after_it():
    code = ("from autograder.core.quiet import import_tensorflow_quietly\n"
            "import_tensorflow_quietly()\n"
            "import logging, warnings\n"
            "import tensorflow as tf\n"
            "warnings.warn('a genuine warning')\n"
            "logging.warning('a genuine logged warning')\n"
            "print('sum', int(tf.reduce_sum(tf.constant([1, 2]))))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env=_without_log_level())
    assert run.returncode == 0, run.stderr
    assert not STARTUP_NOISE.search(run.stdout + run.stderr), run.stderr
    assert "UserWarning: a genuine warning" in run.stderr
    assert "WARNING:root:a genuine logged warning" in run.stderr
    assert "sum 3" in run.stdout


def test_grade_output_has_the_score_table_and_no_tensorflow_startup_lines():
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "solutions/fashion_mnist.py",
                          "--assignment", "fashion_mnist"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env=_without_log_level())
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert not STARTUP_NOISE.search(output), output
    full = f"{sum(c.points for c in graders.load('fashion_mnist').checks):g}"
    assert f"fashion_mnist: {full}/{full}" in run.stdout and "check" in run.stdout, output
