"""Held-out evaluation of a bundle: ``python -m mlcore evaluate``.

``python -m mlcore evaluate BUNDLE --data DIR --actors 17-20`` runs the bundle's predictor (the same
code path the platform serves) on every clip of the given actors and writes accuracy, macro/micro/
weighted F1, per-class accuracy, the classification report and the confusion matrix (JSON and PNG)
into the bundle, refreshing its manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def evaluate_bundle(bundle_path: Path, *, data: Path, actors: set[int], corpus: str = "ravdess") -> dict[str, Any]:
    """Predict every clip of ``actors`` of ``corpus`` with the bundle's predictor (the serving path:
    windows, speech detection, calibration); returns the metrics over the emotions the corpus has."""
    from tqdm import tqdm

    from mlcore.data import corpora
    from mlcore.labels import EMOTIONS
    from mlcore.serving.predictor import Predictor
    from mlcore.training.calibrate import expected_calibration_error
    from mlcore.training.scoring import corpus_emotions, restricted_metrics

    predictor = Predictor(bundle_path)
    if corpus == corpora.RAVDESS:
        rows = corpora.list_ravdess(data, actors=actors)
    elif corpus == corpora.KOREAN:
        rows = corpora.list_korean(data)  # evaluation only: every clip, never trained or tuned on
    else:
        rows = corpora.list_crema(data, actors=actors)
    probs, y_true, failed = [], [], []
    batch = 32
    for i in tqdm(range(0, len(rows), batch), desc="evaluate", unit="batch"):
        chunk = rows[i : i + batch]
        for row, result in zip(chunk, predictor.predict_many([r.path for r in chunk]), strict=True):
            if isinstance(result, Exception):
                failed.append({"file": row.path.name, "error": str(result)})
                continue
            probs.append([result.probabilities[e] for e in predictor.labels])
            y_true.append(row.label)
    p, y = np.array(probs), np.array(y_true)
    metrics = restricted_metrics(y, p, corpus_emotions(corpus))
    # What a user sees: the model chooses among all eight emotions.
    metrics["accuracy_all_eight"] = float((p.argmax(axis=1) == y).mean())
    metrics["ece_all_eight"] = expected_calibration_error(p, y)
    metrics["predicted"] = {e: int((p.argmax(axis=1) == i).sum()) for i, e in enumerate(EMOTIONS)}
    metrics["corpus"] = corpus
    metrics["actors"] = sorted(actors) if corpus != corpora.KOREAN else sorted({r.speaker for r in rows})
    metrics["failed"] = failed
    return metrics


def _parse_range(text: str) -> set[int]:
    """``"1041-1050"`` or ``"1001,1005"`` -> the actor numbers (CREMA-D ids are four digits)."""
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def add_arguments_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path)
    p.add_argument("--corpus", choices=("ravdess", "crema-d", "emotiontts-ko"), default="ravdess")
    p.add_argument("--data", type=Path, help="corpus folder (default: $SERWEB_RAVDESS_DIR / $SERWEB_CREMA_D_DIR)")
    p.add_argument("--actors", default="17-20", help="held-out actors, e.g. 17-20 (CREMA-D: 1041-1050)")


def run_evaluate(args: argparse.Namespace) -> int:
    from mlcore.data import corpora
    from mlcore.data.datasets import parse_actors
    from mlcore.serving.bundle import load_bundle, update_bundle
    from mlcore.training.curves import confusion_png

    load_bundle(args.bundle)
    config = json.loads((args.bundle / "config.json").read_text())
    if args.corpus == corpora.KOREAN:
        actors, trained_on, speakers = set(), set(), set()
    elif args.corpus == corpora.RAVDESS:
        actors = parse_actors(args.actors)
        trained_on = {f"ravdess:{a:02d}" for a in config.get("train_actors", [])}
        speakers = {f"ravdess:{a:02d}" for a in actors}
    else:
        actors = _parse_range(args.actors)
        trained_on = set()
        speakers = {f"crema-d:{a}" for a in actors}
    trained_on |= {s for names in config.get("train_corpora", {}).values() for s in names}
    overlap = sorted(speakers & trained_on)
    if overlap:
        print(f"warning: {', '.join(overlap)} were in this bundle's training set; these figures are not held-out")
    data = args.data or corpora.corpus_dir(args.corpus)
    m = evaluate_bundle(args.bundle, data=data, actors=actors, corpus=args.corpus)
    m["held_out"] = not overlap
    confusion = {"labels": m["labels"], "matrix": m["confusion_matrix"]}
    # Another language is the bundle's "away" figure; a corpus's held-out actors its "evaluation".
    key = "unseen_language" if args.corpus == corpora.KOREAN else "evaluation"
    stem = f"confusion_{args.corpus}_unseen" if args.corpus == corpora.KOREAN else "confusion_matrix"
    title = "Korean (EmotionTTS), never trained on" if args.corpus == corpora.KOREAN else f"actors {args.actors}"
    update_bundle(
        args.bundle,
        metrics={key: m},
        artifacts={
            f"{stem}.json": (json.dumps(confusion) + "\n").encode(),
            f"{stem}.png": confusion_png(m["confusion_matrix"], m["labels"], title=title),
        },
    )
    print(
        f"accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  micro-F1 {m['micro_f1']:.3f}  weighted-F1 {m['weighted_f1']:.3f}"
    )
    print(f"over all eight emotions: accuracy {m['accuracy_all_eight']:.3f}, ECE {m['ece_all_eight']:.3f}")
    print("answers: " + ", ".join(f"{e} {n}" for e, n in m["predicted"].items()))
    for label, acc in m["per_class_accuracy"].items():
        print(f"  {label:<10} {acc:.3f}" if acc is not None else f"  {label:<10} -")
    return 0
