# Before anything can import TensorFlow: its C++ logging reads TF_CPP_MIN_LOG_LEVEL when it loads (see quiet.py).
from autograder.core.quiet import set_tensorflow_environment

set_tensorflow_environment()

from autograder.cli import main  # noqa: E402

raise SystemExit(main())
