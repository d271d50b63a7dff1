"""How a result reads to a person: one percentage format, the second choice, and the doubt badge.

Every page, status.json and the exports' human columns go through these helpers, so the same probability
never reads as 0.595 on one line and 59.5% on the next.  Probabilities are shown as whole percents: the
calibrated model is not precise to a tenth of a percent, and more digits suggest that it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from mlcore.labels import EMOTIONS


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


def model_gives_doubt(version) -> bool:
    """Whether the model version flags its own doubt (its metrics carry an `uncertain` rule).

    Read defensively: metrics are whatever a bundle shipped (a dict today, a typed record later).
    """
    metrics = getattr(version, "metrics", None)
    if not isinstance(metrics, dict):
        metrics = getattr(metrics, "__dict__", {}) or {}
    calibration = metrics.get("calibration")
    return isinstance(calibration, dict) and isinstance(calibration.get("uncertain_rule"), dict)


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


def verdict(prediction) -> Verdict:
    """The verdict as shown: the model's own `uncertain` reason when it gives one; for a model without the
    notion, a top probability under UNCERTAIN_FALLBACK_TOP is shown as uncertain with that reason."""
    probabilities = prediction.probabilities
    ranked = sorted(EMOTIONS, key=lambda e: (-float(probabilities.get(e, 0.0)), EMOTIONS.index(e)))
    top = prediction.top_emotion or ranked[0]
    # The headline of a recording that changes mood is the emotion held longest, which need not be the
    # top of the whole recording's average: the runner-up is the best of the others.
    second = next(e for e in ranked if e != top)
    p_top = float(prediction.confidence)
    doubt = ""
    if prediction.uncertain:
        doubt = prediction.uncertain_reason or "the model is unsure"
    elif not model_gives_doubt(prediction.model_version) and p_top < settings.UNCERTAIN_FALLBACK_TOP:
        doubt = f"top probability {pct(p_top)} is below {pct(settings.UNCERTAIN_FALLBACK_TOP)}"
    return Verdict(top, p_top, second, float(probabilities.get(second, 0.0)), doubt)


_CORPUS_NAMES = {"ravdess": "RAVDESS", "crema-d": "CREMA-D"}


def _corpus(name: str) -> str:
    return _CORPUS_NAMES.get(name, name)


def model_facts(version) -> dict:
    """What a person should know about a model version, read defensively from its metrics dict.

    Returns {"trained_on": "RAVDESS (20 speakers) and CREMA-D (50 speakers)" or "", "unseen": [(corpus,
    accuracy)], "accuracy": float | None, "speaker_held_out": bool}.  Missing or odd entries are skipped.
    """
    metrics = getattr(version, "metrics", None)
    if not isinstance(metrics, dict):
        metrics = {}
    corpora = metrics.get("corpora") if isinstance(metrics.get("corpora"), dict) else {}
    parts = []
    for name, info in corpora.items():
        speakers = info.get("speakers") if isinstance(info, dict) else None
        parts.append(f"{_corpus(name)} ({speakers} speakers)" if isinstance(speakers, int) else _corpus(name))
    trained_on = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
    cv = metrics.get("cv") if isinstance(metrics.get("cv"), dict) else {}
    unseen = []
    for name in corpora:
        value = cv.get(f"{name} accuracy")
        if isinstance(value, (int, float)):
            unseen.append((_corpus(name), float(value)))
    accuracy = metrics.get("accuracy")
    accuracy = float(accuracy) if isinstance(accuracy, (int, float)) else None
    protocol = str(cv.get("protocol", "")).lower()
    return {
        "trained_on": trained_on,
        "unseen": unseen,
        "accuracy": accuracy,
        "speaker_held_out": bool(unseen) and "speaker" in protocol,
        "away": _away(metrics),
    }


def _away(metrics: dict) -> list[tuple[str, float]]:
    """How often the model is right on recordings from elsewhere: leave-one-corpus-out (a corpus it never
    heard, mean of both directions) and a language it never heard (over all eight emotions, as a user
    sees it)."""
    out = []
    loco = metrics.get("leave_one_corpus_out")
    values = [m.get("accuracy") for m in loco.values() if isinstance(m, dict)] if isinstance(loco, dict) else []
    values = [float(v) for v in values if isinstance(v, (int, float))]
    if values:
        out.append(("a corpus it never heard", sum(values) / len(values)))
    language = metrics.get("unseen_language")
    if isinstance(language, dict) and isinstance(language.get("accuracy_all_eight"), (int, float)):
        out.append(("Korean speech, a language it never heard", float(language["accuracy_all_eight"])))
    return out


def model_note(version) -> str:
    """One line: what the model was trained on and how often it is right on speakers it never heard."""
    if version is None:
        return ""
    facts = model_facts(version)
    note = f"Model {version.name}"
    if facts["trained_on"]:
        note += f", trained on {facts['trained_on']}"
    if facts["unseen"] and facts["speaker_held_out"]:
        mean = sum(a for _, a in facts["unseen"]) / len(facts["unseen"])
        figures = ", ".join(f"{c} {pct(a)}" for c, a in facts["unseen"])
        note += f"; right {pct(mean)} of the time on new speakers of those corpora ({figures})"
        if facts["away"]:
            away = ", ".join(f"{what}: {pct(a)}" for what, a in facts["away"])
            note += f", and less often on recordings made elsewhere ({away})"
    elif facts["accuracy"] is not None:
        note += f"; right {pct(facts['accuracy'])} of the time on its test set"
    else:
        note += "; no accuracy figures were shipped with it"
    return note + "."
