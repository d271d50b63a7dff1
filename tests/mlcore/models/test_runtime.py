"""The NumPy runtime must reproduce Keras' own output, and refuse what it cannot run; the ONNX graph
written from it (what serves, ``mlcore.models.head_onnx``) must reproduce the NumPy runtime on every
layer kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlcore.errors import BundleError
from mlcore.models.head_onnx import OrtHead
from mlcore.models.runtime import load_numpy_model

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


def _assert_onnx_matches(numpy_model, x: np.ndarray) -> None:
    got = OrtHead(numpy_model).predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, numpy_model.predict(x), atol=1e-5)


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
    _assert_onnx_matches(numpy_model, x_in)


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
    _assert_onnx_matches(numpy_model, x_in)


def test_strided_conv1d_model_is_left_to_keras(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((2376, 1)),
            keras.layers.Conv1D(4, 5, strides=2),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(8, activation="softmax"),
        ]
    )
    model.save(tmp_path / "c.keras")

    assert load_numpy_model(tmp_path / "c.keras") is None


def test_dilated_conv1d_model_is_left_to_keras(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((50, 3)),
            keras.layers.Conv1D(4, 3, dilation_rate=2, padding="same"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(8, activation="softmax"),
        ]
    )
    model.save(tmp_path / "d.keras")

    assert load_numpy_model(tmp_path / "d.keras") is None


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


def test_logmel_tcn_matches_keras_output_on_frames_given_whole_or_flattened(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    from mlcore.models.architectures import build

    keras.utils.set_random_seed(3)
    model = build("logmel-tcn", input_shape=(173, 64))
    _randomise_batchnorm(model, rng)
    model.save(tmp_path / "tcn.keras")
    x_in = rng.standard_normal((6, 173, 64)).astype(np.float32)

    numpy_model = load_numpy_model(tmp_path / "tcn.keras")

    assert numpy_model is not None
    assert (numpy_model.input_shape, numpy_model.input_dim, numpy_model.output_dim) == ((173, 64), 173 * 64, 8)
    assert numpy_model.layer_types.count("Conv1D") == 4 and "GlobalAveragePooling1D" in numpy_model.layer_types
    expected = _keras_output(model, x_in)
    got = numpy_model.predict(x_in)
    assert got.dtype == np.float32 and got.shape == (6, 8)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # The serving path hands over rows flattened to (batch, frames * bands).
    np.testing.assert_allclose(numpy_model.predict(x_in.reshape(6, -1)), expected, atol=1e-4)
    _assert_onnx_matches(numpy_model, x_in)
    _assert_onnx_matches(numpy_model, x_in.reshape(6, -1))


def test_valid_conv_same_pooling_and_flatten_match_keras_on_odd_lengths(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.Input((37, 5)),
            keras.layers.Conv1D(7, 4, activation="relu", use_bias=False),  # valid: 34 frames
            keras.layers.MaxPooling1D(3, strides=2, padding="same"),  # 17 frames, uneven padding
            keras.layers.Conv1D(6, 4, padding="same", activation="tanh"),  # even kernel: pads 1 before, 2 after
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling1D(2),  # valid: 8 frames, the odd last frame dropped
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="softmax"),
        ]
    )
    _randomise_batchnorm(model, rng)
    model.save(tmp_path / "odd.keras")
    x_in = rng.standard_normal((3, 37, 5)).astype(np.float32)

    numpy_model = load_numpy_model(tmp_path / "odd.keras")

    assert numpy_model is not None
    np.testing.assert_allclose(numpy_model.predict(x_in), _keras_output(model, x_in), atol=1e-5)
    _assert_onnx_matches(numpy_model, x_in)
