"""Synthetic speech and small untrained bundles: checking that a bundle runs, and testing and timing the
engine without a trained model.

``voiced_clip`` is the one speech-like test signal of the project (tests, benchmarks and the
platform's check on a newly registered model all use it); ``build_test_bundle`` the one small bundle
with random weights.  TensorFlow is imported only when a bundle is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlcore.errors import BundleError, MlcoreError
from mlcore.labels import EMOTIONS
from mlcore.windowing import DEFAULT_WINDOWS


def voiced_clip(
    *, sr: int = 22050, seconds: float = 2.0, f0: float = 160.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """A speech-like harmonic tone with vibrato and syllable-rate amplitude modulation, peak 0.3, with
    faint noise (-30 dB) when ``rng`` is given.  Shape (int(seconds * sr),), float32."""
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    y *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    if rng is not None:
        y += 0.01 * rng.standard_normal(t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def smoke_test(bundle: str | Path) -> None:
    """Load the bundle and analyse a 3 s voiced clip; raise ``BundleError`` when it cannot be loaded or
    run, or when its output is not a probability for each of the eight emotions."""
    from mlcore.serving.predictor import Predictor

    try:
        predictor = Predictor(bundle)
        # A synthetic clip the voice detector rightly refuses: the check is that the model runs.
        analysis = predictor.analyse_many([voiced_clip(sr=predictor.sr, seconds=3.0)], require_voice=False)[0]
        if isinstance(analysis, MlcoreError):
            raise analysis
    except MlcoreError:
        raise
    except Exception as e:
        raise BundleError(f"The model could not be loaded or run: {type(e).__name__}: {e}") from e
    probs = analysis.probabilities
    values = np.array([probs.get(e, np.nan) for e in EMOTIONS], dtype=np.float64)
    if set(probs) != set(EMOTIONS) or not np.all(np.isfinite(values)) or abs(values.sum() - 1) > 1e-3:
        raise BundleError("The model's output on a test clip is not a probability for each of the eight emotions.")


def build_test_bundle(
    out: str | Path,
    *,
    name: str = "tiny-test",
    seed: int = 0,
    features: str = "logmel-stats",
    feature_params: dict[str, Any] | None = None,
    architecture: str | None = None,
    fit_scaler: bool = False,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """A real, verified bundle with random weights.

    The model is a single softmax layer over ``features`` or, with ``architecture``, that architecture
    untrained (its first Dense layer scaled down so the softmax stays away from one-hot, as a trained
    one's does).  The scaler divides by 50 or, with ``fit_scaler``, is fitted on voiced clips at six
    pitches and levels.  ``config`` and ``metrics`` add to the bundle's own.
    """
    import keras

    from mlcore.features.registry import get_extractor
    from mlcore.features.standardizer import Standardizer
    from mlcore.models.architectures import build
    from mlcore.serving.bundle import save_bundle

    extractor = get_extractor(features, **(feature_params or {}))
    dim = int(np.prod(extractor.output_shape))
    if fit_scaler:
        rng = np.random.default_rng(seed)
        sr = extractor.needs.sr
        clips = [voiced_clip(sr=sr, seconds=1.0, f0=f0, rng=rng) * g for f0 in (100.0, 170.0, 260.0) for g in (1, 0.2)]
        scaler = Standardizer.fit(np.stack([extractor(c) for c in clips]))
    else:
        channels = extractor.output_shape[-1]
        scaler = Standardizer(tuple([0.0] * channels), tuple([50.0] * channels))
    keras.utils.set_random_seed(seed)
    if architecture:
        model = build(architecture, input_shape=extractor.output_shape)
        dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
        kernel, bias = dense.get_weights()
        dense.set_weights([kernel * 0.1, bias])
    else:
        inputs = keras.Input((dim,))
        model = keras.Model(inputs, keras.layers.Dense(len(EMOTIONS), activation="softmax")(inputs))
    base = {"name": name, "architecture": architecture or "stats-mlp", **DEFAULT_WINDOWS.to_config()}
    return save_bundle(
        out,
        model=model,
        extractor=extractor,
        scaler=scaler,
        labels=EMOTIONS,
        config=base | (config or {}),
        metrics=metrics or {},
    )
