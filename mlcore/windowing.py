"""How a recording is cut into analysis windows: one frozen record shared by training and serving.

Training saves it in the bundle's ``config.json`` (``window_s``, ``hop_s``); serving reads it back
from there, so a model is always judged on windows of the length it was trained on.  Temporal
extractors derive their frame count from it (``frames``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlcore.errors import BundleError


@dataclass(frozen=True)
class WindowSettings:
    """Windows of ``window_s`` seconds every ``hop_s`` seconds (the last one aligned to the end)."""

    window_s: float = 4.0
    hop_s: float = 2.0
    # A recording longer than this is judged on back-to-back windows (the hop is the window): half the
    # encoder's work, the timeline drawn every 4 s instead of 2 s.  Each window is still judged on its
    # own, so a window is right as often; only where a change falls is known less finely.
    long_after_s: float = 600.0

    def hop_for(self, duration_s: float) -> float:
        """The hop for a recording of ``duration_s`` seconds: ``hop_s``, or ``window_s`` past ``long_after_s``."""
        return self.window_s if duration_s > self.long_after_s else self.hop_s

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and self.hop_s > 0):
            raise BundleError(f"Invalid analysis windows: window_s={self.window_s}, hop_s={self.hop_s}.")

    def frames(self, *, sr: int, hop_length: int) -> int:
        """STFT frames in one window with centre padding: 173 for 4 s at 22050 Hz and hop 512."""
        return 1 + int(round(self.window_s * sr)) // hop_length

    def to_config(self) -> dict[str, float]:
        """The ``config.json`` keys that carry these settings."""
        return {"window_s": self.window_s, "hop_s": self.hop_s}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WindowSettings:
        """Read a bundle's ``config.json``; bundles without the keys use the defaults."""
        default = cls()
        try:
            return cls(float(config.get("window_s", default.window_s)), float(config.get("hop_s", default.hop_s)))
        except (TypeError, ValueError) as e:
            raise BundleError(f"Invalid analysis windows in the bundle's config ({e}).") from None


DEFAULT_WINDOWS = WindowSettings()
