"""A bundle's figures as one typed record: ``Metrics``, read the same way by the admin, an API and pages.

A bundle's ``metrics.json`` carries whatever its trainer wrote (the full cross-validation run,
evaluations, reports); ``Metrics.from_dict`` reads every layout serweb has written (the
cross-corpus trainer's, the RAVDESS-only trainer's ``cv_summary``, older ``test_accuracy`` /
``cv_accuracy`` keys, a bare test dictionary) into one schema, and ``to_dict`` writes that schema,
which ``from_dict`` reads back unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlcore.labels import EMOTIONS

# Where older bundles kept their headline accuracy, in order of preference.
ACCURACY_KEYS = ("accuracy", "test_accuracy", "cv_accuracy")


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts: ``rows[i][j]`` clips of true ``labels[i]`` judged ``labels[j]``."""

    labels: tuple[str, ...]
    rows: tuple[tuple[int, ...], ...]

    def labelled_rows(self) -> list[tuple[str, list[tuple[int, bool]]]]:
        """``(true label, [(count, on the diagonal), ...])`` per row, for drawing the table."""
        return [
            (label, [(n, i == j) for j, n in enumerate(row)])
            for i, (label, row) in enumerate(zip(self.labels, self.rows, strict=True))
        ]


@dataclass(frozen=True)
class Figures:
    """Headline figures on one test set (a corpus, a leave-one-corpus-out direction, an evaluation)."""

    name: str
    n: int | None = None
    accuracy: float | None = None
    macro_f1: float | None = None


@dataclass(frozen=True)
class Calibration:
    """The temperature fitted on held-out speakers and the expected calibration error before and after;
    ``ece_away_after`` on corpora the model never heard; the ``uncertain`` rule's thresholds ({} when the
    bundle flags no doubt of its own)."""

    temperature: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    ece_away_after: float | None = None
    uncertain_rule: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Corpus:
    """A corpus the model was trained on: how many speakers and clips of it."""

    name: str
    speakers: int | None = None
    clips: int | None = None


@dataclass(frozen=True)
class UnseenLanguage:
    """An evaluation in a language the model never heard: accuracy over the emotions that corpus has, and
    over all eight (as a user sees it), with the calibration error over all eight."""

    corpus: str
    n: int | None = None
    accuracy: float | None = None
    accuracy_all_eight: float | None = None
    ece_all_eight: float | None = None


