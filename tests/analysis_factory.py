"""Made-up mlcore ``Analysis`` records, for tests that store or show a result without running a model."""

from __future__ import annotations

from collections.abc import Sequence


def made_up_analysis(
    probabilities: dict[str, float],
    *,
    duration_s: float,
    windows: Sequence[dict[str, float]] = (),
    uncertain_reason: str = "",
    speech_s: float | None = None,
    envelope: tuple[tuple[float, float], ...] = (),
):
    """An ``Analysis`` whose verdict is ``probabilities``; ``windows`` (each window's probabilities)
    split ``duration_s`` evenly, one window of the overall probabilities when empty; with
    ``uncertain_reason`` the model doubts its verdict."""
    from mlcore.labels import ranked
    from mlcore.serving.analysis import Analysis, ModelIdentity, Window

    windows = list(windows) or [probabilities]
    step = duration_s / len(windows)
    (first, p1), (second, p2) = ranked(probabilities)[:2]
    return Analysis(
        probabilities=probabilities,
        emotion=first,
        confidence=p1,
        second_emotion=second,
        second_confidence=p2,
        uncertain=bool(uncertain_reason),
        uncertain_reason=uncertain_reason,
        speech_s=speech_s,
        duration_s=duration_s,
        timeline=tuple(Window(k * step, (k + 1) * step, w) for k, w in enumerate(windows)),
        envelope=envelope,
        model=ModelIdentity("made-up", "f" * 64),
    )
