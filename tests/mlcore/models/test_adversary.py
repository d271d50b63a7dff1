"""Speaker-adversarial training: the reversal flips the gradient and nothing else, the head that comes
back is the plain served chain, and the hidden layer ends up where the speaker branch cannot tell the
speakers apart, although they are loud in the input."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from mlcore.models.adversary import gradient_reversal
from mlcore.models.architectures import get_architecture
from mlcore.models.runtime import load_numpy_model
from mlcore.training.fit import FeatureSet, fit

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def test_the_reversal_passes_values_forward_and_sends_back_minus_strength_times_the_gradient() -> None:
    x = tf.constant([[1.0, -2.0, 3.0]])
    layer = gradient_reversal(0.3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0, 4.0]]))
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), [[-0.3, -0.6, -1.2]], rtol=1e-6)


def _voices(rng: np.random.Generator) -> FeatureSet:
    """12 speakers x 8 emotions x 12 clips: a loud voice signature (24 dims) beside a quieter emotion
    signal (8 dims) and noise."""
    speakers = np.repeat(np.arange(12), 96)
    y = np.tile(np.repeat(np.arange(8), 12), 12)
    voice = rng.standard_normal((12, 24)) * 3.0
    X = rng.standard_normal((speakers.size, 40)).astype(np.float32)
    X[:, :24] += voice[speakers]
    X[:, 24:32] += 1.5 * np.eye(8)[y]
    return FeatureSet(X.astype(np.float32), y, np.array([f"s{s}" for s in speakers]), np.zeros(y.size, bool))


def test_the_adversary_is_defeated_and_the_head_that_comes_back_is_the_plain_served_chain(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = _voices(rng)
    base = get_architecture("whisper-mlp")
    plain_arch = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=30))
    adv_arch = dataclasses.replace(plain_arch, train=dataclasses.replace(plain_arch.train, speaker_adversary=1.0))

    plain, _, _ = fit(plain_arch, data, seed=0)
    adv, adv_scaler, history = fit(adv_arch, data, seed=0)

    # The branch first learns the voices (they are loud), then the reversed gradient takes from the
    # hidden layer what it reads: its loss ends near chance (ln 12).  With the sign wrong it would
    # fall far below, as it does early on.
    chance = math.log(12)
    assert min(history["speaker_loss"]) < 0.7 * chance
    assert history["speaker_loss"][-1] > 0.9 * chance, history["speaker_loss"]
    assert [type(layer) for layer in adv.layers] == [type(layer) for layer in plain.layers]

    # The head still learnt the emotions, and the NumPy runtime serves it as saved.
    probs = np.asarray(adv(adv_scaler.transform(data.X), training=False))
    assert (probs.argmax(1) == data.y).mean() > 0.3
    adv.save(tmp_path / "model.keras")
    served = load_numpy_model(tmp_path / "model.keras")
    assert served is not None
    np.testing.assert_allclose(served.predict(adv_scaler.transform(data.X[:50])), probs[:50], atol=1e-5)
