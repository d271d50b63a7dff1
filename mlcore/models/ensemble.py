"""Several heads trained with different seeds, served as one model.

Heads of one MLP architecture (``mlcore.models.architectures._mlp``: Dense -> BatchNorm -> GELU ->
Dropout blocks, then a softmax Dense) merge exactly into one head whose hidden layer is theirs side by
side and whose last Dense averages their logits: the merged model's output is the normalised geometric
mean of the heads' probabilities (``geometric_mean``), computed by one linear chain that the NumPy
runtime (``mlcore.models.runtime``) serves as it serves one head.  Dropout and noise layers do nothing
at inference, so they are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def geometric_mean(probs: Sequence[np.ndarray]) -> np.ndarray:
    """The normalised geometric mean of several heads' probabilities (n, classes) -> (n, classes): what a
    merged head outputs (the softmax of the heads' mean logits)."""
    logp = np.mean([np.log(np.clip(p, 1e-30, None)) for p in probs], axis=0)
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def merge_heads(models: Sequence[Any]) -> Any:
    """One Keras model equal to the geometric mean of ``models`` (same MLP architecture, same input).

    Raises ``ValueError`` for a model that is not a chain of Dense/BatchNormalization/Activation and
    identity (Dropout, noise) layers ending in a softmax Dense.
    """
    import keras
    from keras import layers as L

    if len(models) == 1:
        return models[0]
    chains = [[layer for layer in m.layers if not isinstance(layer, keras.layers.InputLayer)] for m in models]
    kinds = [[type(layer).__name__ for layer in chain] for chain in chains]
    if any(k != kinds[0] for k in kinds) or kinds[0][-1] != "Dense":
        raise ValueError("only heads of one MLP architecture merge")
    n = len(models)
    inputs = keras.Input(shape=models[0].input_shape[1:])
    x = inputs
    last = len(chains[0]) - 1
    staged: list[tuple[Any, list[np.ndarray]]] = []
    for i, layer in enumerate(chains[0]):
        kind = kinds[0][i]
        weights = [chain[i].get_weights() for chain in chains]
        cfg = layer.get_config()
        if kind == "Dense" and i == last:
            kernel = np.concatenate([w[0] for w in weights], axis=0) / n
            bias = np.mean([w[1] for w in weights], axis=0)
            new = L.Dense(cfg["units"], activation=cfg["activation"])
            staged.append((new, [kernel, bias]))
        elif kind == "Dense":
            # The first Dense reads the input (every head's copy side by side); a later one would read
            # the previous block's side-by-side units, each head its own block (block-diagonal).
            first = not any(s[0].__class__.__name__ == "Dense" for s in staged)
            kernel = (
                np.concatenate([w[0] for w in weights], axis=1) if first else _block_diagonal([w[0] for w in weights])
            )
            new = L.Dense(kernel.shape[1], activation=cfg["activation"])
            staged.append((new, [kernel, np.concatenate([w[1] for w in weights])]))
        elif kind == "BatchNormalization":
            new = L.BatchNormalization(epsilon=cfg["epsilon"])
            staged.append((new, [np.concatenate(parts) for parts in zip(*weights, strict=True)]))
        elif kind == "Activation":
            new = L.Activation(cfg["activation"])
            staged.append((new, []))
        elif not weights[0]:
            new = layer.__class__.from_config({k: v for k, v in cfg.items() if k != "name"})
            staged.append((new, []))
        else:
            raise ValueError(f"cannot merge a {kind} layer")
        x = new(x)
    merged = keras.Model(inputs, x, name=f"{models[0].name}_x{n}")
    for new, w in staged:
        if w:
            new.set_weights(w)
    return merged


def _block_diagonal(kernels: Sequence[np.ndarray]) -> np.ndarray:
    rows = sum(k.shape[0] for k in kernels)
    cols = sum(k.shape[1] for k in kernels)
    out = np.zeros((rows, cols), dtype=kernels[0].dtype)
    r = c = 0
    for k in kernels:
        out[r : r + k.shape[0], c : c + k.shape[1]] = k
        r, c = r + k.shape[0], c + k.shape[1]
    return out
