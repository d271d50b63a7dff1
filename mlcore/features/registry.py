"""Feature extractors by name: register, build, and (de)serialise as a bundle's ``features.json``.

Every extractor is a frozen dataclass whose fields are its parameters (saved as ``features.json`` in
a bundle) and whose ``__call__`` maps a mono float32 signal at ``sr`` to a fixed-shape array
(``Extractor``); what it needs from the code that runs it is declared in its ``needs`` (``Needs``), so
the predictor, training and the smoke test read it instead of probing for attributes and methods.  Each
lives in the module named in ``_MODULES`` (imported on first use, so naming one costs nothing):

- ``zcr-rms-mfcc``, ``spectral-stack``: the original apps' librosa features (``original.py``).
- ``logmel-stats``, ``logmel-frames``: serweb's NumPy log-mel extractors (``logmel.py``).
- ``whisper-stats``: the pretrained encoder's layers pooled over speech (``whisper_stats.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from mlcore.errors import FeatureError

_REGISTRY: dict[str, type] = {}
# The module defining each extractor, imported on first use.
_MODULES = {
    "zcr-rms-mfcc": "mlcore.features.original",
    "spectral-stack": "mlcore.features.original",
    "logmel-stats": "mlcore.features.logmel",
    "logmel-frames": "mlcore.features.logmel",
    "whisper-stats": "mlcore.features.whisper_stats",
}
# Bumped whenever an extractor's output changes for the same parameters (invalidates feature caches).
REVISION = 3


@dataclass(frozen=True)
class Needs:
    """What an extractor asks of whoever runs it, declared by the extractor itself."""

    sr: int  # sample rate of the mono float32 signal it takes
    hop: int  # samples per frame: the grid of the speech mask computed for it
    # Pools over the voice detector's frames: ``window_features(y, bounds, speech=mask)`` featurises
    # every window of a clip at once (the mask on the ``hop`` grid; computed when not given).
    pools_speech: bool = False
    # Pretrained weights, verified and loaded by ``load()`` (raising ``EncoderError`` with install
    # instructions), before the first recording.
    weights: bool = False
    # ``frame_features(y)`` frames a whole clip once and ``pool(frames)`` pools one window's slice.
    framed: bool = False


class Extractor(Protocol):
    """A feature extractor: a frozen dataclass of its parameters, a ``name`` and its ``needs``."""

    name: ClassVar[str]

    @property
    def needs(self) -> Needs: ...

    @property
    def output_shape(self) -> tuple[int, ...]: ...

    def __call__(self, y: np.ndarray) -> np.ndarray: ...


def register(cls: type) -> type:
    """Class decorator: make an extractor available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of every registered extractor."""
    return sorted(set(_REGISTRY) | set(_MODULES))


def get_extractor(name: str, **params: Any) -> Extractor:
    """Build the extractor ``name`` with ``params`` (unknown names/params raise ``FeatureError``)."""
    if name in _MODULES and name not in _REGISTRY:
        importlib.import_module(_MODULES[name])
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise FeatureError(f"Unknown feature extractor {name!r}; choose one of {', '.join(available())}.") from None
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise FeatureError(f"Bad parameters for feature extractor {name!r}: {e}") from None


def extractor_to_json(extractor: Extractor) -> dict[str, Any]:
    """``{"name": ..., "params": {...}}`` as stored in a bundle's ``features.json``."""
    return {"name": extractor.name, "params": dataclasses.asdict(extractor)}


def extractor_from_json(spec: dict[str, Any]) -> Extractor:
    """Inverse of ``extractor_to_json``."""
    return get_extractor(spec["name"], **spec.get("params", {}))
