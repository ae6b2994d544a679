"""tf2-exercise-kit: trusted, sandboxed autograding for a TensorFlow 2 / Keras course."""

__version__ = "0.1.0"
