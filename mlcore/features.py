"""Feature extractors, registered by name, and the standardiser fitted on training data.

Every extractor is a frozen dataclass whose fields are its parameters (saved as ``features.json`` in
a bundle) and whose ``__call__`` maps a mono float32 signal at ``sr`` to a fixed-shape array.

- ``zcr-rms-mfcc``: the original 1D-CNN app's 2376-value vector.
- ``spectral-stack``: the original CNN+BiLSTM app's per-frame stack of nine librosa features.
- ``logmel-stats``: serweb's own utterance functionals (gain-invariant log-mel, MFCC, pitch and
  spectral statistics over active frames), computed with NumPy only so serving needs no numba.
  It also exposes ``frame_features``/``pool`` so a long clip is framed once and pooled per window.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlcore.errors import FeatureError

_REGISTRY: dict[str, type] = {}
# Extractors defined outside this module, imported on first use (they need heavier modules).
_ELSEWHERE = {"whisper-stats": "mlcore.whisper_features"}
# Bumped whenever an extractor's output changes for the same parameters (invalidates feature caches).
REVISION = 2


def register(cls: type) -> type:
    """Class decorator: make an extractor available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of every registered extractor."""
    return sorted(set(_REGISTRY) | set(_ELSEWHERE))


def get_extractor(name: str, **params: Any) -> Any:
    """Build the extractor ``name`` with ``params`` (unknown names/params raise ``FeatureError``)."""
    if name in _ELSEWHERE and name not in _REGISTRY:
        importlib.import_module(_ELSEWHERE[name])
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise FeatureError(f"Unknown feature extractor {name!r}; choose one of {', '.join(available())}.") from None
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise FeatureError(f"Bad parameters for feature extractor {name!r}: {e}") from None


def extractor_to_json(extractor: Any) -> dict[str, Any]:
    """``{"name": ..., "params": {...}}`` as stored in a bundle's ``features.json``."""
    return {"name": extractor.name, "params": dataclasses.asdict(extractor)}


