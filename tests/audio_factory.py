"""Synthetic test audio: speech-like tones, noise, silence, written in any format soundfile supports."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def voiced(rng: np.random.Generator, *, seconds: float = 2.0, sr: int = 22050, f0: float = 160.0) -> np.ndarray:
    """A speech-like harmonic tone with vibrato and syllable-rate amplitude modulation.  Shape (n,)."""
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    y *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    y += 0.01 * rng.standard_normal(t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


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
