"""A NumPy forward pass for small Keras models, so serving a stats-MLP or a small temporal CNN needs
no TensorFlow.

It reads the Keras 3 ``.keras`` zip directly: ``config.json`` for the layer list and settings,
``model.weights.h5`` (through h5py) for the weights.  Nothing is unpickled and no Keras code runs.
Only a linear chain of Dense, BatchNormalization, Activation, Dropout, GaussianNoise, Flatten,
Conv1D (stride 1, dilation 1, padding same/valid, channels last), MaxPooling1D,
GlobalAveragePooling1D and InputLayer is understood; for anything else ``load_numpy_model`` returns
``None`` and the caller runs the model with Keras instead.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.errors import BundleError

Step = Callable[[np.ndarray], np.ndarray]

# Layers that do nothing at inference time (training-only noise/regularisation).
_IDENTITY_LAYERS = frozenset({"Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D"})


@dataclass(frozen=True)
class NumpyModel:
    """A loaded chain of NumPy steps.  ``predict`` maps (batch, input_dim) -> (batch, output_dim).

    ``input_shape`` is the model's input without the batch axis, e.g. (frames, bands) for a Conv1D
    model, whose rows may also be given flattened to ``input_dim = frames * bands`` values.
    """

    input_dim: int
    output_dim: int
    steps: tuple[Step, ...]
    layer_types: tuple[str, ...]
    input_shape: tuple[int, ...] = ()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forward pass in float32, as Keras computes it.  Shape (batch, input_dim) or (batch, *input_shape)
        -> (batch, output_dim)."""
        x = np.asarray(x, dtype=np.float32)
        shape = self.input_shape or (self.input_dim,)
        if x.ndim == 2 and x.shape[1] == self.input_dim:
            x = x.reshape((len(x), *shape))
        elif x.shape[1:] != shape:
            raise ValueError(f"expected input of shape (batch, {self.input_dim}), got {x.shape}")
        for step in self.steps:
            x = step(x)
        return np.ascontiguousarray(x, dtype=np.float32)


def load_numpy_model(path: str | Path) -> NumpyModel | None:
    """Read a ``.keras`` file into a ``NumpyModel``, or ``None`` if it holds a layer we cannot run.

    Raises ``BundleError`` when the file is not a readable Keras archive at all.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            weights_bytes = zf.read("model.weights.h5")
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{Path(path).name} is not a readable Keras model archive ({e}).") from None

    layers = _linear_chain(config)
    if layers is None:
        return None
    import h5py

    with h5py.File(io.BytesIO(weights_bytes), "r") as h5:
        return _build(layers, h5)


def _linear_chain(config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The model's layers in call order if it is a single-input single-output chain, else ``None``."""
    if config.get("class_name") not in ("Sequential", "Functional", "Model"):
        return None
    inner = config.get("config", {})
    layers = inner.get("layers")
    if not isinstance(layers, list) or not layers:
        return None
    if config["class_name"] == "Sequential":
        return layers
    # Functional: every layer must take exactly the previous layer's output.
    names = [layer.get("name") or layer.get("config", {}).get("name") for layer in layers]
    for prev, layer in zip(names, layers[1:], strict=False):
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            return None
        args = nodes[0].get("args", [])
        if len(args) != 1 or not isinstance(args[0], dict):
            return None
        history = args[0].get("config", {}).get("keras_history")
        if not history or history[0] != prev:
            return None
    outputs = inner.get("output_layers")
    if outputs is not None and _first_name(outputs) != names[-1]:
        return None
    return layers


def _first_name(spec: Any) -> Any:
    # output_layers is ["name", 0, 0] for one output, [["name", 0, 0], ...] for several.
    if isinstance(spec, list) and spec and isinstance(spec[0], list):
        return spec[0][0] if len(spec) == 1 else None
    return spec[0] if isinstance(spec, list) and spec else None


