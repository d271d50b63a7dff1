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


def flac_without_length(y: np.ndarray, sr: int) -> bytes:
    """A valid FLAC whose STREAMINFO says "total samples: unknown" (0), as ffmpeg writes to a pipe."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="FLAC")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    at = 4 + 4 + 10  # past the block header and the block/frame sizes: rate, channels, bits, total samples
    packed = int.from_bytes(data[at : at + 8], "big") & ~((1 << 36) - 1)
    data[at : at + 8] = packed.to_bytes(8, "big")
    data[at + 8 : at + 24] = bytes(16)  # the MD5 of unknown audio is unknown too
    return bytes(data)
