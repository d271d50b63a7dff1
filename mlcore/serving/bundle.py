"""Model bundles: a directory with the model, its labels, feature spec, scaler, metrics and a manifest.

Layout::

    model.keras        Keras 3 model, saved uncompiled (no optimizer state)
    config.json        architecture name + parameters, training settings, bundle name
    labels.json        ["neutral", ...] class order of the model's output
    features.json      {"name": extractor, "params": {...}}
    scaler.json        {"mean": [...], "scale": [...]} fitted on training data
    metrics.json       evaluation / cross-validation figures
    manifest.json      {"format": ..., "files": {relative path: sha256}}

Loading never unpickles anything (JSON, and Keras' safe-mode loader for the model) and refuses a
bundle whose files are missing or do not match the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mlcore.errors import BundleError
from mlcore.features.registry import extractor_from_json
from mlcore.features.standardizer import Standardizer
from mlcore.safezip import unsafe_path_reason

FORMAT = "serweb-bundle/1"
MANIFEST = "manifest.json"
MODEL_FILE = "model.keras"
REQUIRED = (MODEL_FILE, "config.json", "labels.json", "features.json", "scaler.json", "metrics.json")
MAX_BUNDLE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk.  ``model_path`` is only read by whoever runs the model."""

    path: Path
    labels: tuple[str, ...]
    features: dict[str, Any]
    scaler: Standardizer
    metrics: dict[str, Any]
    config: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)

    @property
    def architecture(self) -> str:
        return str(self.config.get("architecture", "unknown"))

    @property
    def fingerprint(self) -> str:
        """sha256 of the manifest: identifies this exact bundle content."""
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()

    def extractor(self) -> Any:
        return extractor_from_json(self.features)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(path: Path) -> dict[str, Any]:
    """(Re)write ``manifest.json`` over every file in the bundle directory."""
    path = Path(path)
    files = {
        p.relative_to(path).as_posix(): sha256_file(p)
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"format": FORMAT, "files": files}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def write_json(path: Path, name: str, data: Any) -> None:
    (Path(path) / name).write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_bundle(
    out: Path,
    *,
    model: Any,
    extractor: Any,
    scaler: Standardizer,
    labels: tuple[str, ...] | list[str],
    config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    artifacts: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a complete bundle to ``out`` (created; existing bundle files replaced): the model, its
    metadata, ``metrics``, and any further ``artifacts`` (file name -> contents: history, curves,
    confusion matrices, reliability diagram), then the manifest over all of them, once."""
    from mlcore.features.registry import extractor_to_json

    out = Path(out)
    _check_artifacts(artifacts)
    out.mkdir(parents=True, exist_ok=True)
    _save_weights_only_model(model, out / MODEL_FILE)
    write_json(out, "config.json", config)
    write_json(out, "labels.json", list(labels))
    write_json(out, "features.json", extractor_to_json(extractor))
    (out / "scaler.json").write_text(scaler.to_json() + "\n")
    write_json(out, "metrics.json", metrics or {})
    _write_artifacts(out, artifacts)
    write_manifest(out)
    return out


def _check_artifacts(artifacts: Mapping[str, bytes] | None) -> None:
    for name in artifacts or {}:
        if unsafe_path_reason(name) or name in (*REQUIRED, MANIFEST):
            raise BundleError(
                f"{name!r} cannot be a bundle artifact (unsafe name, or a file the bundle writes itself)."
            )


def _write_artifacts(out: Path, artifacts: Mapping[str, bytes] | None) -> None:
    for name, data in (artifacts or {}).items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _save_weights_only_model(model: Any, path: Path) -> None:
    """Save architecture + weights without optimizer state or compile settings (an uncompiled clone)."""
    # Rebuilt from its config: keras.models.clone_model (Keras 3.15) would copy the compiled optimizer.
    clean = type(model).from_config(model.get_config())
    clean.set_weights(model.get_weights())
    clean.save(path)


def update_bundle(
    path: Path, *, metrics: dict[str, Any] | None = None, artifacts: Mapping[str, bytes] | None = None
) -> None:
    """Add to a saved bundle: merge ``metrics`` into ``metrics.json``, write ``artifacts``, then
    refresh the manifest once (re-evaluation on held-out speakers does this)."""
    path = Path(path)
    _check_artifacts(artifacts)
    if metrics:
        current = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").exists() else {}
        current.update(metrics)
        write_json(path, "metrics.json", current)
    _write_artifacts(path, artifacts)
    write_manifest(path)


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check the manifest against the files; returns the manifest or raises ``BundleError``."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"Model bundle {path} does not exist or is not a directory.")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise BundleError(f"Model bundle {path} has no {MANIFEST}; it is incomplete.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"{MANIFEST} in {path} is not valid JSON.") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if manifest.get("format") != FORMAT or not isinstance(files, dict):
        raise BundleError(f"{MANIFEST} in {path} is not a {FORMAT} manifest.")
    missing_required = [name for name in REQUIRED if name not in files]
    if missing_required:
        raise BundleError(f"Model bundle {path} lacks required files: {', '.join(missing_required)}.")
    for rel, digest in files.items():
        p = path / rel
        if unsafe_path_reason(rel) or not p.is_file():
            raise BundleError(f"Model bundle {path} is missing {rel}, which its manifest lists.")
        if sha256_file(p) != digest:
            raise BundleError(
                f"{rel} in model bundle {path} does not match its manifest checksum (modified or corrupt)."
            )
    return manifest


def load_bundle(path: Path | str) -> Bundle:
    """Verify and read a bundle's metadata (the model itself is loaded by the predictor)."""
    path = Path(path)
    manifest = verify_bundle(path)
    try:
        labels = tuple(json.loads((path / "labels.json").read_text()))
        features = json.loads((path / "features.json").read_text())
        scaler = Standardizer.from_json((path / "scaler.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
        config = json.loads((path / "config.json").read_text())
        extractor_from_json(features)
    except BundleError:
        raise
    except Exception as e:
        raise BundleError(f"Model bundle {path} has unreadable metadata: {e}") from e
    return Bundle(path, labels, features, scaler, metrics, config, manifest)


def extract_bundle_zip(zip_path: Path | BinaryIO, dest: Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Path:
    """Unpack an uploaded bundle zip safely into ``dest`` and verify it.

    Accepts the bundle files at the zip root or inside one top-level folder.  Goes through
    ``mlcore.safezip`` (path tricks, links, overlapping entries, more than ``max_bytes`` unpacked,
    damaged members), and writes only the files the manifest lists: anything else in the zip is not kept.
    """
    from mlcore.safezip import SafeZip, ZipLimits, ZipSafetyError

    dest = Path(dest)
    limits = ZipLimits(max_member_bytes=max_bytes, max_total_bytes=max_bytes, max_ratio=10_000, max_members=10_000)
    try:
        with SafeZip(zip_path, limits) as archive:
            names = [i.filename for i in archive.files()]
            prefix = ""
            if MANIFEST not in names:
                tops = {n.split("/", 1)[0] for n in names}
                if len(tops) == 1 and f"{next(iter(tops))}/{MANIFEST}" in names:
                    prefix = next(iter(tops)) + "/"
                else:
                    raise BundleError(f"The zip holds no {MANIFEST} at its root; it is not a model bundle.")
            archive.extract_all(dest, strip_prefix=prefix, keep={MANIFEST})
            listed = _manifest_files(dest)
            archive.extract_all(dest, strip_prefix=prefix, keep=set(listed))
    except ZipSafetyError as e:
        raise BundleError(f"The bundle zip is refused: {e}") from None
    verify_bundle(dest)
    return dest


def _manifest_files(path: Path) -> list[str]:
    try:
        files = json.loads((path / MANIFEST).read_text()).get("files")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise BundleError(f"{MANIFEST} is not valid JSON.") from None
    if not isinstance(files, dict):
        raise BundleError(f"{MANIFEST} is not a {FORMAT} manifest.")
    return [str(name) for name in files]
