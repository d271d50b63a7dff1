"""Cut a clip into overlapping analysis windows, featurise them, and pool window predictions.

A model is trained on utterances of a few seconds; a longer recording is judged window by window
and the clip result is the average of window probabilities weighted by how much of each window is
speech (``mlcore.features.speech.window_shares``), so a long pause does not vote as loudly as a sentence.
"""

from __future__ import annotations

import numpy as np

from mlcore.features.registry import Extractor


def window_bounds(*, n_samples: int, sr: int, window_s: float, hop_s: float) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` of the analysis windows of a clip of ``n_samples``.

    A clip no longer than one window is one window covering it.  Otherwise windows start every
    ``hop_s`` seconds and one more window is aligned to the end, so the tail is never dropped; a tail
    shorter than a quarter of a hop stretches the last window instead, so no two windows nearly coincide
    (a 4.004 s clip is one window of 4.004 s, not 0-4.0 and 0.004-4.004).
    """
    win = max(1, int(round(window_s * sr)))
    hop = max(1, int(round(hop_s * sr)))
    if n_samples <= win:
        return [(0, n_samples)]
    starts = list(range(0, n_samples - win, hop))
    bounds = [(s, s + win) for s in starts]
    if n_samples - bounds[-1][1] < hop // 4:
        bounds[-1] = (starts[-1], n_samples)
    else:
        bounds.append((n_samples - win, n_samples))
    return bounds


def window_features(
    extractor: Extractor, y: np.ndarray, bounds: list[tuple[int, int]], *, framed: bool | None = None
) -> np.ndarray:
    """Features of the windows ``bounds`` of ``y``.  Shape (len(bounds), *extractor.output_shape).

    Extractors that pool over speech (the encoder, which runs once over the clip) do it themselves.
    Framed extractors (``needs.framed``) are framed once for the whole clip and each window pools its
    slice of frames (frame ``k`` is centred on sample ``k * hop``) when the clip has several windows
    (``framed``; by default when ``bounds`` holds several: a part of a long clip may hold one); others
    are run on each window's samples.
    """
    needs = extractor.needs
    if needs.pools_speech:
        return extractor.window_features(y, bounds)
    if (len(bounds) > 1 if framed is None else framed) and needs.framed:
        frames = extractor.frame_features(y)
        hop = needs.hop
        rows = []
        for start, end in bounds:
            first = min(int(round(start / hop)), frames.shape[0] - 1)
            rows.append(extractor.pool(frames[first : first + (end - start) // hop + 1]))
        return np.stack(rows)
    return np.stack([extractor(y[start:end]) for start, end in bounds])


def pool_probabilities(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of window probabilities, renormalised to sum to 1.  (n_windows, C), (n_windows,) -> (C,)."""
    p = np.average(np.asarray(probabilities, dtype=np.float64), axis=0, weights=weights)
    return p / p.sum()
