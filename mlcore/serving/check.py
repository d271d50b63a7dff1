"""Check a bundle end to end in a process of its own: ``python -m mlcore.serving.check BUNDLE``.

Loading a Keras bundle imports TensorFlow (hundreds of MB); a web process that validates an uploaded
bundle runs this module as a subprocess, with a timeout, so none of that stays in it.  Prints one JSON
line, ``{"ok": true}`` or ``{"ok": false, "error": "..."}``, and exits 0 either way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mlcore.errors import BundleError, MlcoreError
from mlcore.labels import EMOTIONS


def smoke_test(bundle_path: Path) -> None:
    """Load the model and predict on a generated 3 s voiced clip; raise ``BundleError`` on nonsense."""
    from mlcore.serving.predictor import Predictor

    sr = 22050
    t = np.arange(3 * sr) / sr
    phase = 2 * np.pi * np.cumsum(150 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))) / sr
    clip = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    clip = (0.3 * clip / np.max(np.abs(clip))).astype(np.float32)
    try:
        prediction = Predictor(bundle_path).predict(clip)
    except MlcoreError:
        raise
    except Exception as e:
        raise BundleError(f"The model could not be loaded or run: {type(e).__name__}: {e}") from e
    probs = prediction.probabilities
    values = np.array([probs.get(e, np.nan) for e in EMOTIONS], dtype=np.float64)
    if set(probs) != set(EMOTIONS) or not np.all(np.isfinite(values)) or abs(values.sum() - 1) > 1e-3:
        raise BundleError("The model's output on a test clip is not a probability for each of the eight emotions.")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mlcore.serving.check BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        smoke_test(Path(args[0]))
    except MlcoreError as e:
        print(json.dumps({"ok": False, "error": str(e)}))
    else:
        print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
