"""Small but real model bundles built in a test (Dense softmax over any registered extractor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcore.labels import EMOTIONS


def build_bundle(
    out: Path,
    *,
    name: str,
    seed: int,
    features: str = "logmel-stats",
    feature_params: dict | None = None,
    config: dict | None = None,
) -> Path:
    """A Dense softmax over ``features`` (any registered extractor); ``config`` adds to its config.json."""
    from mlcore.serving.smoke import build_test_bundle

    metrics = {"accuracy": 0.5, "confusion_matrix": np.eye(len(EMOTIONS), dtype=int).tolist()}
    return build_test_bundle(
        out, name=name, seed=seed, features=features, feature_params=feature_params, config=config, metrics=metrics
    )
