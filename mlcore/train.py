"""Training and cross-validation, always split by actor.

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.architectures import Architecture, get_architecture
from mlcore.corpora import RAVDESS, Row
from mlcore.corpus_features import corpus_features
from mlcore.datasets import Clip, actor_folds, list_clips, parse_actors
from mlcore.features import Standardizer, extractor_to_json, get_extractor
from mlcore.labels import EMOTIONS, N_CLASSES

N_AUGMENTED_MAX = 8


@dataclass
class FeatureSet:
    """Features of clips (``X``: (n, *feature_shape)), labels, actors, and whether a row is augmented."""

    X: np.ndarray
    y: np.ndarray
    actors: np.ndarray
    augmented: np.ndarray

    def select(self, mask: np.ndarray) -> FeatureSet:
        return FeatureSet(self.X[mask], self.y[mask], self.actors[mask], self.augmented[mask])


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


def class_weights(y: np.ndarray, *, n_classes: int = N_CLASSES) -> np.ndarray:
    """Balanced class weights (the neutral class has half the clips of the others).  Shape (n_classes,)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = 1
    return (counts.sum() / (n_classes * counts)).astype(np.float32)


def spec_augment(
    x: np.ndarray,
    *,
    rng: np.random.Generator,
    time_masks: int = 2,
    max_time: int = 20,
    freq_masks: int = 2,
    max_freq: int = 8,
) -> np.ndarray:
    """SpecAugment-style masking of standardised (batch, frames, bands) features: each example gets
    ``time_masks`` runs of up to ``max_time`` frames and ``freq_masks`` runs of up to ``max_freq`` bands
    set to 0 (the training mean).  Returns a masked copy of the same shape.
    """
    x = x.copy()
    n, frames, bands = x.shape
    for i in range(n):
        for _ in range(time_masks):
            width = int(rng.integers(0, min(max_time, frames) + 1))
            start = int(rng.integers(0, frames - width + 1))
            x[i, start : start + width, :] = 0.0
        for _ in range(freq_masks):
            width = int(rng.integers(0, min(max_freq, bands) + 1))
            start = int(rng.integers(0, bands - width + 1))
            x[i, :, start : start + width] = 0.0
    return x


def _training_sequence(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    mixup_alpha: float,
    seed: int,
    masking: bool = False,
    row_weights: np.ndarray | None = None,
) -> Any:
    import keras

    weights = class_weights(y)
    rows = np.ones(len(y), dtype=np.float32) if row_weights is None else row_weights.astype(np.float32)
    onehot = np.eye(N_CLASSES, dtype=np.float32)[y]

    class MixupBatches(keras.utils.PyDataset):
        """Shuffled batches with class-balanced sample weights, optional mixup and optional SpecAugment."""

        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(X))

        def __len__(self) -> int:
            return int(np.ceil(len(X) / batch_size))

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            xb, yb, wb = X[idx], onehot[idx], weights[y[idx]] * rows[idx]
            if mixup_alpha > 0:
                lam = self.rng.beta(mixup_alpha, mixup_alpha, size=len(idx)).astype(np.float32)
                lam = np.maximum(lam, 1 - lam)
                j = self.rng.permutation(len(idx))
                shape = (-1,) + (1,) * (xb.ndim - 1)
                xb = lam.reshape(shape) * xb + (1 - lam.reshape(shape)) * xb[j]
                yb = lam[:, None] * yb + (1 - lam[:, None]) * yb[j]
                wb = lam * wb + (1 - lam) * wb[j]
            if masking and xb.ndim == 3:
                xb = spec_augment(xb, rng=self.rng)
            return xb, yb, wb

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(X))

    return MixupBatches()


def _epoch_bar(epochs: int, desc: str) -> Any:
    import keras
    from tqdm import tqdm

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.bar = tqdm(total=epochs, desc=desc, unit="epoch")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in (logs or {}).items() if "accuracy" in k or "loss" in k})
            self.bar.update(1)

        def on_train_end(self, logs: Any = None) -> None:
            self.bar.close()

    return EpochBar()


def fit(
    arch: Architecture,
    train: FeatureSet,
    *,
    val: FeatureSet | None = None,
    epochs: int | None = None,
    seed: int = 0,
    desc: str = "train",
    checkpoint: Path | None = None,
    row_weights: np.ndarray | None = None,
) -> tuple[Any, Standardizer, dict[str, list[float]]]:
    """Fit ``arch`` on ``train`` (standardiser fitted on ``train`` only).  Returns model, scaler, history.

    Rows weigh by their class's balanced weight, times ``row_weights`` when given (e.g. per corpus).
    """
    import keras

    keras.utils.set_random_seed(seed)
    s = arch.train
    scaler = Standardizer.fit(train.X)
    Xtr = scaler.transform(train.X)
    model = get_architecture(arch.name).builder(Xtr.shape[1:], N_CLASSES)
    opt_kwargs: dict[str, Any] = {"learning_rate": s.learning_rate}
    if s.clipnorm:
        opt_kwargs["clipnorm"] = s.clipnorm
    optimizer = (
        keras.optimizers.AdamW(weight_decay=s.weight_decay, **opt_kwargs)
        if s.weight_decay
        else keras.optimizers.Adam(**opt_kwargs)
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing),
        metrics=["accuracy"],
    )
    callbacks: list[Any] = [_epoch_bar(epochs or s.epochs, desc)]
    validation = None
    monitor = "loss"
    if val is not None and len(val.X):
        validation = (scaler.transform(val.X), np.eye(N_CLASSES, dtype=np.float32)[val.y])
        monitor = "val_loss"
    if s.reduce_lr_patience:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.4, patience=s.reduce_lr_patience, min_lr=1e-6)
        )
    if s.early_stopping_patience and validation is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=s.early_stopping_patience, restore_best_weights=True
            )
        )
        if checkpoint is not None:
            callbacks.append(
                keras.callbacks.ModelCheckpoint(
                    str(checkpoint), monitor="val_loss", save_best_only=True, save_weights_only=True
                )
            )
    data = _training_sequence(
        Xtr,
        train.y,
        batch_size=s.batch_size,
        mixup_alpha=s.mixup_alpha,
        seed=seed,
        masking=s.spec_augment,
        row_weights=row_weights,
    )
    hist = model.fit(data, validation_data=validation, epochs=epochs or s.epochs, callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    return model, scaler, history


def predict_proba(model: Any, scaler: Standardizer, X: np.ndarray) -> np.ndarray:
    """Model probabilities for feature rows.  Shape (n, n_classes)."""
    return np.asarray(model.predict(scaler.transform(X), batch_size=256, verbose=0))


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


def save_curves(history: dict[str, list[float]], out: Path) -> None:
    """history.json and curves.png (loss/accuracy per epoch) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for k, v in history.items():
            if k.endswith(key):
                ax.plot(range(1, len(v) + 1), v, label=k)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=80)
    plt.close(fig)


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
    from mlcore.bundle import save_bundle, write_manifest

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
        "window_s": 4.0,
        "hop_s": 2.0,
    }
    save_bundle(
        out,
        model=model,
        extractor=extractor,
        scaler=scaler,
        labels=EMOTIONS,
        config=config,
        metrics=extra_metrics or {},
    )
    save_curves(history, Path(out))
    write_manifest(Path(out))
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
    from mlcore.evaluate import compute_metrics

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
    p.add_argument("--arch", required=True, help="cnn1d, cnn-bilstm or stats-mlp")
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
