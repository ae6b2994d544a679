"""Hidden grader for ``pretrained``: loading pictures, preprocess_input, decoding predictions, VGG16 features.

``checks.py`` (grading process) declares and judges; ``probes.py`` (sandbox worker) calls the student's code.
"""
