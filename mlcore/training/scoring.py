"""Scoring predictions against labels: accuracy, F1, per-class accuracy and the confusion matrix,
over all eight emotions or over the ones a corpus has.  (The bundle's typed view of these figures
is ``mlcore.serving.metrics.Metrics``.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlcore.data import corpora
from mlcore.labels import EMOTIONS


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, *, labels: tuple[str, ...] = EMOTIONS) -> dict[str, Any]:
    """Classification metrics from true class indices (n,) and probabilities (n, n_classes)."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    y_true = np.asarray(y_true)
    y_pred = np.asarray(probs).argmax(axis=1)
    idx = list(range(len(labels)))
    cm = confusion_matrix(y_true, y_pred, labels=idx)
    support = cm.sum(axis=1)
    per_class = {labels[i]: (float(cm[i, i] / support[i]) if support[i] else None) for i in idx}
    report = classification_report(
        y_true, y_pred, labels=idx, target_names=list(labels), output_dict=True, zero_division=0
    )
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, labels=idx, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=idx, average="weighted", zero_division=0)),
        "per_class_accuracy": per_class,
        "classification_report": report,
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),
    }


def corpus_emotions(corpus: str) -> tuple[str, ...]:
    """The emotions ``corpus`` has, in EMOTIONS order (scores on a corpus are over these)."""
    if corpus == corpora.KOREAN:
        return tuple(e for e in EMOTIONS if e in corpora.KOREAN_EMOTIONS)
    return EMOTIONS if corpus == corpora.RAVDESS else corpora.SHARED_EMOTIONS


def restricted_metrics(y: np.ndarray, probs: np.ndarray, emotions: tuple[str, ...]) -> dict[str, Any]:
    """Metrics when the choice is limited to ``emotions`` (the model's other outputs are ignored)."""
    cols = [EMOTIONS.index(e) for e in emotions]
    remap = {c: i for i, c in enumerate(cols)}
    keep = np.isin(y, cols)
    sub = probs[keep][:, cols]
    return compute_metrics(np.array([remap[v] for v in y[keep]]), sub / sub.sum(axis=1, keepdims=True), labels=emotions)


def per_corpus(y: np.ndarray, probs: np.ndarray, corpus_of: np.ndarray) -> dict[str, Any]:
    """For each corpus: metrics over its own emotions, plus the accuracy when all eight may be chosen."""
    out = {}
    for corpus in sorted(set(corpus_of.tolist())):
        m = corpus_of == corpus
        metrics = restricted_metrics(y[m], probs[m], corpus_emotions(corpus))
        metrics["accuracy_all_eight"] = float((probs[m].argmax(axis=1) == y[m]).mean())
        out[corpus] = metrics
    return out
