"""A recording that grows while it is judged (a live take): each update analyses only its new windows.

Serving judges every analysis window on its own (``mlcore.serving.windows``): an encoder that pools over
speech encodes each window's samples alone and pools them over that window's slice of the speech mask.
So the probabilities of a window whose samples and mask slice have not changed can be kept from the
previous update, and ``grow`` runs the encoder only on the windows that are new or changed; the mask,
the windows' votes, the smoothing and the headline are recomputed over the whole take each time (cheap),
so the result is the one ``Predictor.analyse`` gives for the audio so far.

A window is kept ("settled") only once a whole window of audio follows it: by then resampling at the end
of the take no longer reaches its samples, and the window after it (which shares half its frames, and so
its counted speech) is complete.  The window at the seam is analysed again on the next update.  Extractors
that frame the whole clip (``needs.framed``) or featurise raw windows are cheap and recomputed each time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcore.errors import FeatureError
from mlcore.features.speech import MIN_SPEECH_S, THRESHOLD, counted_speech, on_grid, speech_probabilities, window_shares
from mlcore.serving.analysis import Analysis, envelope_pairs
from mlcore.serving.parts import Survey
from mlcore.serving.predictor import Predictor
from mlcore.serving.windows import window_bounds, window_features


@dataclass(frozen=True)
class Settled:
    """A window whose probabilities will not change as the take grows: its sample range, a digest of its
    slice of the speech mask, and its calibrated probabilities (EMOTIONS order)."""

    start: int
    end: int
    mask: str
    probabilities: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "mask": self.mask, "p": list(self.probabilities)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Settled:
        return cls(int(d["start"]), int(d["end"]), str(d["mask"]), tuple(float(p) for p in d["p"]))


@dataclass(frozen=True)
class Growth:
    """One update: the analysis of the take so far (None while it holds no speech yet, or when too
    little when ``final``), the windows to keep for the next update, and how many were encoded now."""

    analysis: Analysis | None
    settled: tuple[Settled, ...]
    encoded: int


def grow(predictor: Predictor, y: np.ndarray, settled: tuple[Settled, ...] = (), *, final: bool = False) -> Growth:
    """Judge the take ``y`` (mono float32 at ``predictor.sr``, the whole audio so far), reusing the windows
    ``settled`` by the previous update.  With ``final`` the take is complete: too little speech raises
    ``NoSpeechError`` exactly as ``Predictor.analyse`` does.  Raises ``FeatureError`` for values that are
    not finite."""
    sr, hop, w = predictor.sr, predictor.mask_hop, predictor.windows
    n = int(y.size)
    # As Predictor._survey: windows keyed by their bounds, so a take that passes 10 min re-encodes what moved.
    bounds = window_bounds(n_samples=n, sr=sr, window_s=w.window_s, hop_s=w.hop_for(n / sr)) if n else []
    if not bounds:
        return Growth(None, settled, 0)
    mask = on_grid(speech_probabilities(y, sr=sr), n_samples=n, sr=sr, hop=hop) > THRESHOLD
    speech = counted_speech(mask, bounds, hop=hop)
    weights = window_shares(speech, bounds, hop=hop)
    speech_s = float(speech.sum() * hop / sr)
    if final and speech_s < MIN_SPEECH_S:
        predictor._prepare(y, max_duration_s=float("inf"), with_envelope=False)  # raises its NoSpeechError
    digests = [_digest(speech, start, end, hop=hop) for start, end in bounds]
    extractor = predictor.extractor
    if predictor.pools_speech:
        known = {(s.start, s.end, s.mask): s.probabilities for s in settled}
        todo = [i for i, (b, d) in enumerate(zip(bounds, digests, strict=True)) if (*b, d) not in known]
        probabilities = np.zeros((len(bounds), len(predictor.labels)))
        if todo:
            features = extractor.window_features(y, [bounds[i] for i in todo], speech=speech)
            probabilities[todo] = predictor._predict_rows(features)
        for i, (b, d) in enumerate(zip(bounds, digests, strict=True)):
            if i not in todo:
                probabilities[i] = known[(*b, d)]
        encoded = len(todo)
    else:
        probabilities = predictor._predict_rows(window_features(extractor, y, bounds))
        encoded = len(bounds)
    if not np.all(np.isfinite(probabilities)):
        raise FeatureError("The model could not compute probabilities for this recording.")
    keep = tuple(
        Settled(start, end, digest, tuple(float(p) for p in row))
        for (start, end), digest, row in zip(bounds, digests, probabilities, strict=True)
        if end + int(round(w.window_s * sr)) <= n
    )
    if not weights.any():  # no voice yet: nothing to show
        return Growth(None, keep, encoded)
    survey = Survey(n, sr, hop, tuple(bounds), speech, weights, speech_s, envelope_pairs(y))
    return Growth(predictor._assemble(survey, probabilities), keep, encoded)


def _digest(speech: np.ndarray, start: int, end: int, *, hop: int) -> str:
    """A window's slice of the speech mask as the encoder's pooling reads it (a frame or two past its end,
    where an encoder's frames overrun the window)."""
    part = speech[start // hop : -(-end // hop) + 2]
    return hashlib.sha1(np.packbits(part).tobytes() + part.size.to_bytes(4, "big")).hexdigest()[:16]
