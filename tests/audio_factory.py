"""Synthetic test audio: speech (spoken by espeak-ng, made in the test), noise, silence, written in any
format soundfile supports.  The voice detector refuses tones and buzzes, as it should, so a test that
needs a voice gets a synthetic one that speaks."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SENTENCES = (
    "The quick brown fox jumps over the lazy dog by the river.",
    "I cannot believe you did that again, not after everything we said.",
    "Kids are talking by the door, and the dogs are sitting by the door.",
    "Please call me back as soon as you can, it is really important.",
)


@functools.lru_cache(maxsize=64)
def _espeak(text: str, pitch: int, sr: int) -> np.ndarray:
    """``text`` spoken by espeak-ng (Debian package; ``scripts/system-deps.sh``) at ``pitch`` (0-99), as
    mono float32 at ``sr``."""
    import soundfile as sf
    import soxr

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed: run `bash scripts/system-deps.sh` (what `make test` does).")
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run([exe, "-v", "en-us", "-p", str(pitch), "-s", "150", "-w", f.name, text], check=True)
        y, rate = sf.read(f.name, dtype="float32")
    return soxr.resample(y, rate, sr).astype(np.float32) if rate != sr else y


def spoken(rng: np.random.Generator, *, seconds: float = 2.0, sr: int = 22050, f0: float = 160.0) -> np.ndarray:
    """``seconds`` of synthetic speech (sentences chosen by ``rng``, voice pitch from ``f0``), peak 0.5,
    with faint noise (-50 dB).  Shape (int(seconds * sr),), float32."""
    n = int(seconds * sr)
    pitch = int(np.clip((f0 - 80) / 2, 0, 99))
    parts: list[np.ndarray] = []
    while sum(p.size for p in parts) < n:
        parts.append(_espeak(SENTENCES[int(rng.integers(len(SENTENCES)))], pitch, sr))
        parts.append(np.zeros(int(0.2 * sr), dtype=np.float32))
    y = np.concatenate(parts)[:n]
    y = 0.5 * y / max(float(np.max(np.abs(y))), 1e-6)
    return (y + 0.003 * rng.standard_normal(n)).astype(np.float32)


def voiced(rng: np.random.Generator, *, seconds: float = 2.0, sr: int = 22050, f0: float = 160.0) -> np.ndarray:
    """A voice for tests that need one: ``spoken``.  Shape (int(seconds * sr),), float32."""
    return spoken(rng, seconds=seconds, sr=sr, f0=f0)


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
