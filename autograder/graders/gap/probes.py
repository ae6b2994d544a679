"""gap probes (sandbox worker side): pre_process_image, build_head, build_standard_classifier and add_gap."""
from __future__ import annotations

import numpy as np

from autograder.core.spec import ProbeSet
from autograder.core.wire import describe
from autograder.graders.common.probes import failure_kept, shippable, spec_to_json, unpack_pair
from autograder.graders.gap.contract import HEAD_OUTPUT_100, TRAIN_SIZE, calls, reference_head

PROBES = ProbeSet()


@PROBES.register
def pre_process(student, inputs, ctx):
    import tensorflow as tf

    observed = {}
    for key, image_key, size, label_index in calls(inputs):
        image, label = tf.constant(inputs[image_key]), tf.constant(inputs["labels"][label_index])
        out = failure_kept(observed, f"{key}_sized",
                           lambda: student.call("pre_process_image", image, label, image_size=size))
        if f"{key}_sized_error" in observed:  # image_size not written: only the resize check is lost, the rest is
            out = student.call("pre_process_image", image, label)  # judged on what it gives without
        pair = unpack_pair(out)
        observed.update({f"{key}_returned": describe(out), f"{key}_is_pair": pair is not None,
                         key: pair[0] if pair else None, f"{key}_label": pair[1] if pair else None})
    out = student.call("pre_process_image", tf.constant(inputs["image0"]), tf.constant(inputs["labels"][0]))
    default = unpack_pair(out)
    observed.update({"default_returned": describe(out), "default_is_pair": default is not None,
                     "default": default[0] if default else None})

    def pictures():
        for k in range(3):
            yield inputs[f"image{k}"], inputs["labels"][k]

    dataset = tf.data.Dataset.from_generator(pictures, output_signature=(
        tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)))
    def mapped_elements():
        mapped = student.run("`pre_process_image` inside Dataset.map", dataset.map, student.get("pre_process_image"))
        return mapped, student.run("Iterating the mapped dataset", list, mapped)

    done = failure_kept(observed, "mapped", mapped_elements)  # a failure here costs only the Dataset.map check
    if done is None:
        return observed
    mapped, elements = done
    observed["mapped_spec"] = spec_to_json(mapped.element_spec)
    pairs = [unpack_pair(element) for element in elements]
    if all(pairs):
        images = [np.asarray(p[0]) for p in pairs]
        if len({image.shape for image in images}) == 1:
            observed["mapped_images"] = np.stack(images)
            observed["mapped_labels"] = np.stack([np.asarray(p[1]) for p in pairs])
            return observed
    observed["mapped_images"] = f"elements: {[describe(e) for e in elements]}"
    return observed


@PROBES.register
def head(student, inputs, ctx):
    return {"small": shippable(student.call("build_head", inputs["size"])),
            "default": shippable(student.call("build_head"))}


@PROBES.register
def classifier(student, inputs, ctx):
    observed = {}
    observed["plain"] = shippable(_built_classifier(student))
    # without dropout_rate written, only the check of dropout_rate is lost
    observed["dropout"] = failure_kept(observed, "dropout", lambda: shippable(
        _built_classifier(student, dropout_rate=inputs["dropout_rate"])))
    return observed


def _built_classifier(student, **kwargs):
    model = student.call("build_standard_classifier", **kwargs)
    if getattr(model, "built", True) is False:  # stacked on the 100-pixel head's output
        student.run("Building the classifier on (10, 10, 64) features", model.build, (None, *HEAD_OUTPUT_100))
    return model


@PROBES.register
def gap_model(student, inputs, ctx):
    given = reference_head(TRAIN_SIZE)
    first_kernel = np.array(given.layers[0].kernel.numpy())
    model = student.call("add_gap", given)  # may extend `given` in place (head.add): a correct choice
    return {"model": shippable(model), "head_kernel": first_kernel}
