"""What several assignments grade the same way: ``normalize`` and compiled Keras classifiers.

``probes.py`` runs inside the sandbox worker; ``checks.py`` and ``models.py`` run in the
grading process; ``contract.py`` holds the few values both sides read.
"""
