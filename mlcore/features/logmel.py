"""serweb's NumPy log-mel extractors (no librosa, so serving needs no numba).

- ``logmel-stats``: utterance functionals (gain-invariant log-mel, MFCC, pitch and spectral statistics
  over active frames); ``frame_features``/``pool`` let a long clip be framed once and pooled per window.
- ``logmel-frames``: per-frame mean-normalised log-mel for temporal models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlcore.dsp import delta, fit_length, loudest_start, mel_basis, power_spectrogram
from mlcore.features.registry import Needs, register
from mlcore.windowing import DEFAULT_WINDOWS


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
    def needs(self) -> Needs:
        return Needs(sr=self.sr, hop=self.hop_length, framed=True)

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
        mel = power @ mel_basis(self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax)
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
        dmfcc = delta(mfcc)
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
    max_frames: int = DEFAULT_WINDOWS.frames(sr=22050, hop_length=512)  # one analysis window: 173
    floor_db: float = -80.0
    active_db: float = 35.0
    subtract_mean: bool = True

    @property
    def needs(self) -> Needs:
        return Needs(sr=self.sr, hop=self.hop_length)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.max_frames, self.n_mels)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        _, power = power_spectrogram(y, n_fft=self.n_fft, hop=self.hop_length)
        mel = power @ mel_basis(self.sr, self.n_fft, self.n_mels, self.fmin, self.fmax)
        # Floor relative to the loudest bin in the linear domain (not with an absolute epsilon), so
        # a quiet recording of the same speech gives the same frames.
        ref = max(float(mel.max()), 1e-30)
        logmel = 10 * np.log10(np.maximum(mel, ref * 10 ** (self.floor_db / 10)) / ref)
        energy = power.sum(axis=1, dtype=np.float64)
        start = loudest_start(energy, self.max_frames)
        logmel, energy = logmel[start : start + self.max_frames], energy[start : start + self.max_frames]
        if self.subtract_mean:
            energy_db = 10 * np.log10(np.maximum(energy, max(energy.max(), 1e-30) * 1e-12))
            active = energy_db >= energy_db.max() - self.active_db
            logmel = logmel - logmel[active].mean(axis=0)
        return fit_length(logmel.astype(np.float32), self.max_frames)
