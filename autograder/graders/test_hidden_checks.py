"""Where pytest finds the hidden checks: ``pytest --pyargs autograder.graders --submission PATH``.

This module holds no tests and no grading logic. The ``autograder`` pytest plugin
(:mod:`autograder.graders.pytest_plugin`, registered as a ``pytest11`` entry point) collects it as one
item per check of every assignment, ``test_hidden_checks.py::<assignment>::<check id>``, and grades
the submission the way ``python -m autograder grade PATH`` does. Its name only has to match pytest's
``test_*.py`` so that ``--pyargs autograder.graders`` reaches it.
"""
