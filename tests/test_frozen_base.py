"""A frozen VGG16 base is run once per image in a training check, and the run is the one training the whole
model gives (autograder/host/frozen_base.py); any other model is trained whole."""
import numpy as np
import pytest

from autograder.graders.transfer.checks import model_inputs
from autograder.graders.transfer.contract import TRAIN_SIZE, reference_base, reference_transfer_model
from autograder.host import frozen_base
from autograder.host.evidence import load_model_safely


def _compiled(model, loss=None):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                  loss=loss or keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def _sequential(base):
    return _compiled(reference_transfer_model(base))


def _functional_with_dropout(base):
    import keras
    from keras import layers

    images = keras.Input((TRAIN_SIZE, TRAIN_SIZE, 3))
    x = layers.GlobalAveragePooling2D()(base(images, training=False))
    return _compiled(keras.Model(images, layers.Dense(1)(layers.Dropout(0.3)(x))))


def _saved(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    return path


def _loaded(path):
    """As the grading process gets a student's model: a .keras file loaded safely. Dropout layers draw their
    seeds when they are built, so both runs load with the same global seed."""
    import keras

    keras.utils.set_random_seed(1)
    return load_model_safely(path)


def _run(ctx, model):
    train, test = ctx.two_class_images(64, 48, TRAIN_SIZE)
    return ctx.train_and_evaluate(model, train, test, epochs=2, batch_size=16, max_params=20_000_000,
                                  inputs=model_inputs)


@pytest.mark.parametrize("build", [_sequential, _functional_with_dropout], ids=["sequential", "functional"])
def test_a_frozen_base_runs_once_and_the_training_run_is_the_whole_models(build, grading_context, tmp_path,
                                                                           monkeypatch):
    path = _saved(build(reference_base(TRAIN_SIZE, trainable=False)), tmp_path)
    splits, real_split = [], frozen_base.split
    monkeypatch.setattr(frozen_base, "split",
                        lambda model, images: splits.append(real_split(model, images)) or splits[-1])
    on_features = _run(grading_context, _loaded(path))
    assert len(splits) == 1 and splits[0] is not None, "the frozen base was not split off"
    monkeypatch.setattr(frozen_base, "split", lambda model, images: None)
    whole = _run(grading_context, _loaded(path))
    assert on_features.accuracy == pytest.approx(whole.accuracy, abs=1e-9)
    assert on_features.history.keys() == whole.history.keys()
    for name, values in whole.history.items():
        np.testing.assert_allclose(on_features.history[name], values, rtol=1e-4, atol=1e-5, err_msg=name)


def _base_then(*inner, trainable=False):
    """A small convolutional base made of ``inner`` layers, frozen unless told otherwise."""
    import keras
    from keras import layers

    base = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3), *inner, layers.MaxPooling2D()],
                            name="base")
    base.trainable = trainable
    return base


def _frozen(base):
    base.trainable = False
    return base


def _on(base, *, extra_reader=False, outer_trainable=True):
    import keras
    from keras import layers

    images = keras.Input((8, 8, 3))
    x = layers.GlobalAveragePooling2D()(base(images))
    if extra_reader:  # the raw images also reach the head, past the base
        x = layers.Concatenate()([x, layers.GlobalAveragePooling2D()(images)])
    model = keras.Model(images, layers.Dense(1)(x))
    model.trainable = outer_trainable
    return _compiled(model)


def _not_split_cases():
    import keras
    from keras import layers

    return {
        "a base that trains": _on(_base_then(trainable=True)),
        "a base with Dropout": _on(_base_then(layers.Dropout(0.5))),
        "a base with BatchNormalization": _on(_base_then(layers.BatchNormalization())),
        "a base with random augmentation": _on(_base_then(layers.RandomFlip())),
        "a regularized base": _on(_frozen(keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(
            4, 3, kernel_regularizer="l2"), layers.MaxPooling2D()], name="base"))),
        "raw images read past the base": _on(_base_then(), extra_reader=True),
        "a model frozen whole": _on(_base_then(), outer_trainable=False),
        "a base that is not first": _compiled(keras.Sequential([keras.Input((8, 8, 3)), layers.Rescaling(0.5),
                                                                _base_then(), layers.Flatten(), layers.Dense(1)])),
        "a base and nothing after it": _compiled(keras.Sequential([_base_then()])),
        "a model trained before it was saved": _stepped(_on(_base_then())),
    }


def _stepped(model):
    """The model after one training step: its optimizer has state that a new one from its settings lacks."""
    model.fit(np.zeros((4, 8, 8, 3), np.float32), np.zeros((4, 1), np.float32), epochs=1, verbose=0)
    return model


def test_only_a_head_on_a_frozen_fixed_base_is_split(grading_context, tmp_path):
    """Any of these would train differently on precomputed features, so they are trained whole."""
    assert frozen_base.split(_on(_base_then()), images=100) is not None  # so that the refusals below mean something
    assert frozen_base.split(_on(_base_then()), images=10 ** 8) is None, "features too many to hold at once"
    for name, model in _not_split_cases().items():
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        loaded = load_model_safely(_saved(model, folder))
        assert frozen_base.split(loaded, images=100) is None, name