def extractor_from_json(spec: dict[str, Any]) -> Any:
    """Inverse of ``extractor_to_json``."""
    return get_extractor(spec["name"], **spec.get("params", {}))


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad at the end to exactly ``n`` samples/frames along axis 0."""
    if y.shape[0] >= n:
        return y[:n]
    pad = [(0, n - y.shape[0])] + [(0, 0)] * (y.ndim - 1)
    return np.pad(y, pad)


@register
@dataclass(frozen=True)
class ZcrRmsMfcc:
    """Original 1D-CNN app: ZCR + RMS + 20 MFCC on a 2.5 s excerpt from 0.6 s -> shape (2376,).

    The flattening order matches the original: 108 ZCR values, 108 RMS values, then the MFCC matrix
    frame by frame (108 x 20).  librosa's default 20 MFCC is what yields 2376.
    """

    name: ClassVar[str] = "zcr-rms-mfcc"
    sr: int = 22050
    offset_s: float = 0.6
    duration_s: float = 2.5
    frame_length: int = 2048
    hop_length: int = 512
    n_mfcc: int = 20

    @property
    def output_shape(self) -> tuple[int, ...]:
        n = int(round(self.duration_s * self.sr))
        frames = 1 + n // self.hop_length
        return ((2 + self.n_mfcc) * frames,)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        import librosa

        start = int(round(self.offset_s * self.sr))
        n = int(round(self.duration_s * self.sr))
        seg = _fit_length(np.asarray(y[start:], dtype=np.float32), n)
        fl, hop = self.frame_length, self.hop_length
        zcr = librosa.feature.zero_crossing_rate(seg, frame_length=fl, hop_length=hop)[0]
        rms = librosa.feature.rms(y=seg, frame_length=fl, hop_length=hop)[0]
        mfcc = librosa.feature.mfcc(y=seg, sr=self.sr, n_mfcc=self.n_mfcc, n_fft=fl, hop_length=hop)
        return np.hstack([zcr, rms, np.ravel(mfcc.T)]).astype(np.float32)


@register
@dataclass(frozen=True)
class SpectralStack:
    """Original CNN+BiLSTM app: per frame MFCC, delta, delta-delta, chroma STFT, mel (dB), spectral
    contrast, tonnetz, RMS, ZCR; stacked and cropped/padded to ``max_frames`` -> (max_frames, 275).

    Tonnetz is computed from the STFT chroma (the CQT chroma is ten times slower for the same
    harmonic summary).
    """

    name: ClassVar[str] = "spectral-stack"
    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mfcc: int = 40
    n_mels: int = 128
    max_frames: int = 160

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.max_frames, 3 * self.n_mfcc + 12 + self.n_mels + 7 + 6 + 2)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        import librosa

        sr, n_fft, hop = self.sr, self.n_fft, self.hop_length
        S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
        mel = librosa.feature.melspectrogram(S=S, sr=sr, n_mels=self.n_mels)
        mel_db = librosa.power_to_db(mel)
        mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=self.n_mfcc)
        width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2))
        if width >= 3:
            d1 = librosa.feature.delta(mfcc, width=width)
            d2 = librosa.feature.delta(mfcc, order=2, width=width)
        else:
            d1 = d2 = np.zeros_like(mfcc)
        chroma = librosa.feature.chroma_stft(S=S, sr=sr)
        contrast = librosa.feature.spectral_contrast(S=np.sqrt(S), sr=sr)
        tonnetz = librosa.feature.tonnetz(chroma=chroma, sr=sr)
        rms = librosa.feature.rms(S=np.sqrt(S), frame_length=n_fft)
        zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)
        stack = np.vstack([mfcc, d1, d2, chroma, mel_db, contrast, tonnetz, rms, zcr]).T
        return _fit_length(stack.astype(np.float32), self.max_frames)


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
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
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
def _window(n_fft: int) -> np.ndarray:
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
    spec = rfft(frames * _window(n_fft), axis=1)
    return frames, (spec.real**2 + spec.imag**2).astype(np.float32)


@register
@dataclass(frozen=True)
class LogMelStats:
    """serweb's utterance functionals -> shape (``dim``,).

    Per frame (n_fft 1024, hop 256): log-mel in dB relative to the loudest frame (gain-invariant),
    MFCC and their deltas, pitch from the frame autocorrelation, spectral centroid, flatness, roll-off,
    flux, ZCR and frame energy.  Statistics are taken over *active* frames (energy within
    ``active_db`` of the loudest) so leading/trailing silence does not dilute them.
    """

    name: ClassVar[str] = "logmel-stats"
    sr: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 64
    n_mfcc: int = 20
    fmin: float = 50.0
    fmax: float = 8000.0
    f0_min: float = 70.0
    f0_max: float = 500.0
    active_db: float = 35.0

    # Layout of a frame-feature row (columns of frame_features).
    @property
    def frame_dim(self) -> int:
        return self.n_mels + 8

    @property
    def dim(self) -> int:
        return 2 * self.n_mels + 6 * self.n_mfcc + 4 * 6 + 4 + 2 + 1

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    @property
    def frames_per_second(self) -> float:
        return self.sr / self.hop_length

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self.pool(self.frame_features(y))

    def frame_features(self, y: np.ndarray) -> np.ndarray:
        """Per-frame features in absolute units.  Shape (n_frames, frame_dim).

        Columns: log-mel dB (n_mels), centroid, flatness, roll-off, flux, ZCR, energy dB, f0
        (semitones re 100 Hz), voicing.  Everything relative to a loudest frame (dB references,
        floors, MFCC, deltas) happens in ``pool``, so pooling a slice of a long clip's frames gives
        the same vector as extracting that slice on its own.
        """
        from scipy.fft import irfft

        frames, power = power_spectrogram(y, n_fft=self.n_fft, hop=self.hop_length)
        eps = 1e-10
        mel = power @ _mel_basis(self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax)
        logmel = 10 * np.log10(mel + eps)

        freqs = np.linspace(0, self.sr / 2, power.shape[1], dtype=np.float32)
        total = power.sum(axis=1) + eps
        centroid = (power @ freqs) / total / (self.sr / 2)
        flatness = np.exp(np.mean(np.log(power + eps), axis=1)) / (np.mean(power, axis=1) + eps)
        cum = np.cumsum(power, axis=1)
        rolloff = np.argmax(cum >= 0.85 * cum[:, -1:], axis=1) / power.shape[1]
        mag = np.sqrt(power)
        mag_n = mag / (mag.sum(axis=1, keepdims=True) + eps)
        flux = np.r_[0.0, np.sqrt(np.sum(np.diff(mag_n, axis=0) ** 2, axis=1))]
        signs = np.signbit(frames)
        zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
        energy_db = 10 * np.log10(total)

        # Autocorrelation is the inverse FFT of the power spectrum (Wiener-Khinchin).
        ac = irfft(power, axis=1)
        lo = int(self.sr / self.f0_max)
        hi = min(int(self.sr / self.f0_min), self.n_fft // 2)
        lag = lo + np.argmax(ac[:, lo:hi], axis=1)
        voicing = ac[np.arange(ac.shape[0]), lag] / (ac[:, 0] + eps)
        f0 = 12 * np.log2(self.sr / lag / 100.0)

        scalars = np.stack([centroid, flatness, rolloff, flux, zcr, energy_db, f0, voicing], axis=1)
        return np.concatenate([logmel, scalars], axis=1).astype(np.float32)

    def pool(self, frames: np.ndarray) -> np.ndarray:
        """Statistics over the active frames of ``frames`` (a clip's, or any contiguous slice).  Shape (dim,)."""
        from scipy.fft import dct

        m = self.n_mels
        # dB re this slice's loudest frame, floored at -80 dB: gain-invariant, a window judged like a clip.
        logmel = frames[:, :m] - frames[:, :m].max()
        logmel = np.maximum(logmel, -80.0)
        scalars = frames[:, m : m + 6].copy()
        scalars[:, 5] = np.maximum(scalars[:, 5] - scalars[:, 5].max(), -80.0)
        mfcc = dct(logmel, type=2, norm="ortho", axis=1)[:, : self.n_mfcc]
        dmfcc = _delta(mfcc)
        active = scalars[:, 5] >= -self.active_db
        if active.sum() < 3:
            active = np.ones_like(active)
        logmel, mfcc, dmfcc, scalars = logmel[active], mfcc[active], dmfcc[active], scalars[active]
        voicing = frames[active, m + 7]
        voiced = voicing > 0.5
        f0 = frames[active, m + 6][voiced]
        if f0.size < 3:
            f0_stats = np.zeros(4, dtype=np.float32)
        else:
            p10, p50, p90 = np.percentile(f0, [10, 50, 90])
            f0_stats = np.array([p50, np.std(f0), p10 - p50, p90 - p50], dtype=np.float32)
        mfcc_p = np.percentile(mfcc, [10, 90], axis=0)
        scalars_p = np.percentile(scalars, [10, 90], axis=0)
        parts = [
            logmel.mean(axis=0),
            logmel.std(axis=0),
            mfcc.mean(axis=0),
            mfcc.std(axis=0),
            mfcc_p[0],
            mfcc_p[1],
            dmfcc.std(axis=0),
            np.abs(dmfcc).mean(axis=0),
            scalars.mean(axis=0),
            scalars.std(axis=0),
            scalars_p[0],
            scalars_p[1],
            f0_stats,
            np.array([voiced.mean(), voicing.mean()], dtype=np.float32),
            np.array([active.mean()], dtype=np.float32),
        ]
        return np.concatenate(parts).astype(np.float32)


def _delta(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas along axis 0 (frames), edge-padded.  Same shape as ``x``."""
    if x.shape[0] < 2:
        return np.zeros_like(x)
    xp = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = x.shape[0]
    num = sum(k * (xp[width + k : width + k + n] - xp[width - k : width - k + n]) for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))


@dataclass(frozen=True)
class Standardizer:
    """Per-channel z-scoring over every axis but the last; fitted on the training split only."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        std[std < 1e-8] = 1.0
        return cls(tuple(map(float, flat.mean(axis=0))), tuple(map(float, std)))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean, "scale": self.scale})

    @classmethod
    def from_json(cls, text: str) -> Standardizer:
        d = json.loads(text)
        return cls(tuple(d["mean"]), tuple(d["scale"]))


