"""The RAVDESS-only protocol (history; the shipped models use ``crosscorpus``): training and
cross-validation, always split by actor.

``python -m mlcore train --data DIR --arch NAME --out BUNDLE [--actors 1-20] [--epochs N]``
``python -m mlcore cv --data DIR --arch NAME --folds 5 [--out results.json]``

Augmentation is applied after the split, to clips of training actors only: a clip's augmented
copies enter a fold's training set only when its actor is a training actor of that fold, and are
never evaluated.  Features of originals and augmented copies are cached on disk (NumPy ``.npy``,
no pickles) because every fold reuses them.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.data.corpora import RAVDESS, Row
from mlcore.data.datasets import Clip, actor_folds, list_clips, parse_actors
from mlcore.features.registry import extractor_to_json, get_extractor
from mlcore.labels import EMOTIONS
from mlcore.models.architectures import ARCHITECTURES, get_architecture
from mlcore.training.curves import history_artifacts
from mlcore.training.feature_cache import corpus_features
from mlcore.training.fit import FeatureSet, fit, predict_proba
from mlcore.windowing import DEFAULT_WINDOWS


def extract_features(
    clips: list[Clip],
    *,
    extractor: Any,
    recipe: str | None = None,
    augment_actors: set[int] | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> FeatureSet:
    """Features for RAVDESS ``clips``; augmented copies only for clips whose actor is in ``augment_actors``
    (the cached multi-corpus extraction of ``mlcore.corpus_features``, with actors as numbers)."""
    rows = [Row(c.path, c.emotion, f"{RAVDESS}:{c.actor:02d}", RAVDESS) for c in clips]
    feats = corpus_features(
        rows,
        extractor=extractor,
        recipe=recipe,
        augment_speakers={f"{RAVDESS}:{a:02d}" for a in augment_actors or ()},
        seed=seed,
        cache_dir=cache_dir,
        jobs=jobs,
        progress=progress,
    )
    actors = np.array([int(s.split(":")[1]) for s in feats.speakers])
    return FeatureSet(feats.X, feats.y, actors, feats.augmented)


def fold_sets(
    feats: FeatureSet, *, test_actors: set[int], val_actors: int = 0
) -> tuple[FeatureSet, FeatureSet | None, FeatureSet]:
    """Train / validation / test rows for one fold, split by actor.

    Training rows (originals and augmented copies) come only from training actors; validation and
    test rows are originals only, so no augmented copy of a held-out clip is ever seen or scored.
    """
    train_actors, held = split_validation(set(feats.actors.tolist()) - set(test_actors), n=val_actors)
    train_set = feats.select(np.isin(feats.actors, list(train_actors)))
    val_set = feats.select(np.isin(feats.actors, list(held)) & ~feats.augmented) if held else None
    test_set = feats.select(np.isin(feats.actors, list(test_actors)) & ~feats.augmented)
    return train_set, val_set, test_set


def split_validation(train_actors: set[int], *, n: int) -> tuple[set[int], set[int]]:
    """Hold out ``n`` training actors (one male, one female when n == 2) for early stopping."""
    ordered = sorted(train_actors)
    val = set(ordered[-n:]) if n else set()
    return train_actors - val, val


def train_bundle(
    data: Path,
    *,
    arch_name: str,
    out: Path,
    actors: set[int],
    epochs: int | None = None,
    val_actors: int = 0,
    seed: int = 0,
    augment: bool = True,
    name: str | None = None,
    extra_metrics: dict[str, Any] | None = None,
) -> Path:
    """Train ``arch_name`` on ``actors`` and write a bundle to ``out``."""
    from mlcore.serving.bundle import save_bundle

    arch = get_architecture(arch_name)
    extractor = get_extractor(arch.features, **arch.feature_params)
    clips = list_clips(data, actors=actors)
    train_actors, held = split_validation(actors, n=val_actors)
    recipe = arch.train.augment if augment else None
    feats = extract_features(clips, extractor=extractor, recipe=recipe, augment_actors=train_actors, seed=seed)
    train_set = feats.select(np.isin(feats.actors, list(train_actors)))
    val_set = feats.select(np.isin(feats.actors, list(held)) & ~feats.augmented) if held else None
    t0 = time.time()
    model, scaler, history = fit(arch, train_set, val=val_set, epochs=epochs, seed=seed, desc=f"train {arch_name}")
    config = {
        "name": name or f"{arch_name}-{time.strftime('%Y%m%d')}",
        "architecture": arch_name,
        "input_shape": list(train_set.X.shape[1:]),
        "train": asdict(arch.train) | ({"epochs": epochs} if epochs else {}) | ({} if augment else {"augment": None}),
        "train_actors": sorted(train_actors),
        "val_actors": sorted(held),
        "seed": seed,
        "train_seconds": round(time.time() - t0, 1),
        **DEFAULT_WINDOWS.to_config(),
    }
    save_bundle(
        out,
        model=model,
        extractor=extractor,
        scaler=scaler,
        labels=EMOTIONS,
        config=config,
        metrics=extra_metrics or {},
        artifacts=history_artifacts(history),
    )
    return Path(out)


def cross_validate(
    data: Path,
    *,
    arch_name: str,
    n_folds: int = 5,
    actors: set[int] | None = None,
    only_folds: list[int] | None = None,
    epochs: int | None = None,
    val_actors: int = 0,
    seed: int = 0,
    augment: bool = True,
) -> dict[str, Any]:
    """K-fold cross-validation by actor.  Returns per-fold and pooled metrics."""
    from mlcore.training.scoring import compute_metrics

    arch = get_architecture(arch_name)
    extractor = get_extractor(arch.features, **arch.feature_params)
    clips = list_clips(data, actors=actors)
    all_actors = sorted({c.actor for c in clips})
    folds = actor_folds(all_actors, n_folds=n_folds)
    # Copies are made for every actor once (cached), but each fold trains only on its training actors'.
    recipe = arch.train.augment if augment else None
    feats = extract_features(clips, extractor=extractor, recipe=recipe, augment_actors=set(all_actors), seed=seed)
    fold_results = []
    y_true: list[int] = []
    y_prob: list[np.ndarray] = []
    for k, test_actors in enumerate(folds):
        if only_folds and k not in only_folds:
            continue
        train_set, val_set, test_set = fold_sets(feats, test_actors=set(test_actors), val_actors=val_actors)
        t0 = time.time()
        model, scaler, history = fit(
            arch, train_set, val=val_set, epochs=epochs, seed=seed + k, desc=f"fold {k + 1}/{n_folds}"
        )
        probs = predict_proba(model, scaler, test_set.X)
        m = compute_metrics(test_set.y, probs)
        fold_results.append(
            {
                "fold": k + 1,
                "test_actors": sorted(test_actors),
                "train_clips": int(len(train_set.X)),
                "test_clips": int(len(test_set.X)),
                "epochs_run": len(history.get("loss", [])),
                "seconds": round(time.time() - t0, 1),
                "accuracy": m["accuracy"],
                "macro_f1": m["macro_f1"],
            }
        )
        print(
            f"fold {k + 1}: actors {sorted(test_actors)} accuracy {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f}",
            flush=True,
        )
        y_true.extend(test_set.y.tolist())
        y_prob.append(probs)
    pooled = compute_metrics(np.array(y_true), np.concatenate(y_prob))
    accs = [f["accuracy"] for f in fold_results]
    f1s = [f["macro_f1"] for f in fold_results]
    return {
        "protocol": f"{n_folds}-fold cross-validation by actor over actors {all_actors[0]}-{all_actors[-1]}",
        "architecture": arch_name,
        "features": extractor_to_json(extractor),
        "folds": fold_results,
        "mean_accuracy": float(np.mean(accs)),
        "std_accuracy": float(np.std(accs)),
        "mean_macro_f1": float(np.mean(f1s)),
        "pooled": pooled,
    }


def _common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="RAVDESS folder (Actor_XX subfolders)")
    p.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHITECTURES)}")
    p.add_argument("--epochs", type=int, default=None, help="override the architecture's epoch count")
    p.add_argument("--val-actors", type=int, default=None, help="training actors held out for early stopping")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-augment", action="store_true", help="skip augmentation (quick runs)")


def _val_actors(args: argparse.Namespace) -> int:
    if args.val_actors is not None:
        return args.val_actors
    return 2 if get_architecture(args.arch).train.early_stopping_patience else 0


def add_arguments_train(p: argparse.ArgumentParser) -> None:
    _common_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--actors", default="1-20", help="training actors, e.g. 1-16")
    p.add_argument("--name", default=None, help="model version name stored in the bundle")
    p.add_argument("--cv-metrics", type=Path, default=None, help="cv results JSON to embed in metrics.json")


def run_train(args: argparse.Namespace) -> int:
    extra = cv_summary(json.loads(args.cv_metrics.read_text())) if args.cv_metrics else None
    out = train_bundle(
        args.data,
        arch_name=args.arch,
        out=args.out,
        actors=parse_actors(args.actors),
        epochs=args.epochs,
        val_actors=_val_actors(args),
        seed=args.seed,
        augment=not args.no_augment,
        name=args.name,
        extra_metrics=extra,
    )
    print(f"bundle written to {out}")
    return 0


def cv_summary(cv: dict[str, Any]) -> dict[str, Any]:
    """Bundle metrics from a cross-validation run: the pooled out-of-fold figures at the top level
    (what the admin shows), labelled with their protocol, and the whole run under ``cv``."""
    return {**cv["pooled"], "source": cv["protocol"], "mean_fold_accuracy": cv["mean_accuracy"], "cv": cv}


def add_arguments_cv(p: argparse.ArgumentParser) -> None:
    _common_arguments(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--only-fold", type=int, action="append", default=None, help="run only fold K (1-based); repeatable")
    p.add_argument("--actors", default=None, help="restrict to these actors, e.g. 1-8")
    p.add_argument("--out", type=Path, default=None, help="write the results JSON here")


def run_cv(args: argparse.Namespace) -> int:
    result = cross_validate(
        args.data,
        arch_name=args.arch,
        n_folds=args.folds,
        actors=parse_actors(args.actors) if args.actors else None,
        only_folds=[k - 1 for k in args.only_fold] if args.only_fold else None,
        epochs=args.epochs,
        val_actors=_val_actors(args),
        seed=args.seed,
        augment=not args.no_augment,
    )
    print(
        f"{args.arch}: accuracy {result['mean_accuracy']:.3f} ± {result['std_accuracy']:.3f}, "
        f"macro-F1 {result['mean_macro_f1']:.3f} (pooled accuracy {result['pooled']['accuracy']:.3f})"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0
