"""Bundles uploaded through the admin reach every worker node (issue 18): with object storage on, the
checked zip is kept in the bucket, and a node whose MODEL_ROOT lacks the bundle fetches, checks and
loads it; a bundle in the bucket that is not the registered one is refused.  Against a moto S3 server in
its own process, over HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bundle_factory import build_bundle, zip_dir
from django.core.files.uploadedfile import SimpleUploadedFile
from s3_server import storage_settings

from mlcore.errors import BundleError
from predictions.models import ModelVersion
from predictions.pipeline import bundle_store, recordings, registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(s3_server, settings) -> str:
    name = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "recordings": storage_settings(s3_server.url, name)}
    return name


@pytest.fixture(scope="module")
def node_bundles(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("node-bundles")
    return {name: build_bundle(base / name, name=name, seed=seed) for name, seed in (("shared", 21), ("other", 22))}


def test_an_uploaded_bundle_is_fetched_by_a_node_that_never_saw_it(s3_server, bucket, node_bundles, settings, tmp_path):
    upload = SimpleUploadedFile("shared.zip", zip_dir(node_bundles["shared"]), content_type="application/zip")
    version = registry.register_uploaded_bundle(upload)
    assert bundle_store.key(version.fingerprint) in s3_server.keys(bucket)
    version.activate()

    # Another node: a MODEL_ROOT of its own, without the folder the uploading node unpacked.
    shutil.rmtree(version.path)
    settings.MODEL_ROOT = tmp_path / "node-b-models"
    registry._predictors.clear()
    active, predictor = registry.get_predictor()
    assert active == version and predictor.name == "shared"
    assert (settings.MODEL_ROOT / version.fingerprint / "manifest.json").is_file()
    assert [p.name for p in settings.MODEL_ROOT.iterdir()] == [version.fingerprint]  # no unpacking left


def test_a_bundle_in_the_bucket_that_is_not_the_registered_one_is_refused(bucket, node_bundles, settings, tmp_path):
    version, _ = registry.register_bundle(node_bundles["shared"])
    staged = tmp_path / "other.zip"
    staged.write_bytes(zip_dir(node_bundles["other"]))
    recordings.keep(staged, bundle_store.key(version.fingerprint))  # what a tampered bucket would hold
    ModelVersion.objects.filter(pk=version.pk).update(bundle_path=str(tmp_path / "gone"))
    version.refresh_from_db()
    settings.MODEL_ROOT = tmp_path / "node-c-models"
    with pytest.raises(BundleError, match="not the registered"):
        bundle_store.local_path(version)
    assert not (settings.MODEL_ROOT / version.fingerprint).exists()
