"""Admin bundle uploads: damaged zips and over-long names are refused with a reason, files the manifest
does not list are not kept, and the model is loaded in a subprocess, never in the web process."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from bundle_factory import build_bundle, zip_dir
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from predictions.models import ModelVersion

pytestmark = pytest.mark.django_db
ADD = "/admin/predictions/modelversion/add/"


@pytest.fixture
def admin_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("safety") / "bundle", name="safety", seed=11)


def post(client: Client, data: bytes):
    return client.post(ADD, {"bundle_zip": SimpleUploadedFile("b.zip", data, content_type="application/zip")})


def test_a_bundle_zip_with_a_corrupt_deflate_member_is_refused_as_damaged(admin_client, bundle, settings):
    data = bytearray(zip_dir(bundle))
    info = max(zipfile.ZipFile(io.BytesIO(bytes(data))).infolist(), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode())
    data[start : start + 16] = b"\xff" * 16  # an invalid deflate block type: zlib.error
    response = post(admin_client, bytes(data))
    text = response.content.decode()
    assert response.status_code == 200 and "Bundle refused" in text and "the zip is damaged" in text
    assert not ModelVersion.objects.exists() and not any(Path(settings.MODEL_ROOT).glob("*/*"))


def test_a_bundle_whose_name_passes_100_characters_is_refused_with_the_limit(admin_client, tmp_path):
    long_named = build_bundle(tmp_path / "long", name="n" * 101, seed=12)
    response = post(admin_client, zip_dir(long_named))
    text = response.content.decode()
    assert response.status_code == 200 and "name is 101 characters long; at most 100 can be stored" in text
    assert not ModelVersion.objects.exists()


def test_files_the_manifest_does_not_list_are_not_kept(admin_client, bundle):
    response = post(admin_client, zip_dir(bundle, {"notes/readme.txt": b"hello", "run.sh": b"rm -rf /"}))
    assert response.status_code == 302, response.content.decode()[:2000]
    kept = {
        p.relative_to(ModelVersion.objects.get().path).as_posix() for p in ModelVersion.objects.get().path.rglob("*")
    }
    assert "manifest.json" in kept and "model.keras" in kept
    assert not {"run.sh", "notes", "notes/readme.txt"} & kept


def test_the_model_check_runs_in_a_subprocess_under_a_time_limit(admin_client, bundle, settings):
    settings.BUNDLE_CHECK_TIMEOUT_S = 0.05  # a fresh interpreter cannot even import numpy in that time
    response = post(admin_client, zip_dir(bundle))
    assert "Loading and running the model took longer than 0.05 s" in response.content.decode()
    assert not ModelVersion.objects.exists()
