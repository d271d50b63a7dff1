"""NumPy DSP helpers: Slaney mel filters, framing, power spectra, deltas.  Shared by the extractors
(``mlcore.features``) and Whisper's log-mel front end (``mlcore.models.whisper``), so it sits below both.

Written in NumPy (and scipy.fft) so that serving never imports librosa (about 1 s and 200 MB of
numba/llvmlite).  Arrays in, arrays out; shapes in each docstring.
"""

from __future__ import annotations

import functools

import numpy as np


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad at the end to exactly ``n`` samples/frames along axis 0."""
    if y.shape[0] >= n:
        return y[:n]
    pad = [(0, n - y.shape[0])] + [(0, 0)] * (y.ndim - 1)
    return np.pad(y, pad)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    mels = f / (200.0 / 3)
    log_region = f >= 1000.0
    mels[log_region] = 15.0 + np.log(f[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = m * (200.0 / 3)
    log_region = m >= 15.0
    f[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log_region] - 15.0))
    return f


@functools.lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters, equal to ``librosa.filters.mel(...).T``.

    Written in NumPy so that serving never imports librosa (≈1 s and ≈200 MB of numba/llvmlite).
    Shape (n_fft // 2 + 1, n_mels).
    """
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.T.astype(np.float32)


@functools.lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def frame_signal(y: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """Centre-padded (reflect) frames of ``y``.  Shape (1 + n // hop, n_fft), a strided view."""
    pad = n_fft // 2
    mode = "reflect" if y.size > pad else "constant"
    yp = np.pad(np.asarray(y, dtype=np.float32), pad, mode=mode)
    n_frames = 1 + (yp.size - n_fft) // hop
    return np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, n_fft), strides=(yp.strides[0] * hop, yp.strides[0]), writeable=False
    )


def power_spectrogram(y: np.ndarray, *, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed power spectrum of centre-padded frames.

    Returns the frames (n_frames, n_fft) and their power (n_frames, n_fft // 2 + 1), float32.
    """
    # scipy.fft keeps float32 in float32; numpy.fft upcasts to float64 and is ~8x slower here.
    from scipy.fft import rfft

    frames = frame_signal(y, n_fft=n_fft, hop=hop)
    spec = rfft(frames * hann_window(n_fft), axis=1)
    return frames, (spec.real**2 + spec.imag**2).astype(np.float32)


def delta(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas along axis 0 (frames), edge-padded.  Same shape as ``x``."""
    if x.shape[0] < 2:
        return np.zeros_like(x)
    xp = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = x.shape[0]
    num = sum(k * (xp[width + k : width + k + n] - xp[width - k : width - k + n]) for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def loudest_start(energy: np.ndarray, n: int) -> int:
    """First frame of the ``n``-frame run with the most energy (0 when there are at most ``n`` frames)."""
    if energy.shape[0] <= n:
        return 0
    sums = np.convolve(energy, np.ones(n), mode="valid")  # (T - n + 1,)
    return int(np.argmax(sums))
