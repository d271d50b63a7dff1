"""A long recording analysed in parts: the whole-recording survey, each part's windows, and the merge.

Every 4 s timeline window is encoded on its own (``mlcore.features.whisper_stats``), so windows can be
judged anywhere, in any order.  What cannot be split is what looks at the whole recording: the voice
detector's LSTM runs over it from the start (its state at 5:00 depends on 0:00-5:00), the "no speech"
verdict counts speech over all windows, and the waveform drawing spans it.  So a split analysis is:

1. ``Predictor.survey``: decode, validate, one voice-detector pass, the "no speech" refusal, the
   envelope, and the speech mask every window is pooled over and votes with (cheap: about a tenth of
   the encoder's cost).  A ``Survey`` is JSON (``to_dict``) so another process can carry on.
2. ``Predictor.analyse_windows(source, survey, first, stop)``: the model's probabilities for windows
   ``first .. stop - 1`` only (``WindowsPart``), with the survey's mask: the costly part, one per task.
3. ``Predictor.assemble(survey, parts)``: the parts' windows concatenated in order and judged exactly as
   a one-piece ``analyse`` judges them (the same smoothing, segments, headline, pooling and flag).

Parts are ranges of window indices, so neighbouring parts share audio (a window's 4 s straddle the
boundary) but never a window: no window is lost or counted twice.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcore.errors import FeatureError
from mlcore.labels import EMOTIONS


@dataclass(frozen=True)
class Survey:
    """The whole-recording facts a split analysis shares: sizes, the counted speech mask (on the
    extractor's ``hop``-sample grid), each window's vote, speech seconds and the envelope."""

    n_samples: int
    sr: int
    hop: int
    bounds: tuple[tuple[int, int], ...]  # window sample ranges [start, end)
    speech: np.ndarray  # bool, shape (ceil(n_samples / hop),): counted speech frames
    weights: np.ndarray  # float, shape (len(bounds),): each window's share of speech, its vote
    speech_s: float
    envelope: tuple[tuple[float, float], ...]

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sr

    @property
    def n_windows(self) -> int:
        return len(self.bounds)

    @property
    def hop_s(self) -> float:
        """Seconds between window starts (0 for a recording of one window)."""
        return (self.bounds[1][0] - self.bounds[0][0]) / self.sr if self.n_windows > 1 else 0.0

    def spans(self, *, windows_per_part: int) -> list[tuple[int, int]]:
        """Window ranges ``[first, stop)`` of parts of at most ``windows_per_part`` windows, in order."""
        size = max(1, windows_per_part)
        return [(i, min(i + size, self.n_windows)) for i in range(0, self.n_windows, size)]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the mask as packed bits in base64 (an hour at a 10 ms grid is about 60 kB)."""
        return {
            "n_samples": self.n_samples,
            "sr": self.sr,
            "hop": self.hop,
            "bounds": [list(b) for b in self.bounds],
            "speech": base64.b64encode(np.packbits(self.speech.astype(bool)).tobytes()).decode("ascii"),
            "weights": [float(w) for w in self.weights],
            "speech_s": float(self.speech_s),
            "envelope": [[float(lo), float(hi)] for lo, hi in self.envelope],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Survey:
        n_frames = -(-int(d["n_samples"]) // int(d["hop"]))
        bits = np.frombuffer(base64.b64decode(d["speech"]), dtype=np.uint8)
        return cls(
            n_samples=int(d["n_samples"]),
            sr=int(d["sr"]),
            hop=int(d["hop"]),
            bounds=tuple((int(a), int(b)) for a, b in d["bounds"]),
            speech=np.unpackbits(bits, count=n_frames).astype(bool),
            weights=np.asarray(d["weights"], dtype=np.float64),
            speech_s=float(d["speech_s"]),
            envelope=tuple((float(lo), float(hi)) for lo, hi in d["envelope"]),
        )


@dataclass(frozen=True)
class WindowsPart:
    """The model's calibrated probabilities for windows ``first .. first + len - 1`` of a recording."""

    first: int
    probabilities: np.ndarray  # (n_windows, 8), EMOTIONS order

    @property
    def stop(self) -> int:
        return self.first + len(self.probabilities)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, full float precision (the merge must equal a one-piece analysis)."""
        if not np.all(np.isfinite(self.probabilities)):
            raise FeatureError("The model could not compute probabilities for this recording.")
        return {"first": self.first, "emotions": list(EMOTIONS), "probabilities": self.probabilities.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowsPart:
        if tuple(d["emotions"]) != EMOTIONS:
            raise FeatureError("A stored part lists the emotions in another order.")
        rows = np.asarray(d["probabilities"], dtype=np.float64).reshape(-1, len(EMOTIONS))
        return cls(first=int(d["first"]), probabilities=rows)


def joined(survey: Survey, parts: list[WindowsPart]) -> np.ndarray:
    """The parts' rows in window order, each window once (a part stored twice counts once).
    Raises ``FeatureError`` when the parts leave a window out.  Shape (survey.n_windows, 8)."""
    by_first = {p.first: p for p in parts}
    rows, at = [], 0
    while at < survey.n_windows:
        part = by_first.get(at)
        if part is None or part.stop <= at:
            raise FeatureError(f"Window {at} of {survey.n_windows} is in no part of this recording.")
        rows.append(part.probabilities)
        at = part.stop
    if at != survey.n_windows:
        raise FeatureError(f"The parts hold {at} windows; the recording has {survey.n_windows}.")
    return np.concatenate(rows)