@dataclass(frozen=True)
class Metrics:
    """What a bundle says about its quality (everything optional: a bundle may carry none of it)."""

    accuracy: float | None = None
    macro_f1: float | None = None
    per_class_accuracy: dict[str, float | None] = field(default_factory=dict)
    confusion: ConfusionMatrix | None = None
    per_corpus: tuple[Figures, ...] = ()
    leave_one_corpus_out: tuple[Figures, ...] = ()
    evaluation: Figures | None = None
    protocol: str = ""
    calibration: Calibration | None = None
    # The trainer's flat summary of headline figures (label -> number or text), shown as a table.
    summary: dict[str, float | str] = field(default_factory=dict)
    corpora: tuple[Corpus, ...] = ()
    # The corpus whose figures ``accuracy`` and ``macro_f1`` are.
    headline_corpus: str = ""
    unseen_language: UnseenLanguage | None = None

    @property
    def is_empty(self) -> bool:
        return self == Metrics()

    @classmethod
    def from_dict(cls, data: Any) -> Metrics:
        """Read a bundle's ``metrics.json`` (any layout serweb has written; unknown keys are ignored)."""
        if not isinstance(data, dict):
            return cls()
        cv = data.get("cv") if isinstance(data.get("cv"), dict) else {}
        summary = data.get("summary") if isinstance(data.get("summary"), dict) else cv
        calibration = data.get("calibration") if isinstance(data.get("calibration"), dict) else None
        evaluation = data.get("evaluation")
        return cls(
            accuracy=next((v for v in (_number(data.get(k)) for k in ACCURACY_KEYS) if v is not None), None),
            macro_f1=_number(data.get("macro_f1")),
            per_class_accuracy={
                str(k): _number(v) for k, v in (data.get("per_class_accuracy") or {}).items() if isinstance(k, str)
            },
            confusion=_confusion(data.get("confusion_matrix"), data.get("labels")),
            per_corpus=_figures_of(data.get("per_corpus")),
            leave_one_corpus_out=_figures_of(data.get("leave_one_corpus_out")),
            evaluation=_figures(str(evaluation.get("corpus", "evaluation")), evaluation)
            if isinstance(evaluation, dict)
            else None,
            protocol=str(data.get("protocol") or cv.get("protocol") or data.get("source") or ""),
            calibration=Calibration(
                _number(calibration.get("temperature")),
                _number(calibration.get("ece_before")),
                _number(calibration.get("ece_after")),
                _number(calibration.get("ece_away_after")),
                _numbers(calibration.get("uncertain_rule")),
            )
            if calibration
            else None,
            summary={
                str(k): (_number(v) if not isinstance(v, str) else v)
                for k, v in summary.items()
                if k != "protocol" and (isinstance(v, str) or _number(v) is not None)
            },
            corpora=tuple(
                Corpus(str(name), _count(info.get("speakers")), _count(info.get("clips")))
                if isinstance(info, dict)
                else Corpus(str(name))
                for name, info in (data.get("corpora") if isinstance(data.get("corpora"), dict) else {}).items()
            ),
            headline_corpus=str(data.get("headline_corpus") or ""),
            unseen_language=_language(data.get("unseen_language")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The one schema, JSON-safe (what ``from_dict`` reads back to an equal record)."""
        c = self.confusion
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class_accuracy": dict(self.per_class_accuracy),
            "labels": list(c.labels) if c else [],
            "confusion_matrix": [list(r) for r in c.rows] if c else [],
            "per_corpus": {f.name: _figures_dict(f) for f in self.per_corpus},
            "leave_one_corpus_out": {f.name: _figures_dict(f) for f in self.leave_one_corpus_out},
            "evaluation": _figures_dict(self.evaluation) | {"corpus": self.evaluation.name}
            if self.evaluation
            else None,
            "protocol": self.protocol,
            "calibration": dict(vars(self.calibration)) if self.calibration else None,
            "summary": dict(self.summary),
            "corpora": {c.name: {"speakers": c.speakers, "clips": c.clips} for c in self.corpora},
            "headline_corpus": self.headline_corpus,
            "unseen_language": dict(vars(self.unseen_language)) if self.unseen_language else None,
        }


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _numbers(d: Any) -> dict[str, float]:
    """The numeric entries of a flat dict ({} for anything else)."""
    if not isinstance(d, dict):
        return {}
    return {str(k): n for k, v in d.items() if (n := _number(v)) is not None}


def _language(d: Any) -> UnseenLanguage | None:
    if not isinstance(d, dict):
        return None
    return UnseenLanguage(
        str(d.get("corpus") or ""),
        _count(d.get("n")),
        _number(d.get("accuracy")),
        _number(d.get("accuracy_all_eight")),
        _number(d.get("ece_all_eight")),
    )


def _confusion(matrix: Any, labels: Any) -> ConfusionMatrix | None:
    if not isinstance(matrix, list) or not matrix or not all(isinstance(r, list) for r in matrix):
        return None
    labels = tuple(str(x) for x in labels) if isinstance(labels, list) and labels else EMOTIONS[: len(matrix)]
    if len(labels) != len(matrix) or any(len(r) != len(labels) for r in matrix):
        return None
    return ConfusionMatrix(labels, tuple(tuple(int(n) for n in r) for r in matrix))


def _figures(name: str, d: dict[str, Any]) -> Figures:
    n = d.get("n")
    return Figures(name, int(n) if isinstance(n, int) else None, _number(d.get("accuracy")), _number(d.get("macro_f1")))


def _figures_of(d: Any) -> tuple[Figures, ...]:
    if not isinstance(d, dict):
        return ()
    return tuple(_figures(str(name), v) for name, v in d.items() if isinstance(v, dict))


def _figures_dict(f: Figures) -> dict[str, Any]:
    return {"n": f.n, "accuracy": f.accuracy, "macro_f1": f.macro_f1}
