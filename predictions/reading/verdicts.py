"""How a result reads to a person: one percentage format, one clock, the second choice, and the doubt badge.

Every page, status.json and the exports' human columns go through these helpers, so the same probability
never reads as 0.595 on one line and 59.5% on the next.  Probabilities are shown as whole percents: the
calibrated model is not precise to a tenth of a percent, and more digits suggest that it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

from mlcore.labels import ranked
from mlcore.serving.metrics import Metrics


def pct(p: float | None) -> str:
    """0.5947 -> "59%"; tiny and near-certain values never round to a false 0% or 100%."""
    if p is None:
        return ""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if p != p:  # NaN
        return ""
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1:
        return ">99%"
    return f"{round(p * 100):d}%"


def clock(seconds: float) -> str:
    """47.9 -> "0:47"; 3725 -> "1:02:05"."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def metrics_of(version) -> Metrics:
    """A model version's figures as the typed record (read once per version object and metrics dict)."""
    if version is None:
        return Metrics()
    raw = version.metrics
    cached = getattr(version, "_typed_metrics", None)
    if cached is None or cached[0] is not raw:
        cached = (raw, Metrics.from_dict(raw))
        version._typed_metrics = cached
    return cached[1]


def model_gives_doubt(version) -> bool:
    """Whether the model version flags its own doubt (its metrics carry an `uncertain` rule)."""
    calibration = metrics_of(version).calibration
    return calibration is not None and bool(calibration.uncertain_rule)


@dataclass(frozen=True)
class Verdict:
    """The top emotion, the runner-up, and why the result is uncertain ("" when it is not)."""

    emotion: str
    probability: float
    second: str
    second_probability: float
    doubt: str

    @property
    def uncertain(self) -> bool:
        return bool(self.doubt)

    @property
    def confidence(self) -> str:
        return pct(self.probability)

    @property
    def second_confidence(self) -> str:
        return pct(self.second_probability)

    def as_json(self) -> dict:
        return {
            "top_emotion": self.emotion,
            "top_label": self.confidence,
            "second_emotion": self.second,
            "second_label": self.second_confidence,
            "doubt": self.doubt or None,
        }


def verdict_html(v: Verdict) -> SafeString:
    """One result in a row, the one markup for it (pages, and status.json for the job page's script): the
    top emotion and its percentage, the second choice beside it, and the doubt badge with its reason as
    text (a tooltip would hide it from touch screens)."""
    badge = ""
    if v.doubt:
        badge = format_html(' <span class="badge badge--uncertain">uncertain: {}</span>', v.doubt)
    return format_html(
        '<span class="verdict-line"><span class="emotion emotion--{}">{}</span> <span class="verdict-line__p">{}</span>'
        '<span class="verdict-line__second"> · then {} {}</span>{}</span>',
        v.emotion, v.emotion, v.confidence, v.second, v.second_confidence, badge,
    )  # fmt: skip


def verdict(prediction) -> Verdict:
    """The verdict as shown: the model's own `uncertain` reason when it gives one; for a model without the
    notion, a top probability under UNCERTAIN_FALLBACK_TOP is shown as uncertain with that reason."""
    probabilities = prediction.probabilities
    order = [e for e, _ in ranked(probabilities)]
    top = prediction.top_emotion or order[0]
    # The headline of a recording that changes mood is the emotion held longest, which need not be the
    # top of the whole recording's average: the runner-up is the best of the others.
    second = next(e for e in order if e != top)
    p_top = float(prediction.confidence)
    doubt = ""
    if prediction.uncertain:
        doubt = prediction.uncertain_reason or "the model is unsure"
    elif not model_gives_doubt(prediction.model_version) and p_top < settings.UNCERTAIN_FALLBACK_TOP:
        doubt = f"top probability {pct(p_top)} is below {pct(settings.UNCERTAIN_FALLBACK_TOP)}"
    return Verdict(top, p_top, second, float(probabilities.get(second, 0.0)), doubt)
