"""What serving hands back for one recording: ``Analysis``, and its JSON form (what the platform stores).

``Predictor.analyse`` builds it: the pooled probabilities, top and second emotion, the ``uncertain``
flag and why, speech and total seconds, the per-window timeline, a min/max waveform envelope for
drawing, and which model judged it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcore.errors import FeatureError
from mlcore.labels import EMOTIONS
from mlcore.serving.segments import Segment

# Columns of the waveform drawing: enough for a wide screen, small enough to store with each result.
ENVELOPE_POINTS = 800


@dataclass(frozen=True)
class Window:
    """One analysis window: its span in seconds and its probabilities (EMOTIONS order)."""

    start_s: float
    end_s: float
    probabilities: dict[str, float]
    # Share of the window the voice detector marked as speech (0-1): the window's vote.
    speech: float = 1.0


@dataclass(frozen=True)
class ModelIdentity:
    """The bundle that judged: its name and the fingerprint of its verified files."""

    name: str
    fingerprint: str


@dataclass(frozen=True)
class Analysis:
    """The judgement on one recording.  ``probabilities`` holds the eight EMOTIONS in order, summing to 1:
    the speech-weighted average of the windows.  The headline (``emotion``, ``confidence``) is the
    timeline's summary: the emotion held longest after smoothing (``segments``), with ``share`` of the
    speech, judged on its own windows; for a recording of one mood it is the top of ``probabilities``."""

    probabilities: dict[str, float]
    emotion: str
    confidence: float
    second_emotion: str
    second_confidence: float
    # True when the judgement should not be trusted as it stands; ``uncertain_reason`` says why
    # (little speech, a low top probability, or two emotions too close to call).
    uncertain: bool
    uncertain_reason: str
    # Seconds the speech detector marked as speech (None for models without a speech detector).
    speech_s: float | None
    duration_s: float
    timeline: tuple[Window, ...]
    # (min, max) sample value per drawing column, at most ENVELOPE_POINTS of them.
    envelope: tuple[tuple[float, float], ...]
    model: ModelIdentity
    # Spans of one emotion after smoothing the windows over time, in order, covering the recording.
    segments: tuple[Segment, ...] = ()
    # The headline emotion's share of the recording's speech (1.0 for a recording of one mood).
    share: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: plain types, finite floats only (raises ``FeatureError`` otherwise), window
        times in ms precision, window probabilities to 6 places and the envelope to 4."""
        return {
            "probabilities": {e: _finite(self.probabilities[e]) for e in EMOTIONS},
            "emotion": self.emotion,
            "confidence": _finite(self.confidence),
            "second_emotion": self.second_emotion,
            "second_confidence": _finite(self.second_confidence),
            "uncertain": bool(self.uncertain),
            "uncertain_reason": self.uncertain_reason,
            "speech_s": None if self.speech_s is None else _finite(self.speech_s),
            "duration_s": _finite(self.duration_s),
            "timeline": [
                {
                    "start_s": _finite(w.start_s, 3),
                    "end_s": _finite(w.end_s, 3),
                    "probabilities": {e: _finite(w.probabilities[e], 6) for e in EMOTIONS},
                    "speech": _finite(w.speech, 3),
                }
                for w in self.timeline
            ],
            "segments": [
                {
                    "start_s": _finite(s.start_s, 3),
                    "end_s": _finite(s.end_s, 3),
                    "emotion": s.emotion,
                    "confidence": _finite(s.confidence, 6),
                    "speech_s": _finite(s.speech_s, 3),
                }
                for s in self.segments
            ],
            "share": _finite(self.share, 6),
            "envelope": _finite_array(self.envelope, 4),
            "model": {"name": self.model.name, "fingerprint": self.model.fingerprint},
        }


def envelope_pairs(y: np.ndarray, *, points: int = ENVELOPE_POINTS) -> tuple[tuple[float, float], ...]:
    """Min/max waveform envelope of ``y`` in at most ``points`` columns."""
    from mlcore.data.audio import envelope

    return tuple(map(tuple, envelope(y, points=points).tolist()))


def _finite_array(values: Any, places: int) -> list[Any]:
    """``_finite`` of every value at once (the envelope's 1,600 numbers): nested lists of floats."""
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        _finite(array[~np.isfinite(array)][0])  # raises, with the value
    return np.round(array, places).tolist()


def _finite(x: float, places: int | None = None) -> float:
    value = float(x)
    if not math.isfinite(value):
        raise FeatureError(f"A result holds a value that is not a finite number ({value}).")
    return round(value, places) if places is not None else value
