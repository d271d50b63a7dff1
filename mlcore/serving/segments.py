"""A recording that changes mood: smoothed window decisions, segments, and the headline they give.

Window posteriors are noisy from one 4 s window to the next; emotions in speech hold for many seconds.
``smooth_path`` is a Viterbi pass over the windows (an HMM whose states are the emotions): each window's
log-probabilities, weighted by its share of speech (a window without speech has no say), and a fixed
``SWITCH_PENALTY`` (in nats) for every change of state.  ``segments`` merges runs of one state into
spans of time, cut halfway between the centres of the windows on either side of a change, and
``headline`` is the emotion that holds longest (by seconds of speech) with its share of the speech.

``SWITCH_PENALTY`` was measured on 24 recordings made by joining held-out speakers' clips (``python -m
mlcore mood-changes``, README "Results"): no smoothing helped window accuracy there (0.449 raw; Viterbi
0.445 at 0.25 nats, 0.423 at 1, 0.302 at 4; median and mean filters 0.36-0.42), because the head's
mistakes hold for a whole clip rather than flicker between windows.  So the penalty is small: it only
merges a window whose evidence is barely different from its neighbours', which keeps the segment list
readable at a cost within noise.  What does help a user is the headline: the emotion held longest, not
an average of different moods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlcore.labels import EMOTIONS

SWITCH_PENALTY = 0.25
# A span of speech this short reads as noise in the timeline, not as a change of mood.
_EPS = 1e-9


@dataclass(frozen=True)
class Segment:
    """A span of the recording judged as one emotion: its times, the emotion, the mean probability of
    that emotion over the span's windows, and the seconds of speech in it."""

    start_s: float
    end_s: float
    emotion: str
    confidence: float
    speech_s: float


def smooth_path(
    probabilities: np.ndarray, weights: np.ndarray, *, switch_penalty: float = SWITCH_PENALTY
) -> np.ndarray:
    """The most likely emotion of each window (indices into EMOTIONS) under a switching penalty.
    (n_windows, 8), (n_windows,) in [0, 1] -> (n_windows,) int."""
    p = np.asarray(probabilities, dtype=np.float64)
    n, k = p.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, 1.0)
    # A window's evidence counts in proportion to its speech; renormalised so a full window counts once.
    emit = np.log(np.clip(p, 1e-6, None)) * (w / max(float(w.max()), _EPS))[:, None]
    score = emit[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    for t in range(1, n):
        stay = score
        best = int(np.argmax(score))
        switch = score[best] - switch_penalty
        back[t] = np.where(stay >= switch, np.arange(k), best)
        score = np.maximum(stay, switch) + emit[t]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def segments(
    path: np.ndarray, probabilities: np.ndarray, bounds_s: list[tuple[float, float]], speech_s: np.ndarray
) -> list[Segment]:
    """Runs of one state in ``path`` as ``Segment``s covering the recording without overlap.
    ``bounds_s`` are the windows' (start, end) in seconds, ``speech_s`` their seconds of speech."""
    if len(path) == 0:
        return []
    centres = [(a + b) / 2 for a, b in bounds_s]
    out: list[Segment] = []
    start = 0
    for i in range(1, len(path) + 1):
        if i < len(path) and path[i] == path[start]:
            continue
        t0 = bounds_s[0][0] if start == 0 else (centres[start - 1] + centres[start]) / 2
        t1 = bounds_s[-1][1] if i == len(path) else (centres[i - 1] + centres[i]) / 2
        e = int(path[start])
        out.append(
            Segment(
                start_s=round(float(t0), 3),
                end_s=round(float(t1), 3),
                emotion=EMOTIONS[e],
                confidence=float(np.mean(probabilities[start:i, e])),
                speech_s=float(np.sum(speech_s[start:i])),
            )
        )
        start = i
    return out


def headline(spans: list[Segment]) -> tuple[str, float]:
    """The emotion that holds longest by seconds of speech, and its share of the speech (0-1)."""
    held: dict[str, float] = {}
    for s in spans:
        held[s.emotion] = held.get(s.emotion, 0.0) + s.speech_s
    total = sum(held.values())
    if total <= 0:
        longest = max(spans, key=lambda s: s.end_s - s.start_s)
        return longest.emotion, 1.0
    emotion = max(held, key=lambda e: (held[e], -EMOTIONS.index(e)))
    return emotion, held[emotion] / total
