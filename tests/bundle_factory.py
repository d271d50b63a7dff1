"""Small but real model bundles built in a test (Dense softmax over any registered extractor)."""

from __future__ import annotations

import io
import zipfile
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


def zip_dir(path: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """A bundle folder as the zip an admin uploads (its files at the root), plus ``extra`` members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(path).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()
