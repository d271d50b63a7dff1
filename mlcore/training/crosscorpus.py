"""Training and evaluation over several corpora, always split by speaker.

``python -m mlcore cv-corpora --arch whisper-mlp --folds 5 --out cv.json``
    5-fold speaker-held-out cross-validation over every corpus (each corpus's speakers split into
    folds on their own), scored per corpus; leave-one-corpus-out in both directions (scored on the
    emotions both corpora have); temperature calibration and ``uncertain`` thresholds fitted on the
    out-of-fold predictions.
``python -m mlcore train-corpora --arch whisper-mlp --cv cv.json --out BUNDLE``
    train on every speaker and write a bundle carrying the calibration, thresholds and CV figures.

Corpus folders: ``--ravdess DIR`` / ``--crema-d DIR`` or ``$SERWEB_RAVDESS_DIR`` / ``$SERWEB_CREMA_D_DIR``.
Augmented copies (the architecture's recipe) enter training only from training speakers, and are
never scored.  Each corpus weighs the same in training (CREMA-D has three times RAVDESS's clips), on
top of class-balanced weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.data import corpora
from mlcore.data.corpora import Row
from mlcore.features.registry import extractor_to_json, get_extractor
from mlcore.labels import EMOTIONS
from mlcore.models.architectures import ARCHITECTURES, Architecture, get_architecture
from mlcore.models.ensemble import geometric_mean, merge_heads
from mlcore.training.calibrate import calibrate, expected_calibration_error
from mlcore.training.feature_cache import CorpusFeatures, corpus_features
from mlcore.training.fit import fit, predict_proba
from mlcore.training.scoring import per_corpus, restricted_metrics
from mlcore.windowing import DEFAULT_WINDOWS


def _train_rows(feats: CorpusFeatures, train_speakers: set[str]) -> CorpusFeatures:
    """Originals and augmented copies of training speakers only."""
    return feats.select(np.isin(feats.speakers, sorted(train_speakers)))


def _test_rows(feats: CorpusFeatures, test_speakers: set[str]) -> CorpusFeatures:
    """Originals of held-out speakers only: an augmented copy is never scored."""
    return feats.select(np.isin(feats.speakers, sorted(test_speakers)) & ~feats.augmented)


def architecture(arch_name: str, train_params: dict[str, Any] | None = None) -> Architecture:
    """The named architecture, with ``train_params`` overriding its ``TrainSettings`` (for comparisons)."""
    arch = get_architecture(arch_name)
    return dataclasses.replace(arch, train=dataclasses.replace(arch.train, **train_params)) if train_params else arch


def _fit_predict(
    arch: Architecture, train: CorpusFeatures, test: CorpusFeatures, *, seeds: int, epochs: int | None, desc: str
) -> np.ndarray:
    """Probabilities of ``seeds`` heads trained on ``train``, on ``test``: their normalised geometric mean,
    which is what a bundle of merged heads (``mlcore.models.ensemble``) outputs."""
    if arch.train.centre_speakers:
        train = train.centred_by_speaker()
    probs = []
    for s in range(seeds):
        model, scaler, _ = fit(
            arch, train, epochs=epochs, seed=s, desc=f"{desc} seed {s}", row_weights=train.corpus_weights()
        )
        probs.append(predict_proba(model, scaler, test.X))
    return geometric_mean(probs)


def cross_validate(
    rows: list[Row],
    *,
    arch_name: str,
    n_folds: int = 5,
    seeds: int = 1,
    epochs: int | None = None,
    loco: bool = True,
    augment: bool = True,
    out_dir: Path | None = None,
    feature_params: dict[str, Any] | None = None,
    only_fold: int | None = None,
    train_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Speaker-held-out CV per corpus, leave-one-corpus-out, calibration and thresholds (see module doc).

    ``feature_params`` override the architecture's extractor parameters (e.g. the encoder layers).
    ``only_fold`` (1-based) runs that fold alone, for models too slow for all of them; the scores and
    calibration are then over that fold's speakers only, and the result says so.
    """
    arch = architecture(arch_name, train_params)
    extractor = get_extractor(arch.features, **(arch.feature_params | (feature_params or {})))
    recipe = arch.train.augment if augment else None
    all_speakers = set(corpora.speakers(rows))
    feats = corpus_features(rows, extractor=extractor, recipe=recipe, augment_speakers=all_speakers)
    folds = corpora.speaker_folds(rows, n_folds=n_folds)
    originals = ~feats.augmented
    oof = np.zeros((int(originals.sum()), len(EMOTIONS)))
    index_of = np.cumsum(originals) - 1  # position of each original row among the originals
    fold_results = []
    for k, test_speakers in enumerate(folds):
        if only_fold is not None and k + 1 != only_fold:
            continue
        t0 = time.time()
        train, test = _train_rows(feats, all_speakers - test_speakers), _test_rows(feats, test_speakers)
        probs = _fit_predict(arch, train, test, seeds=seeds, epochs=epochs, desc=f"fold {k + 1}/{n_folds}")
        mask = np.isin(feats.speakers, sorted(test_speakers)) & originals
        oof[index_of[mask]] = probs
        scores = per_corpus(test.y, probs, test.corpora)
        fold_results.append(
            {
                "fold": k + 1,
                "test_speakers": sorted(test_speakers),
                "train_rows": int(len(train.X)),
                "seconds": round(time.time() - t0, 1),
                **{c: {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"]} for c, s in scores.items()},
            }
        )
        print(f"fold {k + 1}: " + ", ".join(f"{c} {s['accuracy']:.3f}" for c, s in scores.items()), flush=True)
    scored = np.ones(len(oof), dtype=bool)
    if only_fold is not None:
        scored = np.isin(feats.speakers[originals], sorted(folds[only_fold - 1]))
    oof, y, corpus_of = oof[scored], feats.y[originals][scored], feats.corpora[originals][scored]
    result: dict[str, Any] = {
        "protocol": (
            f"{n_folds}-fold speaker-held-out cross-validation; each corpus's speakers split into folds on "
            "their own; scored per corpus over the emotions it has; augmented copies from training speakers only"
            + (f"; fold {only_fold} only" if only_fold is not None else "")
        ),
        "architecture": arch_name,
        "train_settings": dataclasses.asdict(arch.train) | ({"augment": None} if not augment else {}),
        "features": extractor_to_json(extractor),
        "seeds": seeds,
        "corpora": {
            c: {
                "clips": int((corpus_of == c).sum()),
                "speakers": len({s for s in all_speakers if s.startswith(c + ":")}),
            }
            for c in sorted(set(corpus_of.tolist()))
        },
        "folds": fold_results,
        "cv": per_corpus(y, oof, corpus_of),
    }
    away: list[tuple[np.ndarray, np.ndarray]] = []
    if loco:
        result["leave_one_corpus_out"], away = leave_one_corpus_out(feats, arch=arch, seeds=seeds, epochs=epochs)
    if out_dir is not None:
        # Every held-out prediction, so a calibration recipe can be compared again without retraining.
        out_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            out_dir / "held_out_predictions.npz",
            oof=oof,
            y=y,
            speakers=feats.speakers[originals][scored],
            **{f"away{i}_p": p for i, (p, _) in enumerate(away)},
            **{f"away{i}_y": t for i, (_, t) in enumerate(away)},
        )
    result["calibration"] = calibrate(oof, y, speakers=feats.speakers[originals][scored], away=away, out_dir=out_dir)
    return result


def leave_one_corpus_out(
    feats: CorpusFeatures, *, arch: Architecture, seeds: int = 1, epochs: int | None = None
) -> tuple[dict[str, Any], list[tuple[np.ndarray, np.ndarray]]]:
    """Train on one corpus (all its speakers), test on every clip of the other, scored over shared
    emotions.  Also returns, per direction, the eight-emotion predictions on the target's clips of
    emotions the source has (what calibration away from home is fitted on)."""
    out = {}
    predictions = []
    names = sorted(set(feats.corpora.tolist()))
    for source in names:
        for target in names:
            if source == target:
                continue
            train = feats.select(feats.corpora == source)
            test = feats.select((feats.corpora == target) & ~feats.augmented)
            probs = _fit_predict(arch, train, test, seeds=seeds, epochs=epochs, desc=f"{source}->{target}")
            m = restricted_metrics(test.y, probs, corpora.SHARED_EMOTIONS)
            known = np.isin(test.y, np.unique(train.y))
            m["accuracy_all_eight"] = float((probs[known].argmax(axis=1) == test.y[known]).mean())
            m["ece_all_eight"] = expected_calibration_error(probs[known], test.y[known])
            m["predicted"] = {e: int((probs.argmax(axis=1) == i).sum()) for i, e in enumerate(EMOTIONS)}
            out[f"{source}->{target}"] = m
            predictions.append((probs[known], test.y[known]))
            print(f"leave-one-corpus-out {source}->{target}: accuracy {m['accuracy']:.3f}", flush=True)
    return out, predictions


def train_bundle(
    rows: list[Row],
    *,
    arch_name: str,
    out: Path,
    cv: dict[str, Any] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    seeds: int = 1,
    augment: bool = True,
    name: str | None = None,
    feature_params: dict[str, Any] | None = None,
    train_params: dict[str, Any] | None = None,
) -> Path:
    """Train ``arch_name`` on every row (and training copies) and write a bundle to ``out``; with ``seeds``
    above 1, that many heads (seeds ``seed``, ``seed + 1``, ...) merged into one model."""
    from mlcore.serving.bundle import save_bundle
    from mlcore.training.curves import confusion_png, history_artifacts

    arch = architecture(arch_name, train_params)
    extractor = get_extractor(arch.features, **(arch.feature_params | (feature_params or {})))
    recipe = arch.train.augment if augment else None
    speakers = set(corpora.speakers(rows))
    feats = corpus_features(rows, extractor=extractor, recipe=recipe, augment_speakers=speakers)
    if arch.train.centre_speakers:
        feats = feats.centred_by_speaker()
    t0 = time.time()
    fitted = [
        fit(arch, feats, epochs=epochs, seed=seed + k, desc=f"train {arch_name}", row_weights=feats.corpus_weights())
        for k in range(seeds)
    ]
    # One model from every head; the scaler (fitted on the same rows) and the curves shown are the first's.
    model, (_, scaler, history) = merge_heads([m for m, _, _ in fitted]), fitted[0]
    calibration = (cv or {}).get("calibration", {})
    config = {
        "name": name or f"{arch_name}-{time.strftime('%Y%m%d')}",
        "architecture": arch_name,
        "input_shape": list(feats.X.shape[1:]),
        "train": asdict(arch.train) | ({"epochs": epochs} if epochs else {}) | ({} if augment else {"augment": None}),
        "train_corpora": {
            c: sorted(s for s in speakers if s.startswith(c + ":")) for c in sorted({r.corpus for r in rows})
        },
        "seed": seed,
        "seeds": seeds,
        "train_seconds": round(time.time() - t0, 1),
        **DEFAULT_WINDOWS.to_config(),
        # The pretrained encoder the features need (name, revision, sha256), for people reading the bundle.
        "encoder": getattr(extractor, "encoder", None),
        "temperature": calibration.get("temperature", 1.0),
        "class_bias": calibration.get("class_bias"),
        "uncertain_rule": calibration.get("uncertain_rule"),
    }
    metrics = _bundle_metrics(cv) if cv else {}
    artifacts = history_artifacts(history)
    for corpus, m in (cv or {}).get("cv", {}).items():
        artifacts[f"confusion_{corpus}.png"] = confusion_png(
            m["confusion_matrix"], m["labels"], title=f"{corpus}, held-out speakers"
        )
    reliability = Path(cv["_dir"]) / "reliability.png" if cv and cv.get("_dir") else None
    if reliability is not None and reliability.is_file():
        artifacts["reliability.png"] = reliability.read_bytes()
    out = save_bundle(
        out,
        model=model,
        extractor=extractor,
        scaler=scaler,
        labels=EMOTIONS,
        config=config,
        metrics=metrics,
        artifacts=artifacts,
    )
    return out


def _bundle_metrics(cv: dict[str, Any]) -> dict[str, Any]:
    """The bundle's metrics.json: the full CV result under ``per_corpus`` / ``leave_one_corpus_out`` /
    ``calibration``, RAVDESS's pooled figures at the top level (what the admin charts), and a flat
    ``cv`` summary of every headline figure."""
    per_corpus = cv["cv"]
    head = per_corpus.get(corpora.RAVDESS) or next(iter(per_corpus.values()))
    summary: dict[str, Any] = {"protocol": cv["protocol"]}
    for corpus, m in per_corpus.items():
        summary[f"{corpus} accuracy"] = m["accuracy"]
        summary[f"{corpus} macro-F1"] = m["macro_f1"]
    for direction, m in cv.get("leave_one_corpus_out", {}).items():
        summary[f"{direction} accuracy (leave-one-corpus-out)"] = m["accuracy"]
    calibration = cv.get("calibration", {})
    if calibration:
        summary["expected calibration error (raw -> calibrated)"] = (
            f"{calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f}"
        )
    return {
        "accuracy": head["accuracy"],
        "macro_f1": head["macro_f1"],
        "per_class_accuracy": head["per_class_accuracy"],
        "labels": head["labels"],
        "confusion_matrix": head["confusion_matrix"],
        "headline_corpus": corpora.RAVDESS if corpora.RAVDESS in per_corpus else next(iter(per_corpus)),
        "cv": summary,
        "per_corpus": per_corpus,
        "leave_one_corpus_out": cv.get("leave_one_corpus_out", {}),
        "calibration": calibration,
        "folds": cv.get("folds", []),
        "architecture": cv.get("architecture"),
        "features": cv.get("features"),
        "seeds": cv.get("seeds"),
        "corpora": cv.get("corpora"),
    }


# --- command line -------------------------------------------------------------------------------


def _rows(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for corpus in args.corpora.split(","):
        root = getattr(args, corpus.replace("-", "_")) or corpora.corpus_dir(corpus)
        rows += corpora.list_corpus(corpus, root)
    return rows


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", default="whisper-mlp", help=f"one of {', '.join(ARCHITECTURES)} (default whisper-mlp)")
    p.add_argument("--corpora", default=",".join(corpora.CORPORA), help="comma-separated (default: all)")
    p.add_argument("--ravdess", type=Path, help="RAVDESS folder (default $SERWEB_RAVDESS_DIR)")
    p.add_argument("--crema-d", type=Path, help="CREMA-D folder (default $SERWEB_CREMA_D_DIR)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument(
        "--feature-params",
        type=json.loads,
        default=None,
        help="extractor parameters as JSON, e.g. '{\"layers\": [2, 3, 4]}'",
    )
    p.add_argument(
        "--train-params",
        type=json.loads,
        default=None,
        help='training settings overrides as JSON, e.g. \'{"centre_speakers": true, "augment": "encoder-mixed"}\'',
    )


def add_arguments_cv_corpora(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seeds", type=int, default=1, help="heads averaged per fold")
    p.add_argument("--no-loco", action="store_true", help="skip leave-one-corpus-out")
    p.add_argument("--only-fold", type=int, help="run this fold only (1-based), for slow models")
    p.add_argument("--out", type=Path, default=Path("cv.json"))


def run_cv_corpora(args: argparse.Namespace) -> int:
    result = cross_validate(
        _rows(args),
        arch_name=args.arch,
        n_folds=args.folds,
        seeds=args.seeds,
        epochs=args.epochs,
        loco=not args.no_loco,
        augment=not args.no_augment,
        out_dir=args.out.parent,
        feature_params=args.feature_params,
        only_fold=args.only_fold,
        train_params=args.train_params,
    )
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for corpus, m in result["cv"].items():
        print(f"{corpus}: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}")
    c = result["calibration"]
    print(f"calibration: T={c['temperature']:.2f}, ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f}")
    return 0


def add_arguments_train_corpora(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--hold-out",
        help="speakers left out of training, e.g. 'ravdess:17-20,crema-d:1041-1050' (a bundle to test on them)",
    )
    p.add_argument("--cv", type=Path, help="cv.json from cv-corpora: its calibration and figures go in the bundle")
    p.add_argument("--seeds", type=int, help="heads merged into the bundle (default: as many as --cv averaged, else 1)")
    p.add_argument("--name")
    p.add_argument("--out", type=Path, required=True)


def run_train_corpora(args: argparse.Namespace) -> int:
    cv = None
    if args.cv:
        cv = json.loads(args.cv.read_text())
        cv["_dir"] = str(args.cv.parent)
    rows = _rows(args)
    if args.hold_out:
        held = corpora.parse_speakers(args.hold_out)
        rows = [r for r in rows if r.speaker not in held]
    train_bundle(
        rows,
        arch_name=args.arch,
        out=args.out,
        cv=cv,
        epochs=args.epochs,
        seeds=args.seeds or int((cv or {}).get("seeds") or 1),
        augment=not args.no_augment,
        name=args.name,
        feature_params=args.feature_params,
        train_params=args.train_params,
    )
    print(f"bundle written to {args.out}")
    return 0
