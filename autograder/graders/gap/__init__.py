"""Hidden grader for ``gap``: image pre-processing, a convolutional head, Flatten+Dense vs global average pooling.

``checks.py`` (grading process) declares and judges; ``probes.py`` (sandbox worker) calls the student's code.
"""
