"""Values the probes and the checks of the shared graders both read (imports nothing from either side)."""
from __future__ import annotations

from typing import Any

N_CLASSES = 10
# normalize is called twice on NumPy batches: (prefix of the observations, images input, labels input)
NUMPY_CALLS = (("", "images", "labels"), ("dim_", "dim_images", "dim_labels"))
MAX_SHIPPED_PARAMETERS = 60_000_000  # larger models are described, not saved (VGG16 with its top is 138M)


def shapes(model: Any) -> dict[str, Any]:
    """Input and output shapes of a model as JSON (None when they cannot be read).

    Both sides use it: probes ship it in place of a model, checks read it off a loaded model.
    """
    def as_list(tensors):
        try:
            return [None if d is None else int(d) for d in tensors[0].shape]
        except (AttributeError, IndexError, TypeError, ValueError):
            return None
    return {"input_shape": as_list(getattr(model, "inputs", None)),
            "output_shape": as_list(getattr(model, "outputs", None)),
            "parameters": int(model.count_params()) if getattr(model, "built", False) else None}
