"""Hidden grader for ``fashion_mnist``: normalize, a dense classifier and an accuracy callback.

``checks.py`` (grading process) declares and judges; ``probes.py`` (sandbox worker) calls the student's code.
"""
