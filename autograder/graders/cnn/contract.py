"""Values both sides of the cnn grader read (imports nothing from either side)."""
from __future__ import annotations

N_TRAIN, N_TEST = 100, 45  # examples in the training and test datasets given to make_batches