def _snake(name: str) -> str:
    # Keras stores each layer's weights under its class name in snake case, numbered by repeats.
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _build(layers: list[dict[str, Any]], h5: Any) -> NumpyModel | None:
    input_shape = _input_shape(layers)
    if input_shape is None:
        return None
    shape = input_shape  # the running output shape, without the batch axis
    steps: list[Step] = []
    types: list[str] = []
    used: dict[str, int] = {}
    for layer in layers:
        kind = str(layer.get("class_name"))
        cfg = layer.get("config", {})
        if kind == "InputLayer":
            continue
        key = _snake(kind)
        used[key] = used.get(key, -1) + 1
        weights = _vars(h5, f"layers/{key}" if used[key] == 0 else f"layers/{key}_{used[key]}")
        if kind == "Dense":
            affine = _dense_step(cfg, weights, shape[-1])
            activation = _activation(cfg.get("activation", "linear"))
            if affine is None or activation is None:
                return None
            steps += [affine] if activation is _linear else [affine, activation]
            shape = (*shape[:-1], int(cfg["units"]))
        elif kind == "BatchNormalization":
            step = _batchnorm_step(cfg, weights, shape[-1], rank=len(shape) + 1)
            if step is None:
                return None
            steps.append(step)
        elif kind == "Activation":
            activation = _activation(cfg.get("activation"))
            if activation is None:
                return None
            steps.append(activation)
        elif kind == "Flatten":
            if len(shape) > 1:
                steps.append(_flatten)
                shape = (int(np.prod(shape)),)
        elif kind in ("Conv1D", "MaxPooling1D", "GlobalAveragePooling1D"):
            if len(shape) != 2:
                return None
            built = _sequence_step(kind, cfg, weights, shape)
            if built is None:
                return None
            new_steps, shape = built
            steps += new_steps
        elif kind not in _IDENTITY_LAYERS:
            return None
        types.append(kind)
    if not steps or len(shape) != 1:
        return None
    return NumpyModel(
        input_dim=int(np.prod(input_shape)),
        output_dim=shape[0],
        steps=tuple(steps),
        layer_types=tuple(types),
        input_shape=input_shape,
    )


def _input_shape(layers: list[dict[str, Any]]) -> tuple[int, ...] | None:
    """The input shape without the batch axis, (features,) or (frames, channels), or ``None``."""
    first = layers[0]
    if first.get("class_name") == "InputLayer":
        shape = first.get("config", {}).get("batch_shape") or first.get("config", {}).get("batch_input_shape")
    else:
        shape = (first.get("build_config") or {}).get("input_shape")
    if not shape or len(shape) not in (2, 3) or any(d is None for d in shape[1:]):
        return None
    return tuple(int(d) for d in shape[1:])


def _vars(h5: Any, group: str) -> list[np.ndarray]:
    if group not in h5 or "vars" not in h5[group]:
        return []
    g = h5[group]["vars"]
    return [np.asarray(g[str(i)], dtype=np.float32) for i in range(len(g))]


