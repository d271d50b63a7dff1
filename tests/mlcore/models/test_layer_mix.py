"""A head that mixes encoder layers with learned weights folds into the plain Dense chain that is served,
with the same outputs; and it learns the weights (they move off equal when one layer carries the class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from random_weights import randomise_weights

from mlcore.models.architectures import get_architecture
from mlcore.models.ensemble import merge_heads
from mlcore.models.layer_mix import fold, folded_kernel, mix_layer
from mlcore.models.runtime import load_numpy_model
from mlcore.models.whisper import WIDTH

keras = pytest.importorskip("keras")


def _mixed_head(seed: int, n_layers: int = 3) -> object:
    keras.utils.set_random_seed(seed)
    model = get_architecture("whisper-mlp-mix").builder((n_layers * WIDTH,), 8)
    return randomise_weights(model, seed)


def test_the_folded_kernel_is_the_shared_one_scaled_per_layer() -> None:
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    folded = folded_kernel(kernel, np.array([0.2, 0.8]))
    np.testing.assert_allclose(folded, np.vstack([0.2 * kernel, 0.8 * kernel]))


def test_a_mixed_head_folds_into_a_served_chain_with_the_same_outputs(tmp_path: Path, rng: np.random.Generator) -> None:
    head = _mixed_head(1)
    assert mix_layer(head) is not None
    x = rng.standard_normal((30, 3 * WIDTH)).astype(np.float32)
    expected = np.asarray(head(x, training=False))

    plain = fold(head)
    assert mix_layer(plain) is None
    np.testing.assert_allclose(np.asarray(plain(x, training=False)), expected, atol=1e-5)
    # Folded heads merge like any other, and the NumPy runtime serves them.
    merged = merge_heads([plain, fold(_mixed_head(2))])
    merged.save(tmp_path / "merged.keras")
    served = load_numpy_model(tmp_path / "merged.keras")
    assert served is not None
    np.testing.assert_allclose(served.predict(x), np.asarray(merged(x, training=False)), atol=1e-5)


def test_training_moves_the_weight_to_the_layer_that_carries_the_class(rng: np.random.Generator) -> None:
    from mlcore.training.fit import FeatureSet, fit

    n = 2000
    y = rng.integers(0, 8, n)
    X = rng.standard_normal((n, 2 * WIDTH)).astype(np.float32)
    X[:, WIDTH : WIDTH + 8] += 3.0 * np.eye(8, dtype=np.float32)[y]  # only the second layer knows the class
    arch = get_architecture("whisper-mlp-mix")
    model, _, history = fit(arch, FeatureSet(X, y, np.zeros(n), np.zeros(n, bool)), epochs=30, desc="mix")
    first, second = history["layer_weights"]
    assert second > first + 0.1
    assert mix_layer(model) is None
