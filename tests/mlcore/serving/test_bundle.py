"""Bundles round-trip, and a bundle that was tampered with or is incomplete is refused by name."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlcore.errors import BundleError
from mlcore.features.registry import get_extractor
from mlcore.features.standardizer import Standardizer
from mlcore.labels import EMOTIONS
from mlcore.serving.bundle import extract_bundle_zip, load_bundle, save_bundle, update_bundle
from mlcore.serving.smoke import build_test_bundle

CONFIG = {"name": "tiny-roundtrip", "architecture": "stats-mlp", "window_s": 4.0, "hop_s": 2.0}
METRICS = {"test_accuracy": 0.5, "per_class": {"angry": 0.75}}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle (mlcore's test bundle: an untrained stats-MLP on ``logmel-stats``, fitted scaler)."""
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    return build_test_bundle(
        out, name="tiny-roundtrip", seed=3, architecture="stats-mlp", fit_scaler=True, metrics=METRICS
    )


@pytest.fixture
def bundle_dir(template: Path, tmp_path: Path) -> Path:
    """A fresh copy each test may damage."""
    return Path(shutil.copytree(template, tmp_path / "tiny"))


def test_saved_bundle_loads_back_with_everything_it_was_given(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)

    assert bundle.labels == EMOTIONS
    assert bundle.config == CONFIG and bundle.metrics == METRICS
    assert bundle.name == "tiny-roundtrip" and bundle.architecture == "stats-mlp"
    assert bundle.extractor() == get_extractor("logmel-stats")
    assert len(bundle.scaler.mean) == len(bundle.scaler.scale) == get_extractor("logmel-stats").dim
    assert bundle.model_path.is_file() and zipfile.is_zipfile(bundle.model_path)
    assert len(bundle.fingerprint) == 64


def test_fingerprint_is_stable_and_changes_with_content(bundle_dir: Path) -> None:
    before = load_bundle(bundle_dir).fingerprint
    assert load_bundle(bundle_dir).fingerprint == before

    update_bundle(bundle_dir, metrics={"note": "re-evaluated"})

    after = load_bundle(bundle_dir)
    assert after.fingerprint != before
    assert after.metrics["note"] == "re-evaluated" and after.metrics["test_accuracy"] == 0.5


def test_one_changed_byte_in_scaler_json_is_refused_naming_the_file(bundle_dir: Path) -> None:
    scaler = bundle_dir / "scaler.json"
    data = bytearray(scaler.read_bytes())
    i = data.index(b"1") if b"1" in data else 20
    data[i] = ord("2") if data[i] != ord("2") else ord("3")
    scaler.write_bytes(bytes(data))

    with pytest.raises(BundleError, match=r"scaler\.json .*does not match its manifest"):
        load_bundle(bundle_dir)


def test_deleted_model_is_refused_naming_the_file(bundle_dir: Path) -> None:
    (bundle_dir / "model.keras").unlink()

    with pytest.raises(BundleError, match=r"missing model\.keras"):
        load_bundle(bundle_dir)


def test_bundle_without_manifest_is_refused(bundle_dir: Path) -> None:
    (bundle_dir / "manifest.json").unlink()

    with pytest.raises(BundleError, match=r"no manifest\.json"):
        load_bundle(bundle_dir)


def test_manifest_that_omits_a_required_file_is_refused(bundle_dir: Path) -> None:
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    del manifest["files"]["labels.json"]
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(BundleError, match=r"lacks required files: labels\.json"):
        load_bundle(bundle_dir)


def _zip(bundle_dir: Path, zip_path: Path, *, top: str = "", extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(bundle_dir.iterdir()):
            zf.write(p, top + p.name)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return zip_path


def test_zipped_bundle_inside_a_top_folder_unpacks_and_verifies(bundle_dir: Path, tmp_path: Path) -> None:
    archive = _zip(bundle_dir, tmp_path / "upload.zip", top="my-model/")

    dest = extract_bundle_zip(archive, tmp_path / "unpacked")

    assert (dest / "model.keras").read_bytes() == (bundle_dir / "model.keras").read_bytes()
    assert load_bundle(dest).fingerprint == load_bundle(bundle_dir).fingerprint


def test_zip_with_a_parent_directory_member_is_refused_before_writing(bundle_dir: Path, tmp_path: Path) -> None:
    archive = _zip(bundle_dir, tmp_path / "evil.zip", extra={"../escaped.txt": b"gotcha"})

    with pytest.raises(BundleError, match=r"'\.\./escaped\.txt': Refused: the archive entry has an unsafe path"):
        extract_bundle_zip(archive, tmp_path / "dest" / "inner")
    assert not (tmp_path / "dest" / "escaped.txt").exists()
    assert not (tmp_path / "dest" / "inner").exists()


def test_zip_of_a_tampered_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    (bundle_dir / "labels.json").write_text(json.dumps(list(reversed(EMOTIONS))))
    archive = _zip(bundle_dir, tmp_path / "tampered.zip")

    with pytest.raises(BundleError, match=r"labels\.json .*does not match"):
        extract_bundle_zip(archive, tmp_path / "unpacked")


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "bundle.zip"
    fake.write_bytes(b"PK but not really")

    with pytest.raises(BundleError, match="zip archive is damaged or incomplete"):
        extract_bundle_zip(fake, tmp_path / "dest")


def test_a_trained_model_is_saved_without_its_optimizer_state(tmp_path: Path) -> None:
    import h5py
    import keras

    extractor = get_extractor("logmel-stats")
    x = np.random.default_rng(4).normal(size=(32, extractor.dim)).astype(np.float32)
    model = keras.Sequential([keras.Input((extractor.dim,)), keras.layers.Dense(8, "softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, np.eye(8, dtype=np.float32)[np.arange(32) % 8], epochs=1, verbose=0)

    out = save_bundle(
        tmp_path / "trained",
        model=model,
        extractor=extractor,
        scaler=Standardizer.fit(x),
        labels=EMOTIONS,
        config=CONFIG,
    )

    with zipfile.ZipFile(out / "model.keras") as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as weights:
        assert "optimizer" not in weights
    reloaded = keras.saving.load_model(out / "model.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_save_bundle_writes_every_artifact_under_one_manifest(tmp_path: Path) -> None:
    out = build_test_bundle(tmp_path / "b", metrics={"accuracy": 0.4})

    update_bundle(out, metrics={"evaluation": {"accuracy": 0.3}}, artifacts={"plots/curves.png": b"\x89PNG"})

    bundle = load_bundle(out)  # verifies every file against the manifest
    assert "plots/curves.png" in bundle.manifest["files"]
    assert bundle.metrics == {"accuracy": 0.4, "evaluation": {"accuracy": 0.3}}


@pytest.mark.parametrize("name", ["../escape.png", "manifest.json", "config.json", "/abs.png"])
def test_an_artifact_may_not_escape_the_bundle_or_replace_its_own_files(tmp_path: Path, name: str) -> None:
    out = build_test_bundle(tmp_path / "b")

    with pytest.raises(BundleError, match="cannot be a bundle artifact"):
        update_bundle(out, artifacts={name: b"x"})
    load_bundle(out)  # still intact
