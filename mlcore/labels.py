"""The eight RAVDESS emotions, in the order every model and file uses, and the one ranking rule."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)
N_CLASSES = len(EMOTIONS)


def ranked(probabilities: dict[str, float]) -> list[tuple[str, float]]:
    """Emotions from most to least probable, ties in EMOTIONS order (unknown names last): the one ranking
    rule for the headline, the runner-up, the doubt, each timeline window and every page."""
    order = {e: k for k, e in enumerate(EMOTIONS)}
    return sorted(
        ((e, float(p)) for e, p in probabilities.items()), key=lambda kv: (-kv[1], order.get(kv[0], len(order)))
    )
