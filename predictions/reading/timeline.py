"""A prediction's timeline as people read it: segments of one emotion, and per-window exports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from mlcore.labels import EMOTIONS, ranked
from predictions.reading.verdicts import clock, pct


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    emotion: str
    probability: float  # mean probability of ``emotion`` over the segment's windows

    @property
    def label(self) -> str:
        return f"{clock(self.start_s)}-{clock(self.end_s)} {self.emotion} {pct(self.probability)}"


def _top(probabilities: dict) -> str:
    return ranked({e: probabilities.get(e, 0.0) for e in EMOTIONS})[0][0]


def window_length(timeline: list[dict]) -> float:
    return float(timeline[0]["end_s"]) - float(timeline[0]["start_s"]) if timeline else 0.0


def shows_timeline(timeline: list[dict], duration_s: float) -> bool:
    """Hidden for clips shorter than one window: a single window is the overall result again."""
    return len(timeline) > 1 and duration_s >= window_length(timeline)


def segments(timeline: list[dict], duration_s: float) -> list[Segment]:
    """Runs of windows with the same top emotion.  Overlapping windows are split at the midpoint between
    their centres (as the chart draws them), so segments tile 0..duration without overlap."""
    if not timeline:
        return []
    centres = [(float(w["start_s"]) + float(w["end_s"])) / 2 for w in timeline]
    bounds = [0.0] + [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)] + [float(duration_s)]
    out: list[Segment] = []
    run: list[int] = []
    for k, window in enumerate(timeline):
        emotion = _top(window["probabilities"])
        if run and _top(timeline[run[0]]["probabilities"]) != emotion:
            out.append(_segment(timeline, run, bounds))
            run = []
        run.append(k)
    out.append(_segment(timeline, run, bounds))
    return out


def stored_segments(prediction) -> list[Segment]:
    """The engine's smoothed segments (the timeline after its switching penalty), for predictions made
    since the engine stores them; older ones fall back to runs of each window's top emotion."""
    stored = prediction.segments or []
    try:
        spans = [
            Segment(float(s["start_s"]), float(s["end_s"]), str(s["emotion"]), float(s["confidence"])) for s in stored
        ]
    except (KeyError, TypeError, ValueError):
        spans = []
    return spans or segments(prediction.timeline, prediction.duration_s)


def summary(spans: list[Segment], *, emotion: str, share: float | None) -> str:
    """The headline of a recording that changes mood, in words: "angry for 45% of the speech: angry
    0:00-0:16, sad 0:16-0:31, ..."; "" for a recording of one mood."""
    if len(spans) < 2:
        return ""
    head = f"{emotion} for {pct(share)} of the speech" if share is not None else emotion
    return head + ": " + ", ".join(f"{s.emotion} {clock(s.start_s)}-{clock(s.end_s)}" for s in spans)


def _segment(timeline: list[dict], run: list[int], bounds: list[float]) -> Segment:
    emotion = _top(timeline[run[0]]["probabilities"])
    mean = sum(float(timeline[k]["probabilities"].get(emotion, 0.0)) for k in run) / len(run)
    return Segment(bounds[run[0]], bounds[run[-1] + 1], emotion, mean)


def csv_text(timeline: list[dict]) -> str:
    """One row per window: start_s, end_s, top_emotion, then the eight probabilities."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("start_s", "end_s", "top_emotion", *EMOTIONS))
    for w in timeline:
        p = w["probabilities"]
        writer.writerow(
            (
                f"{float(w['start_s']):.3f}",
                f"{float(w['end_s']):.3f}",
                _top(p),
                *(f"{float(p.get(e, 0.0)):.6f}" for e in EMOTIONS),
            )
        )
    return buffer.getvalue()


def json_document(prediction) -> dict:
    return {
        "file": prediction.file.original_name,
        "duration_s": prediction.duration_s,
        "model_version": prediction.model_version.name,
        "top_emotion": prediction.top_emotion,
        "windows": [
            {
                "start_s": float(w["start_s"]),
                "end_s": float(w["end_s"]),
                "top_emotion": _top(w["probabilities"]),
                "probabilities": {e: float(w["probabilities"].get(e, 0.0)) for e in EMOTIONS},
            }
            for w in prediction.timeline
        ],
    }
