"""A learned weighted sum of encoder layers, as the field weighs a speech encoder's layers (SUPERB),
trained as its own layer and served as a plain Dense.

The features hold several encoder layers side by side (``whisper-stats``: 512 values per layer).
``LayerMixDense`` mixes them with softmax weights, one per layer, and projects the mix with one kernel
shared by every layer: ``W^T (sum_l a_l x_l) + b``.  That equals a Dense on the side-by-side layers whose
kernel is the shared one scaled by each layer's weight and stacked, ``[a_1 W; a_2 W; ...]``, so a trained
head folds (``fold``) into the plain Dense chain that the NumPy runtime and the ONNX graph serve: the
mix is a constraint on training (a third of the first layer's parameters for three layers), not a new
operation to serve.

Keras is imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def layer_mix_dense(units: int, n_layers: int) -> Any:
    """A Keras layer: (batch, n_layers * width) -> (batch, units), the layers mixed then projected."""
    import keras
    from keras import ops

    class LayerMixDense(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units, self.n_layers = units, n_layers

        def build(self, input_shape: tuple[int, ...]) -> None:
            if input_shape[-1] % self.n_layers:
                raise ValueError(f"{input_shape[-1]} features do not split into {self.n_layers} layers")
            self.width = input_shape[-1] // self.n_layers
            self.mix = self.add_weight(shape=(self.n_layers,), initializer="zeros", name="mix")
            self.kernel = self.add_weight(shape=(self.width, self.units), initializer="glorot_uniform", name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, x: Any) -> Any:
            layers = ops.reshape(x, (-1, self.n_layers, self.width))
            mixed = ops.einsum("blw,l->bw", layers, ops.softmax(self.mix))
            return ops.matmul(mixed, self.kernel) + self.bias

        def layer_weights(self) -> np.ndarray:
            return np.asarray(ops.softmax(self.mix), dtype=np.float64)

    return LayerMixDense(name="layer_mix_dense")


def folded_kernel(kernel: np.ndarray, layer_weights: np.ndarray) -> np.ndarray:
    """The plain Dense kernel equal to a mix: ``kernel`` (width, units) scaled by each layer's weight and
    stacked.  Shape (n_layers * width, units)."""
    return np.concatenate([w * kernel for w in layer_weights], axis=0).astype(np.float32)


def mix_layer(model: Any) -> Any | None:
    """``model``'s ``LayerMixDense``, or None for a plain chain."""
    return next((layer for layer in model.layers if type(layer).__name__ == "LayerMixDense"), None)


def fold(model: Any) -> Any:
    """A plain Keras chain (Dense in place of ``LayerMixDense``) with the same outputs as ``model``.

    Every other layer is rebuilt from its config and given its weights; the input layer is kept.
    """
    import keras

    inputs = keras.Input(shape=model.input_shape[1:])
    x = inputs
    staged: list[tuple[Any, list[np.ndarray]]] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer is mix_layer(model):
            new = keras.layers.Dense(layer.units)
            weights = [folded_kernel(np.asarray(layer.kernel.numpy()), layer.layer_weights()), layer.bias.numpy()]
        else:
            new = type(layer).from_config(layer.get_config())
            weights = layer.get_weights()
        x = new(x)
        staged.append((new, weights))
    folded = keras.Model(inputs, x, name=model.name)
    for new, weights in staged:
        new.set_weights(weights)
    return folded
