"""Speaker-adversarial training for a head: a branch learns to tell the training speakers apart from
the head's last hidden layer, behind a gradient reversal, so that layer is pushed to carry less of who
is speaking and more of how (domain-adversarial training, Ganin and Lempitsky 2015, with speakers as
the domains).  Only the training model has the branch; the head that is saved and served is the plain
chain it shares its layers with.
"""

from __future__ import annotations

from typing import Any

EMOTION, SPEAKER = "emotion", "speaker"


def gradient_reversal(strength: float) -> Any:
    """A layer that passes its input forward unchanged and sends back ``-strength`` times the gradient."""
    import keras

    class GradientReversal(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            held = keras.ops.stop_gradient(x)
            # Forward: held + strength * (held - x) == x.  Backward: d/dx = -strength.
            return held + strength * (held - x)

    return GradientReversal(name="gradient_reversal")


def with_speaker_adversary(head: Any, n_speakers: int, strength: float) -> Any:
    """A training model with two outputs, ``emotion`` (``head``'s own) and ``speaker``, whose branch
    reads ``head``'s last hidden layer through a gradient reversal.  Training it trains ``head``."""
    import keras
    from keras import layers as L

    hidden = head.layers[-1].input
    x = gradient_reversal(strength)(hidden)
    x = L.Dense(128, activation="gelu", name="speaker_hidden")(x)
    speaker = L.Dense(n_speakers, activation="softmax", name=SPEAKER)(x)
    emotion = L.Identity(name=EMOTION)(head.output)
    return keras.Model(head.input, {EMOTION: emotion, SPEAKER: speaker}, name=f"{head.name}_adversarial")
