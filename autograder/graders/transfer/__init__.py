"""Hidden grader for ``transfer``: a frozen VGG16 base, a GAP + logit head, and fine-tuning its top blocks.

``checks.py`` (grading process) declares and judges; ``probes.py`` (sandbox worker) calls the student's code.
"""
