"""A NumPy forward pass for small Keras models, so serving a stats-MLP needs no TensorFlow.

It reads the Keras 3 ``.keras`` zip directly: ``config.json`` for the layer list and settings,
``model.weights.h5`` (through h5py) for the weights.  Nothing is unpickled and no Keras code runs.
Only a linear chain of Dense, BatchNormalization, Activation, Dropout, GaussianNoise, Flatten (on
rank-2 input) and InputLayer is understood; for anything else ``load_numpy_model`` returns ``None``
and the caller runs the model with Keras instead.
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
    """A loaded chain of NumPy steps.  ``predict`` maps (batch, input_dim) -> (batch, output_dim)."""

    input_dim: int
    output_dim: int
    steps: tuple[Step, ...]
    layer_types: tuple[str, ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forward pass in float32, as Keras computes it.  Shape (batch, input_dim) -> (batch, output_dim)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
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
    input_dim = _input_dim(layers)
    if input_dim is None:
        return None
    dim = input_dim
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
            affine = _dense_step(cfg, weights, dim)
            activation = _activation(cfg.get("activation", "linear"))
            if affine is None or activation is None:
                return None
            steps += [affine] if activation is _linear else [affine, activation]
            dim = int(cfg["units"])
        elif kind == "BatchNormalization":
            step = _batchnorm_step(cfg, weights, dim)
            if step is None:
                return None
            steps.append(step)
        elif kind == "Activation":
            activation = _activation(cfg.get("activation"))
            if activation is None:
                return None
            steps.append(activation)
        elif kind not in _IDENTITY_LAYERS and kind != "Flatten":
            # Flatten is the identity on (batch, features), the only rank this runtime accepts.
            return None
        types.append(kind)
    if not steps:
        return None
    return NumpyModel(input_dim=input_dim, output_dim=dim, steps=tuple(steps), layer_types=tuple(types))


def _input_dim(layers: list[dict[str, Any]]) -> int | None:
    first = layers[0]
    if first.get("class_name") == "InputLayer":
        shape = first.get("config", {}).get("batch_shape") or first.get("config", {}).get("batch_input_shape")
        return int(shape[1]) if shape and len(shape) == 2 and shape[1] is not None else None
    return _build_input_dim(first)


def _build_input_dim(layer: dict[str, Any]) -> int | None:
    shape = (layer.get("build_config") or {}).get("input_shape")
    if shape and len(shape) == 2 and shape[1] is not None:
        return int(shape[1])
    return None


def _vars(h5: Any, group: str) -> list[np.ndarray]:
    if group not in h5 or "vars" not in h5[group]:
        return []
    g = h5[group]["vars"]
    return [np.asarray(g[str(i)], dtype=np.float32) for i in range(len(g))]


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


def _batchnorm_step(cfg: dict[str, Any], weights: list[np.ndarray], dim: int) -> Step | None:
    axis = cfg.get("axis", -1)
    if isinstance(axis, list):
        axis = axis[0] if len(axis) == 1 else None
    if axis not in (-1, 1) or cfg.get("renorm"):
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
