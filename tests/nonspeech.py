"""Twenty-five kinds of sound that are not a voice, made here (no files): what the voice detector must
refuse.  Tones, chords, sweeps, coloured noise, mains hum, clicks, music with drums, rumble and the old
synthetic "voice" (a harmonic buzz with syllable-rate tremolo).  Each maker: (sr, seconds, rng) -> float32."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import butter, sosfilt

Maker = Callable[[int, float, np.random.Generator], np.ndarray]


def _t(sr: int, seconds: float) -> np.ndarray:
    return np.arange(int(sr * seconds)) / sr


def _norm(y: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return (peak * y / max(float(np.max(np.abs(y))), 1e-9)).astype(np.float32)


def _tone(f: float) -> Maker:
    return lambda sr, s, rng: _norm(np.sin(2 * np.pi * f * _t(sr, s)))


def _chord(*fs: float) -> Maker:
    return lambda sr, s, rng: _norm(sum(np.sin(2 * np.pi * f * _t(sr, s)) for f in fs))


def _sweep(f0: float, f1: float, *, log: bool) -> Maker:
    def make(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
        t = _t(sr, s)
        f = f0 * (f1 / f0) ** (t / s) if log else f0 + (f1 - f0) * t / s
        return _norm(np.sin(2 * np.pi * np.cumsum(f) / sr))

    return make


def _coloured(exponent: float) -> Maker:
    def make(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
        n = int(sr * s)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 1.0)
        return _norm(np.fft.irfft(spectrum / f ** (exponent / 2), n))

    return make


def _hum(mains: float) -> Maker:
    return lambda sr, s, rng: _norm(sum(np.sin(2 * np.pi * mains * k * _t(sr, s)) / k for k in range(1, 6)))


def _clicks(rate: float) -> Maker:
    def make(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
        y = np.zeros(int(sr * s))
        y[:: int(sr / rate)] = 1.0
        return _norm(y)

    return make


def _notes(sr: int, s: float, rng: np.random.Generator, *, drums: bool, decay: float = 4.0) -> np.ndarray:
    t = _t(sr, s)
    y = np.zeros_like(t)
    step = int(0.25 * sr)
    for start in range(0, t.size, step):
        f = 220 * 2 ** (rng.integers(0, 12) / 12)
        n = min(step, t.size - start)
        tt = t[:n]
        y[start : start + n] += sum(np.sin(2 * np.pi * f * k * tt) / k**1.5 for k in range(1, 6)) * np.exp(-decay * tt)
    if drums:
        for start in range(0, t.size, 2 * step):
            n = min(int(0.15 * sr), t.size - start)
            tt = t[:n]
            kick = np.sin(2 * np.pi * (60 + 80 * np.exp(-30 * tt)) * tt) * np.exp(-20 * tt)
            y[start : start + n] += 1.5 * kick
        for start in range(step, t.size, 2 * step):
            n = min(int(0.1 * sr), t.size - start)
            y[start : start + n] += 0.6 * rng.standard_normal(n) * np.exp(-40 * t[:n])
    return _norm(y)


def _rumble(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    return _norm(sosfilt(butter(4, 80, fs=sr, output="sos"), rng.standard_normal(int(sr * s))))


def _buzz(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    t = _t(sr, s)
    phase = 2 * np.pi * np.cumsum(160 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))) / sr
    return _norm(sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2))


def _siren(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    t = _t(sr, s)
    return _norm(np.sin(2 * np.pi * np.cumsum(700 + 300 * np.sin(2 * np.pi * 0.5 * t)) / sr))


def _bells(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    t = _t(sr, s)
    y = np.zeros_like(t)
    for start in range(0, t.size, sr):
        tt = t[: t.size - start]
        y[start:] += sum(np.sin(2 * np.pi * 523 * r * tt) * np.exp(-3 * r * tt) for r in (1.0, 2.76, 5.4, 8.93))
    return _norm(y)


def _tremolo(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    t = _t(sr, s)
    return _norm(np.sin(2 * np.pi * 330 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)))


def _square(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    return _norm(np.sign(np.sin(2 * np.pi * 220 * _t(sr, s))), 0.3)


def _crackle(sr: int, s: float, rng: np.random.Generator) -> np.ndarray:
    y = np.zeros(int(sr * s))
    hits = rng.integers(0, y.size, int(60 * s))
    y[hits] = rng.uniform(-1, 1, hits.size)
    return _norm(y + 0.02 * rng.standard_normal(y.size))


NON_SPEECH: dict[str, Maker] = {
    "tone 440 Hz": _tone(440),
    "tone 100 Hz": _tone(100),
    "tone 1 kHz": _tone(1000),
    "tone 3 kHz": _tone(3000),
    "chord C major": _chord(261.6, 329.6, 392.0),
    "chord A minor": _chord(220.0, 261.6, 329.6),
    "chord dominant 7th": _chord(196.0, 246.9, 293.7, 349.2),
    "linear sweep 100 Hz-4 kHz": _sweep(100, 4000, log=False),
    "log sweep 50 Hz-8 kHz": _sweep(50, 8000, log=True),
    "white noise": _coloured(0.0),
    "pink noise": _coloured(1.0),
    "brown noise": _coloured(2.0),
    "mains hum 50 Hz": _hum(50),
    "mains hum 60 Hz": _hum(60),
    "click train 10/s": _clicks(10),
    "notes with drums": lambda sr, s, rng: _notes(sr, s, rng, drums=True),
    "notes (piano-like)": lambda sr, s, rng: _notes(sr, s, rng, drums=False),
    "low rumble": _rumble,
    "harmonic buzz with tremolo": _buzz,
    "siren": _siren,
    "bells": _bells,
    "tremolo tone": _tremolo,
    "square wave 220 Hz": _square,
    "crackle": _crackle,
    "sustained organ notes": lambda sr, s, rng: _notes(sr, s, rng, drums=False, decay=0.0),
}
