"""Architectures build on their features' shapes, with the expected size and an 8-way softmax."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.errors import MlcoreError
from mlcore.features.registry import get_extractor
from mlcore.models.architectures import ARCHITECTURES, build, get_architecture

keras = pytest.importorskip("keras")


def test_logmel_tcn_maps_logmel_frames_to_eight_probabilities(rng: np.random.Generator) -> None:
    arch = get_architecture("logmel-tcn")
    shape = get_extractor(arch.features, **arch.feature_params).output_shape
    assert shape == (173, 64)
    model = build("logmel-tcn", input_shape=shape)
    probs = np.asarray(model(rng.normal(size=(3, *shape)).astype("float32"), training=False))
    assert probs.shape == (3, 8)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert 120_000 <= model.count_params() <= 200_000


def test_logmel_tcn_is_a_linear_chain_the_numpy_runtime_can_walk() -> None:
    model = build("logmel-tcn", input_shape=(173, 64))
    for prev, layer in zip(model.layers, model.layers[1:], strict=False):
        assert layer.input is prev.output, f"{layer.name} does not take {prev.name}'s output"


def test_logmel_tcn_trains_with_spec_augment_and_mixup() -> None:
    s = get_architecture("logmel-tcn").train
    assert s.spec_augment and s.mixup_alpha > 0 and s.label_smoothing == pytest.approx(0.1)
    assert not any(a.train.spec_augment for name, a in ARCHITECTURES.items() if name != "logmel-tcn")


def test_cnn1d_reproduction_has_about_7_2_million_parameters() -> None:
    model = build("cnn1d", input_shape=(2376,))
    assert model.output_shape == (None, 8)
    assert 7.0e6 <= model.count_params() <= 7.4e6


def test_cnn_bilstm_builds_on_the_spectral_stack_shape() -> None:
    model = build("cnn-bilstm", input_shape=(160, 275))
    assert model.output_shape == (None, 8)


def test_unknown_architecture_names_the_choices() -> None:
    with pytest.raises(MlcoreError, match="Unknown architecture 'resnet'; choose one of cnn-bilstm, cnn1d"):
        get_architecture("resnet")


def test_spec_augment_masks_runs_of_frames_and_bands_of_training_batches_only(rng: np.random.Generator) -> None:
    from mlcore.training.fit import _training_sequence, spec_augment

    x = rng.normal(loc=3.0, size=(16, 173, 64)).astype("float32")
    masked = spec_augment(x, rng=np.random.default_rng(0), max_time=20, max_freq=8)
    assert masked.shape == x.shape and not np.shares_memory(masked, x)
    zero_frames = np.all(masked == 0, axis=2).sum(axis=1)
    zero_bands = np.all(masked == 0, axis=1).sum(axis=1)
    assert zero_frames.max() <= 40 and zero_bands.max() <= 16  # two masks of at most 20 frames / 8 bands
    assert zero_frames.sum() > 0 and zero_bands.sum() > 0
    kept = masked != 0
    np.testing.assert_array_equal(masked[kept], x[kept])

    y = np.arange(16) % 8
    plain = _training_sequence(x, y, batch_size=8, mixup_alpha=0.0, seed=1)[0][0]
    assert not np.any(np.all(plain == 0, axis=2))
    with_masks = _training_sequence(x, y, batch_size=8, mixup_alpha=0.0, seed=1, masking=True)[0][0]
    assert np.any(np.all(with_masks == 0, axis=2)) or np.any(np.all(with_masks == 0, axis=1))
