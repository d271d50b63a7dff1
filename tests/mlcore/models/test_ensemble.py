"""Heads trained with different seeds merge into one model that outputs their geometric mean, served by
the NumPy runtime like any head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from random_weights import randomise_weights

from mlcore.models.architectures import _mlp
from mlcore.models.ensemble import geometric_mean, merge_heads
from mlcore.models.runtime import load_numpy_model

keras = pytest.importorskip("keras")


def _random_head(seed: int, hidden: tuple[tuple[int, float], ...]) -> object:
    keras.utils.set_random_seed(seed)
    model = _mlp((24,), 8, name="head", hidden=hidden, input_dropout=0.4)
    return randomise_weights(model, seed)


@pytest.mark.parametrize("hidden", [((16, 0.5),), ((16, 0.4), (8, 0.4))])
def test_merged_heads_output_the_geometric_mean_of_the_heads(
    tmp_path: Path, rng: np.random.Generator, hidden: tuple[tuple[int, float], ...]
) -> None:
    heads = [_random_head(seed, hidden) for seed in (1, 2, 3)]
    x = rng.standard_normal((40, 24)).astype(np.float32)
    each = [np.asarray(h(x, training=False)) for h in heads]

    merged = merge_heads(heads)
    expected = geometric_mean(each)
    np.testing.assert_allclose(np.asarray(merged(x, training=False)), expected, atol=1e-5)
    # The heads disagree, so the mean is not any one of them.
    assert min(np.abs(expected - e).max() for e in each) > 0.05

    merged.save(tmp_path / "merged.keras")
    served = load_numpy_model(tmp_path / "merged.keras")
    assert served is not None
    np.testing.assert_allclose(served.predict(x), expected, atol=1e-5)


def test_one_head_is_returned_as_it_is() -> None:
    head = _random_head(4, ((16, 0.5),))
    assert merge_heads([head]) is head


def test_heads_of_different_shapes_do_not_merge() -> None:
    with pytest.raises(ValueError, match="one MLP architecture"):
        merge_heads([_random_head(1, ((16, 0.5),)), _random_head(2, ((16, 0.4), (8, 0.4)))])