def _flatten(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _dense_step(cfg: dict[str, Any], weights: list[np.ndarray], dim: int) -> Step | None:
    if cfg.get("lora_rank") or cfg.get("quantization_config"):
        return None
    units = int(cfg["units"])
    use_bias = bool(cfg.get("use_bias", True))
    if len(weights) != (2 if use_bias else 1) or weights[0].shape != (dim, units):
        return None
    bias = weights[1] if use_bias else np.zeros(units, dtype=np.float32)
    if bias.shape != (units,):
        return None
    return partial(_affine, kernel=weights[0], bias=bias)


def _affine(x: np.ndarray, *, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return x @ kernel + bias


def _batchnorm_step(cfg: dict[str, Any], weights: list[np.ndarray], dim: int, *, rank: int = 2) -> Step | None:
    # ``rank`` counts the batch axis; only normalising the last (channel) axis is supported.
    axis = cfg.get("axis", -1)
    if isinstance(axis, list):
        axis = axis[0] if len(axis) == 1 else None
    if axis not in (-1, rank - 1) or cfg.get("renorm"):
        return None
    scale, center = bool(cfg.get("scale", True)), bool(cfg.get("center", True))
    if len(weights) != scale + center + 2 or any(w.shape != (dim,) for w in weights):
        return None
    it = iter(weights)  # Keras order: gamma (if scale), beta (if center), moving_mean, moving_variance
    gamma = next(it) if scale else np.ones(dim, dtype=np.float32)
    beta = next(it) if center else np.zeros(dim, dtype=np.float32)
    mean, variance = next(it), next(it)
    # Fold into one multiply-add, in the same order TensorFlow's batch_normalization uses.
    inv = (1.0 / np.sqrt(variance + np.float32(cfg.get("epsilon", 1e-3)))).astype(np.float32) * gamma
    return partial(_affine_diag, mul=inv, add=(beta - mean * inv).astype(np.float32))


def _affine_diag(x: np.ndarray, *, mul: np.ndarray, add: np.ndarray) -> np.ndarray:
    return x * mul + add


def _sequence_step(
    kind: str, cfg: dict[str, Any], weights: list[np.ndarray], shape: tuple[int, ...]
) -> tuple[list[Step], tuple[int, ...]] | None:
    """Steps for a layer on (batch, frames, channels), and its output shape without the batch axis."""
    if cfg.get("data_format", "channels_last") != "channels_last":
        return None
    frames, channels = shape
    if kind == "GlobalAveragePooling1D":
        if cfg.get("keepdims"):
            return None
        return [_mean_over_frames], (channels,)
    if kind == "MaxPooling1D":
        pool, stride = _single(cfg.get("pool_size")), _single(cfg.get("strides") or cfg.get("pool_size"))
        padding = cfg.get("padding", "valid")
        if pool is None or stride is None or padding not in ("valid", "same"):
            return None
        left, right, out = _padding(frames, kernel=pool, stride=stride, padding=padding)
        if out < 1:
            return None
        return [partial(_max_pool, pool=pool, stride=stride, left=left, right=right)], (out, channels)
    # Conv1D
    kernel_size, filters = _single(cfg.get("kernel_size")), int(cfg.get("filters", 0))
    padding, use_bias = cfg.get("padding", "valid"), bool(cfg.get("use_bias", True))
    if (
        kernel_size is None
        or _single(cfg.get("strides", 1)) != 1
        or _single(cfg.get("dilation_rate", 1)) != 1
        or int(cfg.get("groups", 1)) != 1
        or padding not in ("valid", "same")
        or cfg.get("lora_rank")
        or cfg.get("quantization_config")
        or len(weights) != (2 if use_bias else 1)
        or weights[0].shape != (kernel_size, channels, filters)
        or (use_bias and weights[1].shape != (filters,))
    ):
        return None
    activation = _activation(cfg.get("activation", "linear"))
    if activation is None:
        return None
    left, right, out = _padding(frames, kernel=kernel_size, stride=1, padding=padding)
    if out < 1:
        return None
    bias = weights[1] if use_bias else np.zeros(filters, dtype=np.float32)
    # im2col order: (tap, input channel) flattened, matching the kernel's (k, C_in, C_out) layout.
    kernel = np.ascontiguousarray(weights[0].reshape(kernel_size * channels, filters))
    conv = partial(_conv1d, kernel=kernel, bias=bias, size=kernel_size, left=left, right=right)
    return ([conv] if activation is _linear else [conv, activation]), (out, filters)


def _single(value: Any) -> int | None:
    # Keras stores 1D sizes as a one-element list (or a bare int in hand-written configs).
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    return int(value) if isinstance(value, int) and value > 0 else None


def _padding(frames: int, *, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """Frames padded before and after, and the output length, as TensorFlow computes them."""
    if padding == "valid":
        return 0, 0, (frames - kernel) // stride + 1
    out = -(-frames // stride)
    total = max((out - 1) * stride + kernel - frames, 0)
    return total // 2, total - total // 2, out


def _conv1d(x: np.ndarray, *, kernel: np.ndarray, bias: np.ndarray, size: int, left: int, right: int) -> np.ndarray:
    if left or right:
        x = np.pad(x, ((0, 0), (left, right), (0, 0)))
    batch, frames, channels = x.shape
    # (batch, out, channels, size) view -> (batch, out, size, channels) rows; one matmul for all taps.
    cols = np.lib.stride_tricks.sliding_window_view(x, size, axis=1).transpose(0, 1, 3, 2)
    cols = cols.reshape(batch, frames - size + 1, size * channels)
    return cols @ kernel + bias


def _max_pool(x: np.ndarray, *, pool: int, stride: int, left: int, right: int) -> np.ndarray:
    if left or right:
        x = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(x, pool, axis=1)[:, ::stride].max(axis=-1)


def _mean_over_frames(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1, dtype=np.float32)


def _linear(x: np.ndarray) -> np.ndarray:
    return x


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def _swish(x: np.ndarray) -> np.ndarray:
    return x * _sigmoid(x)


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ACTIVATIONS: dict[str, Step] = {
    "linear": _linear,
    "relu": _relu,
    "gelu": _gelu,
    "swish": _swish,
    "silu": _swish,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
}


def _activation(spec: Any) -> Step | None:
    """The NumPy version of a Keras activation given by name (or serialised dict), or ``None``."""
    if spec is None:
        return _linear
    if isinstance(spec, dict):
        cfg = spec.get("config") or {}
        name = cfg.get("name") if spec.get("class_name") in ("function", "Function") else None
        if spec.get("module") not in (None, "keras.activations", "builtins") or not isinstance(name, str):
            return None
        spec = name
    if not isinstance(spec, str):
        return None
    return _ACTIVATIONS.get(spec)
