"""The original apps' librosa extractors, kept so their architectures can still be trained and compared.

- ``zcr-rms-mfcc``: the original 1D-CNN app's 2376-value vector.
- ``spectral-stack``: the original CNN+BiLSTM app's per-frame stack of nine librosa features.

librosa is imported inside ``__call__`` only (training); serving bundles use NumPy extractors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlcore.dsp import fit_length
from mlcore.features.registry import Needs, register


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
    def needs(self) -> Needs:
        return Needs(sr=self.sr, hop=self.hop_length)

    @property
    def output_shape(self) -> tuple[int, ...]:
        n = int(round(self.duration_s * self.sr))
        frames = 1 + n // self.hop_length
        return ((2 + self.n_mfcc) * frames,)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        import librosa

        start = int(round(self.offset_s * self.sr))
        n = int(round(self.duration_s * self.sr))
        seg = fit_length(np.asarray(y[start:], dtype=np.float32), n)
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
    def needs(self) -> Needs:
        return Needs(sr=self.sr, hop=self.hop_length)

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
        return fit_length(stack.astype(np.float32), self.max_frames)
