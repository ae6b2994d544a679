"""Values both sides of the gap grader read (imports nothing from either side)."""
from __future__ import annotations

TRAIN_SIZE = 32  # add_gap is graded and trained on a head for 32x32 images
HEAD_OUTPUT_100 = (10, 10, 64)
N_FLAT = 2  # one-colour pictures given to pre_process_image


def calls(inputs) -> list[tuple[str, str, int, int]]:
    """(observation key, input key, image_size, label index) of every call with a drawn image_size."""
    smooth = [(f"small{k}", f"image{k}", inputs["sizes"][k], k) for k in range(3)]
    return smooth + [(f"flat{k}", f"flat{k}", inputs["sizes"][k], 3 + k) for k in range(N_FLAT)]


def reference_head(image_size: int):
    """The contract's head, built by the kit (trusted) so add_gap is graded on its own.

    The ``gap_model`` probe builds it inside the sandbox worker (and benchmarks/calibrate_binary.py
    outside); Keras is imported only when it is called.
    """
    import keras
    from keras import layers

    blocks = [[layers.Conv2D(filters, 3), layers.BatchNormalization(momentum=0.9),  # settles in a short run
               layers.ReLU(), layers.MaxPooling2D(2)] for filters in (32, 32, 64)]
    # `head.inputs` / `head.outputs` exist for students who continue with the functional API.
    return keras.Sequential([keras.Input((image_size, image_size, 3)), *sum(blocks, [])], name="head")
