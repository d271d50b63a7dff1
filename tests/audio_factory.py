"""Synthetic test audio: speech-like tones, noise, silence, written in any format soundfile supports."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcore.serving.smoke import voiced_clip


def voiced(rng: np.random.Generator, *, seconds: float = 2.0, sr: int = 22050, f0: float = 160.0) -> np.ndarray:
    """mlcore's speech-like test signal (``voiced_clip``) with faint noise from ``rng``.  Shape (n,)."""
    return voiced_clip(sr=sr, seconds=seconds, f0=f0, rng=rng)


def write(path: Path, y: np.ndarray, *, sr: int = 22050, subtype: str | None = None, fmt: str | None = None) -> Path:
    """Write ``y`` (shape (n,) or (n, channels)) with soundfile; returns ``path``."""
    import soundfile as sf

    sf.write(str(path), y, sr, subtype=subtype, format=fmt)
    return Path(path)
