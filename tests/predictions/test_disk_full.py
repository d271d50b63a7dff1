"""A full disk: the files that fit are kept and analysed, the rest fail with "out of space" (never a 500,
never a file on disk without its row); a request that cannot even be read is a 507 leaving nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import upload_file, wav_bytes
from django.test import Client

from predictions.models import AudioFile, Job
from predictions.models.api import ApiToken
from predictions.pipeline.uploads import OUT_OF_SPACE

pytestmark = pytest.mark.usefixtures("model_version")


@pytest.fixture
def small_filesystem(tmp_path):
    """A 1 MiB tmpfs (mounting needs root; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def on_disk(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def five_files(rng) -> list:
    # About 300 KB each: three fit in 1 MiB, the fourth does not.
    return [upload_file(f"{i}.wav", wav_bytes(rng, seconds=7.0)) for i in range(5)]


def assert_fitting_files_kept_and_the_rest_out_of_space(root: Path) -> None:
    files = list(AudioFile.objects.order_by("id"))
    kept = [f for f in files if f.stored_name]
    refused = [f for f in files if not f.stored_name]
    assert len(files) == 5 and len(kept) >= 2 and refused, [(f.original_name, f.error) for f in files]
    assert all(f.status == "done" for f in kept)
    assert all(f.status == "failed" and f.error == OUT_OF_SPACE for f in refused)
    # Every stored byte belongs to a row, and no partial file is left behind.
    assert on_disk(root) == {f.stored_name for f in kept}


def test_an_upload_onto_a_full_disk_keeps_what_fits_and_says_the_rest_is_out_of_space(
    alice_client, post_upload, rng, settings, small_filesystem
):
    settings.UPLOAD_ROOT = small_filesystem
    response = post_upload(alice_client, five_files(rng))
    assert response.status_code == 302 and Job.objects.count() == 1
    assert_fitting_files_kept_and_the_rest_out_of_space(small_filesystem)


def test_the_api_keeps_what_fits_on_a_full_disk_and_says_the_rest_is_out_of_space(
    alice, rng, settings, small_filesystem, django_capture_on_commit_callbacks
):
    settings.UPLOAD_ROOT = small_filesystem
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(alice, 'd')[1]}")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/jobs", {"files": five_files(rng)})
    assert response.status_code == 202
    assert sum(f["reason"] == OUT_OF_SPACE for f in response.json()["files"]) >= 1
    assert_fitting_files_kept_and_the_rest_out_of_space(small_filesystem)


@pytest.mark.parametrize("url", ["/upload/", "/api/v1/jobs"])
def test_a_request_that_cannot_be_read_for_want_of_space_is_a_507_leaving_nothing(
    alice, rng, settings, small_filesystem, tmp_path, url
):
    settings.FILE_UPLOAD_TEMP_DIR = str(small_filesystem)  # where Django spools large request bodies
    settings.UPLOAD_ROOT = tmp_path / "uploads"
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(alice, 'd')[1]}")
    client.force_login(alice)
    response = client.post(url, {"files": [upload_file("long.wav", wav_bytes(rng, seconds=70.0))]})  # 3.1 MB
    assert response.status_code == 507 and response["Retry-After"]
    assert "out of space" in response.content.decode() and "safe" not in response.content.decode()
    assert not AudioFile.objects.exists() and not on_disk(small_filesystem) and not on_disk(tmp_path / "uploads")
