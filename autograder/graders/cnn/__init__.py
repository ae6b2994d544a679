"""Hidden grader for ``cnn``: normalize, a tf.data input pipeline and a small CNN.

``checks.py`` (grading process) declares and judges; ``probes.py`` (sandbox worker) calls the student's code.
"""
