"""Limits of one upload and of one user's day, counted after unpacking; requests Django cannot parse."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from conftest import upload_file, wav_bytes, zip_bytes
from zip_factory import quoted_overlap_zip, shared_kernel_zip

from predictions.models import AudioCharge, Job

# An active model, as on any real instance: files that pass the upload checks are analysed (and stay
# stored) rather than failed for want of a model.
pytestmark = pytest.mark.usefixtures("model_version")


def accepted(job: Job) -> list[str]:
    """Files the upload stored and queued (whatever the worker made of them since)."""
    return [f.original_name for f in job.files.order_by("id") if f.queued_at is not None]


def refused(job: Job) -> dict[str, str]:
    """Files the upload refused, with the reason."""
    return {f.original_name: f.error for f in job.files.order_by("id") if f.queued_at is None}


def multipart(parts: list[tuple[str, bytes]], boundary: str = "serwebBoundary7") -> tuple[bytes, str]:
    """A multipart body as a hand-written client would send it (names the test client cannot make)."""
    body = b""
    for name, data in parts:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        body += (head + "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_files_are_counted_after_unpacking_and_each_one_past_the_limit_fails_with_the_reason(
    alice_client, post_upload, rng, settings
):
    settings.UPLOAD_MAX_FILES = 3
    archive = zip_bytes({"z1.wav": wav_bytes(rng), "z2.wav": wav_bytes(rng)})
    plain = [upload_file(f"p{i}.wav", wav_bytes(rng)) for i in range(2)]
    post_upload(alice_client, [upload_file("two.zip", archive), *plain])
    job = Job.objects.get()
    assert accepted(job) == ["z1.wav", "z2.wav", "p0.wav"]
    assert "at most 3 files (zip members count)" in refused(job)["p1.wav"]


def test_a_zip_with_more_members_than_the_upload_has_room_for_is_refused_whole(
    alice_client, post_upload, rng, settings, private_storage
):
    settings.UPLOAD_MAX_FILES = 3
    archive = zip_bytes({f"z{i}.wav": wav_bytes(rng, seconds=0.6) for i in range(3)})
    post_upload(alice_client, [upload_file("first.wav", wav_bytes(rng)), upload_file("three.zip", archive)])
    job = Job.objects.get()
    assert accepted(job) == ["first.wav"]
    assert "holds 3 files" in refused(job)["three.zip"] and "Split it" in refused(job)["three.zip"]
    assert len([p for p in private_storage.rglob("*") if p.is_file()]) == 1


def test_audio_past_the_per_request_limit_fails_with_the_limit_and_the_rest_proceed(
    alice_client, post_upload, rng, settings
):
    settings.UPLOAD_MAX_REQUEST_AUDIO_S = 5
    files = [upload_file(f"{i}.wav", wav_bytes(rng, seconds=2.0)) for i in range(3)]
    post_upload(alice_client, [*files, upload_file("short.wav", wav_bytes(rng, seconds=0.8))])
    job = Job.objects.get()
    assert accepted(job) == ["0.wav", "1.wav", "short.wav"]
    assert "at most 5 s of audio" in refused(job)["2.wav"] and "would bring it to 6 s" in refused(job)["2.wav"]
    assert sorted(round(f.audio_s, 2) for f in job.files.exclude(stored_name="")) == [0.8, 2.0, 2.0]


def test_the_daily_allowance_counts_audio_accepted_in_the_last_24_hours_only(
    alice_client, bob_client, post_upload, rng, settings
):
    settings.UPLOAD_MAX_DAILY_AUDIO_S = 5
    post_upload(alice_client, [upload_file(f"a{i}.wav", wav_bytes(rng, seconds=2.0)) for i in range(2)])
    post_upload(alice_client, [upload_file(f"b{i}.wav", wav_bytes(rng, seconds=2.0)) for i in range(2)])
    second = Job.objects.order_by("id").last()
    reason = refused(second)["b1.wav"]
    assert "5 s of audio in 24 hours" in reason and "have uploaded 6 s" not in reason and "uploaded 4 s" in reason
    # Another user has an allowance of their own.
    post_upload(bob_client, [upload_file("bob.wav", wav_bytes(rng, seconds=2.0))])
    assert accepted(Job.objects.order_by("id").last()) == ["bob.wav"]
    # A day later, the first upload no longer counts.
    AudioCharge.objects.filter(user__username="alice").update(charged_at=second.created_at - timedelta(hours=25))
    post_upload(alice_client, [upload_file("c.wav", wav_bytes(rng, seconds=2.0))])
    assert accepted(Job.objects.order_by("id").last()) == ["c.wav"]


def test_the_unpacked_bytes_of_one_request_are_capped(alice_client, post_upload, rng, settings):
    one = wav_bytes(rng, seconds=2.0)
    settings.UPLOAD_MAX_REQUEST_BYTES = int(len(one) * 2.5)
    archive = zip_bytes({f"m{i}.wav": wav_bytes(rng, seconds=2.0) for i in range(3)})
    post_upload(alice_client, [upload_file("three.zip", archive)])
    job = Job.objects.get()
    assert accepted(job) == ["m0.wav", "m1.wav"]
    assert "may unpack to at most" in refused(job)["m2.wav"]


def test_a_zip_whose_entries_share_one_compressed_kernel_is_refused_and_nothing_stored(
    alice_client, post_upload, rng, private_storage
):
    wav = wav_bytes(rng, seconds=4.0)
    archive = shared_kernel_zip("same.wav", wav, 40)
    plain = zipfile.ZipFile(io.BytesIO(archive))
    # The bomb: Python's zipfile alone would unpack 40 full recordings from one compressed copy.
    assert len(plain.infolist()) == 40 and plain.read(plain.infolist()[-1]) == wav
    post_upload(alice_client, [upload_file("bomb.zip", archive)])
    (f,) = Job.objects.get().files.all()
    assert f.original_name == "bomb.zip" and "entries overlap" in f.error
    assert not [p for p in private_storage.rglob("*") if p.is_file()]


def test_a_quoted_overlap_zip_bomb_is_refused(alice_client, post_upload, rng, private_storage):
    archive = quoted_overlap_zip([f"m{i:03}.wav" for i in range(60)], wav_bytes(rng, seconds=3.0))
    plain = zipfile.ZipFile(io.BytesIO(archive))
    unpacked = sum(i.file_size for i in plain.infolist())
    assert unpacked > 40 * len(archive)
    post_upload(alice_client, [upload_file("quoted.zip", archive)])
    (f,) = Job.objects.get().files.all()
    assert "entries overlap" in f.error
    assert not [p for p in private_storage.rglob("*") if p.is_file()]


def test_more_file_parts_than_django_accepts_get_a_page_that_says_how_many_may_be_sent(alice_client, settings):
    body, content_type = multipart([(f"{i}.wav", b"RIFF") for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)])
    response = alice_client.generic("POST", "/upload/", body, content_type=content_type)
    assert response.status_code == 400
    text = response.content.decode()
    assert f"at most {settings.UPLOAD_MAX_FILES} files" in text and "split them" in text
    assert not Job.objects.exists()


def test_files_named_dot_or_unprintable_are_judged_by_content_under_a_placeholder_name(
    alice_client, rng, django_capture_on_commit_callbacks
):
    body, content_type = multipart([(".", wav_bytes(rng)), ("\x01\x02", b"not audio"), ("ok.wav", wav_bytes(rng))])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.generic("POST", "/upload/", body, content_type=content_type)
    assert response.status_code == 302
    job = Job.objects.get()
    assert accepted(job) == ["(no name)", "ok.wav"]
    assert "not a WAV, FLAC, OGG or MP3" in refused(job)["(no name)"]


@pytest.mark.parametrize("url", ["/upload/", "/api/v1/jobs"])
def test_a_file_sent_with_an_empty_name_gets_a_name_and_is_judged_by_content(
    alice, alice_client, rng, django_capture_on_commit_callbacks, url
):
    from predictions.models.api import ApiToken

    # Large enough that the header of the third part falls past the parser's first read.
    parts = [("", wav_bytes(rng, seconds=3.0)), ("ok.wav", wav_bytes(rng)), ("", b"not audio at all")]
    body, content_type = multipart(parts)
    token = ApiToken.issue(alice, "t")[1]
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.generic(
            "POST", url, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    assert response.status_code in (202, 302)
    files = list(Job.objects.get().files.order_by("id"))
    assert [f.original_name for f in files] == ["(no name)", "ok.wav", "(no name)"]
    assert files[0].stored_name and files[0].audio_s == pytest.approx(3.0, abs=0.01)
    assert "not a WAV, FLAC, OGG or MP3" in files[2].error
    # The bytes of every file arrived whole.
    assert [f.size for f in files[:2]] == [len(parts[0][1]), len(parts[1][1])]


def test_an_empty_nameless_part_is_no_file_chosen_not_a_file(alice_client):
    body, content_type = multipart([("", b"")])
    response = alice_client.generic("POST", "/upload/", body, content_type=content_type)
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert not Job.objects.exists()


def test_a_file_name_of_a_kilobyte_refuses_the_request_with_a_reason_to_rename(alice_client, rng):
    body, content_type = multipart([("a" * 1000 + ".wav", wav_bytes(rng)), ("ok.wav", wav_bytes(rng))])
    response = alice_client.generic("POST", "/upload/", body, content_type=content_type)
    assert response.status_code == 400
    assert "a file name is too long" in response.content.decode() and "Rename the file" in response.content.decode()


def test_long_names_are_shortened_as_data_keeping_the_extension(alice_client, post_upload, rng):
    long = "x" * 300 + ".wav"
    post_upload(alice_client, [upload_file("long.zip", zip_bytes({long: wav_bytes(rng)}))])
    (f,) = Job.objects.get().files.all()
    assert f.stored_name and f.original_name.endswith("….wav") and len(f.original_name) == 120


def test_a_flac_without_a_length_is_measured_on_upload_not_called_millions_of_minutes_long(
    alice_client, post_upload, rng
):
    from audio_factory import flac_without_length, voiced

    post_upload(
        alice_client, [upload_file("piped.flac", flac_without_length(voiced(rng, seconds=3.0, sr=16000), 16000))]
    )
    (f,) = Job.objects.get().files.all()
    assert f.stored_name and "minutes long" not in f.error, f.error
    assert abs(f.audio_s - 3.0) < 0.01
