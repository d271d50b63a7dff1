"""Keras models given random weights, so tests compare layers that do not sit at their initial values."""

from __future__ import annotations

from typing import Any

import numpy as np


def randomise_weights(model: Any, seed: int, scale: float = 0.3) -> Any:
    """Every weight of ``model`` drawn from N(0, scale) (BatchNorm's moving variance kept positive)."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            new = [rng.normal(0.0, scale, w.shape).astype("float32") for w in weights]
            if isinstance(layer, keras.layers.BatchNormalization):
                new[-1] = np.abs(new[-1]) + 0.1  # moving variance is positive
            layer.set_weights(new)
    return model
