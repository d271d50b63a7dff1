"""Training pictures for a bundle: loss/accuracy curves and confusion matrices (matplotlib, Agg).

Each returns the file contents, so the bundle writer (``save_bundle``/``update_bundle``) writes every
artifact and then the manifest, once.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    _pyplot().close(fig)
    return buf.getvalue()


def history_artifacts(history: dict[str, list[float]]) -> dict[str, bytes]:
    """``history.json`` and ``curves.png`` (loss/accuracy per epoch) for a bundle."""
    fig, axes = _pyplot().subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for k, v in history.items():
            if k.endswith(key):
                ax.plot(range(1, len(v) + 1), v, label=k)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    return {"history.json": (json.dumps(history, indent=1) + "\n").encode(), "curves.png": _png(fig)}


def confusion_png(cm: list[list[int]], labels: list[str], *, title: str = "") -> bytes:
    """Row-normalised confusion matrix heatmap with counts, as PNG bytes."""
    m = np.asarray(cm, dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = _pyplot().subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j, i, int(m[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black", fontsize=8
            )
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)
