"""Which parts of a recording are a voice: one detector (Silero VAD, ``mlcore.models.vad``), one mask.

The detector gives a speech probability per 32 ms frame; a frame is speech above ``THRESHOLD``.  The same
mask decides everything: which encoder frames are pooled into features, how much each timeline window
votes, how many seconds of speech a recording holds, and whether it holds a voice at all.

Tones, chords, sweeps, noise, hum and music score near zero, but not always exactly zero: over a long
recording a few stray frames add up (a 9-minute tone could collect half a minute of them).  So speech
only counts inside a window (``WindowSettings``, 4 s) whose share of speech frames is at least
``MIN_WINDOW_SHARE``; real speech fills a far larger share of its windows than stray frames do.  A
recording with under ``MIN_SPEECH_S`` of counted speech is "no speech detected"; under
``LITTLE_SPEECH_S`` it is judged, flagged uncertain.
"""

from __future__ import annotations

import numpy as np

from mlcore.data.stream import SampleFile
from mlcore.models import vad

# Chosen on both corpora and 25 kinds of synthetic non-speech (tests/nonspeech.py), README "Voice
# detection": at 0.25 the corpora's clips refused fall from 15 to 9 of RAVDESS's 1200 (shouts the
# detector doubts) and from 35 to 17 of CREMA-D's 4081, while non-speech stays under 0.03 of its frames.
THRESHOLD = 0.25
MIN_WINDOW_SHARE = 0.1
MIN_SPEECH_S = 0.3
LITTLE_SPEECH_S = 1.0


def speech_probabilities(y: np.ndarray | SampleFile, *, sr: int, threads: int = 1) -> np.ndarray:
    """The detector's speech probability per 32 ms frame of ``y`` (resampled to 16 kHz when needed),
    minute-long segments on up to ``threads`` threads.  Shape (ceil(n16k / 512),).  A recording in a
    ``SampleFile`` at 16 kHz is read a segment at a time."""
    if sr != vad.SR:
        import soxr

        y = np.asarray(y[:] if isinstance(y, SampleFile) else y, dtype=np.float32).reshape(-1)
        y = soxr.resample(y, sr, vad.SR, quality="HQ").astype(np.float32)
    return vad.speech_probabilities(y, threads=threads)


def on_grid(probs: np.ndarray, *, n_samples: int, sr: int, hop: int) -> np.ndarray:
    """The 32 ms probabilities on another grid of ``hop``-sample frames (each takes the detector frame
    holding its centre).  Shape (ceil(n_samples / hop),)."""
    n = -(-n_samples // hop)
    if n == 0 or probs.size == 0:
        return np.zeros(n, dtype=np.float32)
    centres = (np.arange(n) + 0.5) * hop / sr
    return probs[np.minimum((centres / vad.FRAME_S).astype(np.int64), probs.size - 1)]


def speech_frames(y: np.ndarray, *, sr: int, hop: int) -> np.ndarray:
    """Boolean speech mask over ``hop``-sample frames of ``y``.  Shape (ceil(n / hop),)."""
    return on_grid(speech_probabilities(y, sr=sr), n_samples=y.size, sr=sr, hop=hop) > THRESHOLD


def _frames(start: int, end: int, *, hop: int) -> slice:
    """The ``hop``-sample frames that overlap samples ``[start, end)`` (at least one)."""
    return slice(start // hop, max(start // hop + 1, -(-end // hop)))


def window_shares(mask: np.ndarray, bounds: list[tuple[int, int]], *, hop: int) -> np.ndarray:
    """Share of speech frames in each ``[start, end)`` sample range.  Shape (len(bounds),)."""
    shares = np.zeros(len(bounds), dtype=np.float64)
    for i, (start, end) in enumerate(bounds):
        part = mask[_frames(start, end, hop=hop)]
        shares[i] = part.mean() if part.size else 0.0
    return shares


def counted_speech(mask: np.ndarray, bounds: list[tuple[int, int]], *, hop: int) -> np.ndarray:
    """``mask`` with the frames of windows under ``MIN_WINDOW_SHARE`` cleared (stray frames in music or
    noise), unless another window that holds the frame has enough speech.  Shape kept."""
    keep = np.zeros_like(mask, dtype=bool)
    for (start, end), share in zip(bounds, window_shares(mask, bounds, hop=hop), strict=True):
        if share >= MIN_WINDOW_SHARE:
            keep[_frames(start, end, hop=hop)] = True
    return mask & keep
