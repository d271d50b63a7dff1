"""The eight RAVDESS emotions, in the order every model and file uses."""

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
