"""The NumPy runtime must reproduce Keras' own output, and refuse what it cannot run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlcore.errors import BundleError
from mlcore.runtime import load_numpy_model

keras = pytest.importorskip("keras")


def _randomise_batchnorm(model, rng: np.random.Generator) -> None:
    # Fresh BatchNormalization layers are the identity; give them real statistics to test the maths.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.normal(0.5, 1.0, w.shape).astype("float32") for w in layer.get_weights()])
            weights = layer.get_weights()
            weights[-1] = np.abs(weights[-1]) + 0.1  # moving variance is positive
            layer.set_weights(weights)


def _keras_output(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False))


def test_functional_dense_stack_matches_keras_output(tmp_path: Path, rng: np.random.Generator) -> None:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((279,))
    x = inputs
    for units, activation in ((64, "gelu"), (32, "swish"), (16, "relu"), (16, "tanh")):
        x = keras.layers.Dense(units)(x)
        x = keras.layers.BatchNormalization(epsilon=1e-3)(x)
        x = keras.layers.Activation(activation)(x)
        x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.GaussianNoise(0.1)(x)
    outputs = keras.layers.Dense(8, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    _randomise_batchnorm(model, rng)
    model.save(tmp_path / "m.keras")

    numpy_model = load_numpy_model(tmp_path / "m.keras")
    x_in = rng.standard_normal((33, 279)).astype(np.float32)

    assert numpy_model is not None
    assert (numpy_model.input_dim, numpy_model.output_dim) == (279, 8)
    got = numpy_model.predict(x_in)
    assert got.dtype == np.float32 and got.shape == (33, 8)
    np.testing.assert_allclose(got, _keras_output(model, x_in), atol=1e-5)


def test_sequential_without_bias_or_centering_matches_keras_output(tmp_path: Path, rng: np.random.Generator) -> None:
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(12, activation="silu", use_bias=False),
            keras.layers.BatchNormalization(center=False, scale=False, epsilon=1e-5),
            keras.layers.Dense(10, activation="tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(8),
            keras.layers.Activation("softmax"),
        ]
    )
    _randomise_batchnorm(model, rng)
    model.save(tmp_path / "s.keras")
    x_in = rng.standard_normal((5, 20)).astype(np.float32)

    numpy_model = load_numpy_model(tmp_path / "s.keras")

    assert numpy_model is not None
    np.testing.assert_allclose(numpy_model.predict(x_in), _keras_output(model, x_in), atol=1e-5)


def test_conv1d_model_is_left_to_keras(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((2376, 1)),
            keras.layers.Conv1D(4, 5),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(8, activation="softmax"),
        ]
    )
    model.save(tmp_path / "c.keras")

    assert load_numpy_model(tmp_path / "c.keras") is None


def test_model_with_a_skip_connection_is_left_to_keras(tmp_path: Path) -> None:
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    outputs = keras.layers.Dense(8, activation="softmax")(keras.layers.Add()([inputs, hidden]))
    keras.Model(inputs, outputs).save(tmp_path / "skip.keras")

    assert load_numpy_model(tmp_path / "skip.keras") is None


def test_unsupported_activation_is_left_to_keras(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="elu")])
    model.save(tmp_path / "elu.keras")

    assert load_numpy_model(tmp_path / "elu.keras") is None


def test_a_file_that_is_not_a_keras_archive_raises_bundle_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip at all")

    with pytest.raises(BundleError, match="model.keras"):
        load_numpy_model(bad)


def test_wrong_input_width_is_refused(tmp_path: Path) -> None:
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)]).save(tmp_path / "d.keras")
    numpy_model = load_numpy_model(tmp_path / "d.keras")

    assert numpy_model is not None
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        numpy_model.predict(np.zeros((2, 5), dtype=np.float32))