@register
@dataclass(frozen=True)
class LogMelFrames:
    """Per-frame log-mel for temporal models -> shape (``max_frames``, ``n_mels``).

    dB relative to the clip's loudest bin and floored at ``floor_db`` (gain-invariant), then, when
    ``subtract_mean``, each band's mean over the active frames (within ``active_db`` of the loudest)
    is removed: a cepstral-mean-style normalisation against the speaker's and the microphone's
    long-term spectrum.  Clips longer than ``max_frames`` keep their loudest ``max_frames`` region;
    shorter ones are zero-padded at the end (zero is the band mean after normalisation).
    """

    name: ClassVar[str] = "logmel-frames"
    sr: int = 22050
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    max_frames: int = 173  # 4 s at hop 512 and 22050 Hz
    floor_db: float = -80.0
    active_db: float = 35.0
    subtract_mean: bool = True

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.max_frames, self.n_mels)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        _, power = power_spectrogram(y, n_fft=self.n_fft, hop=self.hop_length)
        mel = power @ _mel_basis(self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax)
        # Floor relative to the loudest bin in the linear domain (not with an absolute epsilon), so
        # a quiet recording of the same speech gives the same frames.
        ref = max(float(mel.max()), 1e-30)
        logmel = 10 * np.log10(np.maximum(mel, ref * 10 ** (self.floor_db / 10)) / ref)
        energy = power.sum(axis=1, dtype=np.float64)
        start = _loudest_start(energy, self.max_frames)
        logmel, energy = logmel[start : start + self.max_frames], energy[start : start + self.max_frames]
        if self.subtract_mean:
            energy_db = 10 * np.log10(np.maximum(energy, max(energy.max(), 1e-30) * 1e-12))
            active = energy_db >= energy_db.max() - self.active_db
            logmel = logmel - logmel[active].mean(axis=0)
        return _fit_length(logmel.astype(np.float32), self.max_frames)


def _loudest_start(energy: np.ndarray, n: int) -> int:
    """First frame of the ``n``-frame run with the most energy (0 when there are at most ``n`` frames)."""
    if energy.shape[0] <= n:
        return 0
    sums = np.convolve(energy, np.ones(n), mode="valid")  # (T - n + 1,)
    return int(np.argmax(sums))
