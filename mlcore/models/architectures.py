"""Keras 3 model builders, registered by name with the features and training settings they expect.

- ``cnn1d``: the original 1D-CNN app (five Conv1D blocks, ~7.2 M parameters) on ``zcr-rms-mfcc``.
- ``cnn-bilstm``: the original CNN+BiLSTM app (Conv1D 64/128/128, BiLSTM 128 -> 64, MLP) on
  ``spectral-stack``.
- ``stats-mlp``: serweb's model: a regularised MLP on ``logmel-stats`` utterance functionals.  Small
  enough to serve from NumPy (``mlcore.models.runtime``) without TensorFlow.
- ``logmel-tcn``: a small temporal CNN on ``logmel-frames`` with SpecAugment-style masking.
- ``whisper-mlp``: serweb's default: a small MLP head on Whisper-base encoder layers pooled over
  speech (``whisper-stats``), served from NumPy; ``whisper-mlp-wide`` and ``whisper-linear`` are the
  alternatives it was measured against.

TensorFlow/Keras are imported inside the builders only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlcore.errors import MlcoreError
from mlcore.labels import N_CLASSES


@dataclass(frozen=True)
class TrainSettings:
    """How an architecture is trained (the original apps' recipes for the reproductions)."""

    batch_size: int = 64
    epochs: int = 40
    learning_rate: float = 1e-3
    clipnorm: float | None = None
    label_smoothing: float = 0.0
    early_stopping_patience: int | None = None  # needs validation actors
    reduce_lr_patience: int | None = None  # ReduceLROnPlateau on validation (or training) loss
    augment: str | None = None  # recipe name in mlcore.data.augment
    mixup_alpha: float = 0.0
    weight_decay: float = 0.0
    spec_augment: bool = False  # time/frequency masks on (batch, frames, bands) training batches
    # Each training speaker's features centred on the population's mean (their own mean removed), so the
    # head learns what changes with emotion within a voice, not which voice it is (serving: unchanged).
    centre_speakers: bool = False
    # Strength of the reversed gradient from a branch that learns the training speakers
    # (``mlcore.models.adversary``); 0 trains the head alone.
    speaker_adversary: float = 0.0


@dataclass(frozen=True)
class Architecture:
    name: str
    features: str
    builder: Callable[..., Any]
    train: TrainSettings = field(default_factory=TrainSettings)
    feature_params: dict[str, Any] = field(default_factory=dict)


def _cnn1d(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    import keras
    from keras import layers as L

    def block(x: Any, filters: int, kernel: int, pool: int, dropout: float) -> Any:
        x = L.Conv1D(filters, kernel, padding="same", activation="relu")(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling1D(pool_size=pool, strides=2, padding="same")(x)
        return L.Dropout(dropout)(x) if dropout else x

    inputs = keras.Input(shape=input_shape)
    x = L.Reshape((input_shape[0], 1))(inputs) if len(input_shape) == 1 else inputs
    x = block(x, 512, 5, 5, 0.0)
    x = block(x, 512, 5, 5, 0.2)
    x = block(x, 256, 5, 5, 0.0)
    x = block(x, 256, 3, 5, 0.2)
    x = block(x, 128, 3, 3, 0.2)
    x = L.Flatten()(x)
    x = L.Dense(512, activation="relu")(x)
    x = L.BatchNormalization()(x)
    outputs = L.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn1d")


def _cnn_bilstm(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    import keras
    from keras import layers as L

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters in (64, 128, 128):
        x = L.Conv1D(filters, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
    x = L.Bidirectional(L.LSTM(128, return_sequences=True))(x)
    x = L.Bidirectional(L.LSTM(64))(x)
    x = L.Dense(128, activation="relu")(x)
    x = L.Dropout(0.4)(x)
    x = L.Dense(64, activation="relu")(x)
    x = L.Dropout(0.3)(x)
    outputs = L.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn_bilstm")


def _mlp(
    input_shape: tuple[int, ...],
    n_classes: int,
    *,
    name: str,
    hidden: tuple[tuple[int, float], ...],
    input_noise: float = 0.0,
    input_dropout: float = 0.0,
) -> Any:
    """Dense -> BatchNorm -> GELU -> Dropout blocks (``hidden``: units, dropout) and a softmax layer: a
    linear chain, so ``mlcore.models.runtime`` serves it from NumPy."""
    import keras
    from keras import layers as L

    inputs = keras.Input(shape=input_shape)
    x = L.GaussianNoise(input_noise)(inputs) if input_noise else inputs
    x = L.Dropout(input_dropout)(x) if input_dropout else x
    for units, dropout in hidden:
        x = L.Dense(units)(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("gelu")(x)
        x = L.Dropout(dropout)(x)
    outputs = L.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def _stats_mlp(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    return _mlp(input_shape, n_classes, name="stats_mlp", hidden=((512, 0.4), (256, 0.4)), input_noise=0.15)


def _encoder_mlp_wide(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    """A wider MLP head on pooled encoder layers: +3.5 points inside RAVDESS, -2 to -5 across corpora."""
    return _mlp(input_shape, n_classes, name="encoder_mlp_wide", hidden=((256, 0.4),), input_dropout=0.2)


def _encoder_mlp(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    """serweb's head on pooled encoder layers (``whisper-stats``): narrow and strongly regularised, the
    best of the heads tried at leave-one-corpus-out; served from NumPy."""
    return _mlp(input_shape, n_classes, name="encoder_mlp", hidden=((128, 0.5),), input_dropout=0.4)


def _encoder_mlp_mix(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    """``whisper-mlp`` whose first Dense reads a learned weighted sum of the encoder layers
    (``mlcore.models.layer_mix``), folded into a plain Dense once trained."""
    import keras
    from keras import layers as L

    from mlcore.models.layer_mix import layer_mix_dense
    from mlcore.models.whisper import WIDTH

    inputs = keras.Input(shape=input_shape)
    x = L.Dropout(0.4)(inputs)
    x = layer_mix_dense(128, input_shape[0] // WIDTH)(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("gelu")(x)
    x = L.Dropout(0.5)(x)
    outputs = L.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="encoder_mlp_mix")


def _encoder_linear(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    """Multinomial logistic regression on pooled encoder layers (with input dropout); served from NumPy."""
    import keras
    from keras import layers as L

    inputs = keras.Input(shape=input_shape)
    x = L.Dropout(0.2)(inputs)
    outputs = L.Dense(n_classes, activation="softmax", kernel_regularizer=keras.regularizers.L2(1e-3))(x)
    return keras.Model(inputs, outputs, name="encoder_linear")


def _logmel_tcn(input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    """Temporal CNN on (frames, bands) log-mel, ~160 k parameters.

    A linear chain (no branches) so ``mlcore.models.runtime`` can serve it from NumPy.
    """
    import keras
    from keras import layers as L

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters, kernel, pool in ((96, 5, True), (96, 5, True), (96, 5, True), (128, 3, False)):
        x = L.Conv1D(filters, kernel, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        if pool:
            x = L.MaxPooling1D(2)(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dropout(0.3)(x)
    outputs = L.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="logmel_tcn")


# The default head's recipe, shared by the layer-mixing head it is compared with.
_ENCODER_MLP_TRAIN = TrainSettings(
    batch_size=128,
    epochs=40,
    learning_rate=1e-3,
    label_smoothing=0.1,
    augment="encoder-mixed",
    mixup_alpha=0.2,
    weight_decay=1e-2,
)

ARCHITECTURES: dict[str, Architecture] = {
    "cnn1d": Architecture(
        "cnn1d",
        "zcr-rms-mfcc",
        _cnn1d,
        # Early stopping on two held-out training actors keeps the 90 s epochs affordable on 2 cores.
        TrainSettings(batch_size=64, epochs=40, reduce_lr_patience=2, early_stopping_patience=5, augment="cnn1d"),
    ),
    "cnn-bilstm": Architecture(
        "cnn-bilstm",
        "spectral-stack",
        _cnn_bilstm,
        TrainSettings(
            batch_size=32,
            epochs=50,
            clipnorm=1.0,
            label_smoothing=0.1,
            early_stopping_patience=8,
            augment="cnn-bilstm",
        ),
    ),
    "stats-mlp": Architecture(
        "stats-mlp",
        "logmel-stats",
        _stats_mlp,
        TrainSettings(
            batch_size=64,
            epochs=80,
            learning_rate=1e-3,
            label_smoothing=0.1,
            augment="serweb",
            mixup_alpha=0.2,
            weight_decay=1e-4,
        ),
    ),
    "logmel-tcn": Architecture(
        "logmel-tcn",
        "logmel-frames",
        _logmel_tcn,
        TrainSettings(
            batch_size=32,
            epochs=50,
            learning_rate=1e-3,
            label_smoothing=0.1,
            # Unlike the stats-MLP, the frame model gains from pitch/speed copies (+0.14 on fold 5).
            augment="serweb",
            mixup_alpha=0.2,
            weight_decay=1e-4,
            spec_augment=True,
        ),
    ),
    "whisper-mlp-wide": Architecture(
        "whisper-mlp-wide",
        "whisper-stats",
        _encoder_mlp_wide,
        TrainSettings(
            batch_size=128,
            epochs=40,
            learning_rate=1e-3,
            label_smoothing=0.1,
            augment="encoder",
            mixup_alpha=0.2,
            weight_decay=1e-3,
        ),
    ),
    "whisper-mlp": Architecture(
        "whisper-mlp",
        "whisper-stats",
        _encoder_mlp,
        _ENCODER_MLP_TRAIN,
    ),
    "whisper-mlp-mix": Architecture(
        "whisper-mlp-mix",
        "whisper-stats",
        _encoder_mlp_mix,
        _ENCODER_MLP_TRAIN,
    ),
    "whisper-linear": Architecture(
        "whisper-linear",
        "whisper-stats",
        _encoder_linear,
        TrainSettings(batch_size=128, epochs=30, learning_rate=1e-3, label_smoothing=0.1, augment="encoder"),
    ),
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise MlcoreError(f"Unknown architecture {name!r}; choose one of {', '.join(sorted(ARCHITECTURES))}.") from None


def build(name: str, *, input_shape: tuple[int, ...], n_classes: int = N_CLASSES) -> Any:
    """Build the uncompiled Keras model ``name`` for inputs of ``input_shape`` (no batch axis)."""
    return get_architecture(name).builder(tuple(input_shape), n_classes)
