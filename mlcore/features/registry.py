"""Feature extractors by name: register, build, and (de)serialise as a bundle's ``features.json``.

Every extractor is a frozen dataclass whose fields are its parameters (saved as ``features.json`` in
a bundle) and whose ``__call__`` maps a mono float32 signal at ``sr`` to a fixed-shape array.  Each
lives in the module named in ``_MODULES`` (imported on first use, so naming one costs nothing):

- ``zcr-rms-mfcc``, ``spectral-stack``: the original apps' librosa features (``original.py``).
- ``logmel-stats``, ``logmel-frames``: serweb's NumPy log-mel extractors (``logmel.py``).
- ``whisper-stats``: the pretrained encoder's layers pooled over speech (``whisper_stats.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

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


def register(cls: type) -> type:
    """Class decorator: make an extractor available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of every registered extractor."""
    return sorted(set(_REGISTRY) | set(_MODULES))


def get_extractor(name: str, **params: Any) -> Any:
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


def extractor_to_json(extractor: Any) -> dict[str, Any]:
    """``{"name": ..., "params": {...}}`` as stored in a bundle's ``features.json``."""
    return {"name": extractor.name, "params": dataclasses.asdict(extractor)}


def extractor_from_json(spec: dict[str, Any]) -> Any:
    """Inverse of ``extractor_to_json``."""
    return get_extractor(spec["name"], **spec.get("params", {}))
