"""Fitting a Keras model on feature rows: class-balanced weights, mixup and SpecAugment batches, and
the optimiser settings each architecture names.  TensorFlow is imported inside ``fit`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.features.standardizer import Standardizer
from mlcore.labels import N_CLASSES
from mlcore.models import adversary, layer_mix
from mlcore.models.architectures import Architecture, get_architecture


@dataclass
class FeatureSet:
    """Features of clips (``X``: (n, *feature_shape)), labels, actors, and whether a row is augmented."""

    X: np.ndarray
    y: np.ndarray
    actors: np.ndarray
    augmented: np.ndarray

    def select(self, mask: np.ndarray) -> FeatureSet:
        return FeatureSet(self.X[mask], self.y[mask], self.actors[mask], self.augmented[mask])


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
    speakers: np.ndarray | None = None,
) -> Any:
    """Batches of (x, target, weight); with ``speakers`` (an index per row) the target and weight are
    dicts holding the emotion and the speaker (``mlcore.models.adversary``)."""
    import keras

    from mlcore.models.adversary import EMOTION, SPEAKER

    weights = class_weights(y)
    rows = np.ones(len(y), dtype=np.float32) if row_weights is None else row_weights.astype(np.float32)
    onehot = np.eye(N_CLASSES, dtype=np.float32)[y]
    speaker_onehot = None if speakers is None else np.eye(int(speakers.max()) + 1, dtype=np.float32)[speakers]

    class MixupBatches(keras.utils.PyDataset):
        """Shuffled batches with class-balanced sample weights, optional mixup and optional SpecAugment."""

        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(X))

        def __len__(self) -> int:
            return int(np.ceil(len(X) / batch_size))

        def __getitem__(self, i: int) -> tuple[np.ndarray, Any, Any]:
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            xb, yb, wb = X[idx], onehot[idx], weights[y[idx]] * rows[idx]
            sb = None if speaker_onehot is None else speaker_onehot[idx]
            if mixup_alpha > 0:
                lam = self.rng.beta(mixup_alpha, mixup_alpha, size=len(idx)).astype(np.float32)
                lam = np.maximum(lam, 1 - lam)
                j = self.rng.permutation(len(idx))
                shape = (-1,) + (1,) * (xb.ndim - 1)
                xb = lam.reshape(shape) * xb + (1 - lam.reshape(shape)) * xb[j]
                yb = lam[:, None] * yb + (1 - lam[:, None]) * yb[j]
                wb = lam * wb + (1 - lam) * wb[j]
                sb = None if sb is None else lam[:, None] * sb + (1 - lam[:, None]) * sb[j]
            if masking and xb.ndim == 3:
                xb = spec_augment(xb, rng=self.rng)
            if sb is None:
                return xb, yb, wb
            return xb, {EMOTION: yb, SPEAKER: sb}, {EMOTION: wb, SPEAKER: wb}

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
    With ``speaker_adversary`` in the settings, a speaker branch trains beside the head behind a gradient
    reversal (``mlcore.models.adversary``); the model returned is the head alone.
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
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing)
    speakers = None
    trained = model
    if s.speaker_adversary:
        if val is not None:
            raise ValueError("speaker-adversarial training takes no validation set (its speakers are unseen)")
        names = train.speakers if hasattr(train, "speakers") else train.actors
        speakers = np.unique(names, return_inverse=True)[1]
        trained = adversary.with_speaker_adversary(model, int(speakers.max()) + 1, s.speaker_adversary)
        loss = {adversary.EMOTION: loss, adversary.SPEAKER: keras.losses.CategoricalCrossentropy()}
    trained.compile(
        optimizer=optimizer,
        loss=loss,
        metrics={adversary.EMOTION: ["accuracy"]} if speakers is not None else ["accuracy"],
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
        speakers=speakers,
    )
    hist = trained.fit(data, validation_data=validation, epochs=epochs or s.epochs, callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if (mix := layer_mix.mix_layer(model)) is not None:
        history["layer_weights"] = [float(w) for w in mix.layer_weights()]
        print(f"{desc}: layer weights {[round(w, 3) for w in history['layer_weights']]}", flush=True)
        model = layer_mix.fold(model)
    return model, scaler, history


def predict_proba(model: Any, scaler: Standardizer, X: np.ndarray) -> np.ndarray:
    """Model probabilities for feature rows.  Shape (n, n_classes)."""
    return np.asarray(model.predict(scaler.transform(X), batch_size=256, verbose=0))
