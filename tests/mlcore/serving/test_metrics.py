"""Metrics: one typed record read from every metrics.json layout serweb has written."""

from __future__ import annotations

import json

import pytest

from mlcore.labels import EMOTIONS
from mlcore.models import DEFAULT_BUNDLE, FAST_BUNDLE
from mlcore.serving.metrics import Metrics


@pytest.mark.parametrize("bundle", [DEFAULT_BUNDLE, FAST_BUNDLE], ids=["default", "fast"])
def test_the_shipped_bundles_metrics_read_into_the_typed_record(bundle) -> None:
    if not (bundle / "metrics.json").is_file():
        pytest.skip(f"no shipped bundle at {bundle}")
    raw = json.loads((bundle / "metrics.json").read_text())

    m = Metrics.from_dict(raw)

    assert m.accuracy == raw["accuracy"] and m.macro_f1 == raw["macro_f1"]
    assert m.confusion is not None and m.confusion.labels == tuple(raw["labels"])
    assert [f.name for f in m.per_corpus] == list(raw["per_corpus"])
    assert m.per_corpus[0].n == raw["per_corpus"][m.per_corpus[0].name]["n"]
    assert m.calibration is not None and m.calibration.temperature == raw["calibration"]["temperature"]
    assert "5-fold speaker-held-out" in m.protocol
    assert "ravdess accuracy" in m.summary and "protocol" not in m.summary
    assert Metrics.from_dict(m.to_dict()) == m


@pytest.mark.parametrize("key", ["accuracy", "test_accuracy", "cv_accuracy"])
def test_every_accuracy_key_older_bundles_used_is_read(key) -> None:
    assert Metrics.from_dict({key: 0.61}).accuracy == 0.61


def test_the_ravdess_cv_layout_gives_its_protocol_and_scalar_summary() -> None:
    cv = {"protocol": "5-fold by actor", "mean_accuracy": 0.6, "folds": [{"fold": 1}], "pooled": {"accuracy": 0.6}}
    m = Metrics.from_dict({"accuracy": 0.6, "source": "5-fold by actor", "cv": cv})

    assert m.protocol == "5-fold by actor"
    assert m.summary == {"mean_accuracy": 0.6}


def test_a_confusion_matrix_pairs_each_row_with_its_label_and_marks_the_diagonal() -> None:
    m = Metrics.from_dict({"labels": ["a", "b"], "confusion_matrix": [[3, 1], [2, 5]]})

    assert m.confusion.labelled_rows() == [("a", [(3, True), (1, False)]), ("b", [(2, False), (5, True)])]


def test_a_matrix_without_labels_is_over_the_emotions_and_a_ragged_one_is_dropped() -> None:
    eight = Metrics.from_dict({"confusion_matrix": [[1 if i == j else 0 for j in range(8)] for i in range(8)]})
    ragged = Metrics.from_dict({"labels": ["a", "b"], "confusion_matrix": [[1, 2], [3]]})

    assert eight.confusion.labels == EMOTIONS
    assert ragged.confusion is None


def test_missing_or_odd_metrics_read_as_empty_not_as_an_error() -> None:
    assert Metrics.from_dict(None).is_empty
    assert Metrics.from_dict({}).is_empty
    odd = Metrics.from_dict({"accuracy": "high", "macro_f1": float("nan"), "per_class_accuracy": {"sad": True}})
    assert odd.accuracy is None and odd.macro_f1 is None and odd.per_class_accuracy == {"sad": None}


def test_the_corpora_the_uncertain_rule_and_the_unseen_language_are_read_and_written_back() -> None:
    raw = {
        "corpora": {"ravdess": {"speakers": 20, "clips": 1200}, "crema-d": {"speakers": 50}},
        "headline_corpus": "ravdess",
        "calibration": {"temperature": 1.1, "ece_away_after": 0.07, "uncertain_rule": {"min_top": 0.46, "x": "?"}},
        "unseen_language": {"corpus": "emotiontts-ko", "n": 300, "accuracy": 0.33, "accuracy_all_eight": 0.3},
    }

    m = Metrics.from_dict(raw)

    assert [(c.name, c.speakers, c.clips) for c in m.corpora] == [("ravdess", 20, 1200), ("crema-d", 50, None)]
    assert m.headline_corpus == "ravdess"
    assert m.calibration.ece_away_after == 0.07 and m.calibration.uncertain_rule == {"min_top": 0.46}
    assert m.unseen_language.corpus == "emotiontts-ko" and m.unseen_language.accuracy_all_eight == 0.3
    assert Metrics.from_dict(m.to_dict()) == m
