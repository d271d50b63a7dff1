"""Uploading recordings: several files, zips, and every kind of bad input, each with a clear reason."""

from __future__ import annotations

import io
import os
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced
from conftest import files_by_name, job_status, upload_file, wav_bytes, zip_bytes

from predictions.models import AudioFile, Job, Prediction
from predictions.pipeline import recordings

pytestmark = pytest.mark.django_db


def test_upload_page_renders_the_form_the_ui_scripts_rely_on(alice_client, settings):
    html = alice_client.get("/upload/").content.decode()
    assert 'id="upload-form"' in html and 'enctype="multipart/form-data"' in html and 'action="/upload/"' in html
    assert f'data-max-file-bytes="{settings.UPLOAD_MAX_FILE_BYTES}"' in html
    assert f'data-max-files="{settings.UPLOAD_MAX_FILES}"' in html
    assert 'data-accept=".wav,.flac,.ogg,.mp3,.zip"' in html
    assert 'type="file" name="files" multiple id="id_files"' in html


def test_home_sends_a_logged_in_user_to_the_upload_page(alice_client):
    assert alice_client.get("/")["Location"] == "/upload/"


def test_several_files_in_one_submit_make_one_job_with_a_prediction_each(
    alice_client, model_version, post_upload, rng, private_storage
):
    files = [upload_file("a.wav", wav_bytes(rng)), upload_file("b.flac", wav_bytes(rng, fmt="FLAC"))]
    response = post_upload(alice_client, files)
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    status = job_status(alice_client, job.pk)
    assert status["status"] == "finished" and status["finished"] is True
    assert status["total"] == 2 and status["done"] == 2 and status["failed"] == 0
    for f in status["files"]:
        assert f["status"] == "done" and f["reason"] is None
        assert set(f["probabilities"]) == {
            "neutral",
            "calm",
            "happy",
            "sad",
            "angry",
            "fearful",
            "disgust",
            "surprised",
        }
        assert sum(f["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert f["top_emotion"] == max(f["probabilities"], key=f["probabilities"].get)
        assert f["url"].startswith("/predictions/")
    assert Prediction.objects.filter(model_version=model_version).count() == 2
    job.refresh_from_db()
    assert job.status == Job.Status.FINISHED
    assert "2 files received" in alice_client.get(response["Location"]).content.decode()


def test_stored_files_get_generated_names_and_keep_the_original_name_as_data(
    alice_client, model_version, post_upload, rng, private_storage
):
    post_upload(alice_client, [upload_file("../../etc/My Voice.wav", wav_bytes(rng))])
    f = AudioFile.objects.get()
    assert f.original_name == "My Voice.wav"
    assert "Voice" not in f.stored_name and f.stored_name.endswith(".wav")
    assert f.path.is_file() and f.path.resolve().is_relative_to(private_storage.resolve())
    assert f.content_type == "audio/wav" and len(f.sha256) == 64 and f.size > 0


def test_job_page_lists_each_file_with_its_state_and_probabilities(alice_client, model_version, post_upload, rng):
    post_upload(alice_client, [upload_file("good.wav", wav_bytes(rng)), upload_file("fake.wav", b"not audio " * 50)])
    job = Job.objects.get()
    html = alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'data-status-url="/jobs/{job.pk}/status.json"' in html and 'data-finished="true"' in html
    assert '<progress id="job-progress" max="2" value="2">' in html
    assert html.count("<tr data-file-id=") == 2
    assert "not a WAV, FLAC, OGG or MP3 recording" in html
    prediction = Prediction.objects.get()
    assert f'href="/predictions/{prediction.pk}/"' in html


def test_a_zip_of_recordings_is_expanded_and_nested_folders_are_flattened(
    alice_client, model_version, post_upload, rng
):
    archive = zip_bytes({"take1.wav": wav_bytes(rng), "session/day2/take2.ogg": wav_bytes(rng, fmt="OGG")})
    post_upload(alice_client, [upload_file("takes.zip", archive)])
    status = job_status(alice_client, Job.objects.get().pk)
    by_name = files_by_name(status)
    assert set(by_name) == {"take1.wav", "take2.ogg"}
    assert all(f["status"] == "done" for f in status["files"])


def bad_inputs(rng) -> dict[str, bytes]:
    good = wav_bytes(rng, seconds=1.0)
    return {
        "text.wav": b"This is a text file, not a recording.\n" * 20,
        "truncated.wav": good[:30],
        "empty.wav": b"",
        "blip.wav": wav_bytes(rng, seconds=0.1),
    }


def test_each_bad_file_fails_with_its_reason_while_the_good_file_of_the_same_upload_is_analysed(
    alice_client, model_version, post_upload, rng
):
    files = [upload_file(name, data) for name, data in bad_inputs(rng).items()]
    files.append(upload_file("good.wav", wav_bytes(rng)))
    response = post_upload(alice_client, files)
    assert response.status_code == 302
    by_name = files_by_name(job_status(alice_client, Job.objects.get().pk))
    assert by_name["good.wav"]["status"] == "done"
    assert "not a WAV, FLAC, OGG or MP3" in by_name["text.wav"]["reason"]
    assert "could not be decoded" in by_name["truncated.wav"]["reason"]
    assert "empty" in by_name["empty.wav"]["reason"]
    assert "0.10 s long" in by_name["blip.wav"]["reason"]
    for name in ("text.wav", "truncated.wav", "empty.wav", "blip.wav"):
        assert by_name[name]["status"] == "failed" and by_name[name]["url"] is None
    csv = alice_client.get("/history.csv").getvalue().decode()
    assert "0.10 s long" in csv and "not a WAV, FLAC, OGG or MP3" in csv


def test_an_over_long_recording_is_refused_with_the_limit(alice_client, model_version, post_upload, rng, settings):
    settings.UPLOAD_MAX_DURATION_S = 3
    post_upload(
        alice_client, [upload_file("long.wav", wav_bytes(rng, seconds=5)), upload_file("ok.wav", wav_bytes(rng))]
    )
    by_name = files_by_name(job_status(alice_client, Job.objects.get().pk))
    assert by_name["long.wav"]["status"] == "failed"
    assert "5 seconds long; the limit is 3 seconds" in by_name["long.wav"]["reason"]
    assert by_name["ok.wav"]["status"] == "done"


def test_an_oversized_file_is_refused_without_being_stored(
    alice_client, model_version, post_upload, rng, settings, private_storage
):
    settings.UPLOAD_MAX_FILE_BYTES = 60_000
    post_upload(
        alice_client,
        [upload_file("big.wav", wav_bytes(rng, seconds=3)), upload_file("ok.wav", wav_bytes(rng, seconds=1))],
    )
    by_name = files_by_name(job_status(alice_client, Job.objects.get().pk))
    assert "the limit is 0.0572205 MB a file" in by_name["big.wav"]["reason"]  # 60,000 bytes, in MB
    assert by_name["big.wav"]["status"] == "failed" and by_name["ok.wav"]["status"] == "done"
    assert len([p for p in private_storage.rglob("*") if p.is_file()]) == 1


def test_too_many_files_in_one_submit_are_refused_with_a_form_error(alice_client, settings, rng):
    settings.UPLOAD_MAX_FILES = 2
    files = [upload_file(f"{i}.wav", b"x") for i in range(3)]
    response = alice_client.post("/upload/", {"files": files})
    assert response.status_code == 400
    assert "at most 2 can be uploaded at once" in response.content.decode()
    assert not Job.objects.exists()


def test_zip_path_tricks_are_refused_per_member(alice_client, model_version, post_upload, rng):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../escape.wav", wav_bytes(rng))
        zf.writestr("/etc/absolute.wav", wav_bytes(rng))
        zf.writestr("ok/inside.wav", wav_bytes(rng))
    post_upload(alice_client, [upload_file("tricks.zip", buf.getvalue())])
    by_name = files_by_name(job_status(alice_client, Job.objects.get().pk))
    assert "unsafe path" in by_name["../escape.wav"]["reason"]
    assert "unsafe path" in by_name["/etc/absolute.wav"]["reason"]
    assert by_name["inside.wav"]["status"] == "done"


def test_a_zip_bomb_member_is_refused_and_the_rest_of_the_archive_processed(
    alice_client, model_version, post_upload, rng, private_storage
):
    archive = zip_bytes({"bomb.wav": b"RIFF" + b"\0" * (20 * 2**20), "real.wav": wav_bytes(rng)})
    assert len(archive) < 200_000
    post_upload(alice_client, [upload_file("bomb.zip", archive)])
    by_name = files_by_name(job_status(alice_client, Job.objects.get().pk))
    assert by_name["bomb.wav"]["status"] == "failed" and "zip bomb" in by_name["bomb.wav"]["reason"]
    assert by_name["real.wav"]["status"] == "done"


def test_a_zip_that_would_unpack_past_the_total_limit_is_refused_whole(
    alice_client, model_version, post_upload, rng, settings
):
    settings.UPLOAD_MAX_ZIP_BYTES = 50_000
    post_upload(alice_client, [upload_file("many.zip", zip_bytes({"a.wav": wav_bytes(rng), "b.wav": wav_bytes(rng)}))])
    (f,) = job_status(alice_client, Job.objects.get().pk)["files"]
    assert f["name"] == "many.zip" and "would unpack to" in f["reason"]


def test_a_damaged_zip_fails_with_a_reason(alice_client, model_version, post_upload, rng):
    archive = zip_bytes({"a.wav": wav_bytes(rng)})
    post_upload(alice_client, [upload_file("broken.zip", archive[: len(archive) // 2])])
    (f,) = job_status(alice_client, Job.objects.get().pk)["files"]
    assert f["status"] == "failed" and "zip archive is damaged" in f["reason"]


def test_a_nested_zip_is_not_unpacked(alice_client, model_version, post_upload, rng):
    inner = zip_bytes({"a.wav": wav_bytes(rng)})
    post_upload(alice_client, [upload_file("outer.zip", zip_bytes({"inner.zip": inner}))])
    (f,) = job_status(alice_client, Job.objects.get().pk)["files"]
    assert "Archives inside archives" in f["reason"]


def test_an_upload_without_an_active_model_fails_its_files_with_a_reason(alice_client, post_upload, rng, db):
    post_upload(alice_client, [upload_file("a.wav", wav_bytes(rng))])
    (f,) = job_status(alice_client, Job.objects.get().pk)["files"]
    assert f["status"] == "failed" and "No model is active" in f["reason"]


def test_a_post_without_files_shows_the_form_again(alice_client):
    response = alice_client.post("/upload/", {})
    assert response.status_code == 400 and "This field is required" in response.content.decode()


def test_status_json_the_job_page_and_history_carry_the_models_doubt(alice_client, doubtful_model, post_upload, rng):
    post_upload(alice_client, [upload_file("murmur.wav", wav_bytes(rng))])
    job = Job.objects.get()
    (f,) = job_status(alice_client, job.pk)["files"]
    reason = Prediction.objects.get().uncertain_reason
    assert f["status"] == "done" and f["uncertain"] is True and f["uncertain_reason"] == reason
    assert reason.startswith("top probability")
    badge = f'<span class="badge badge--uncertain">uncertain: {reason}</span>'
    assert badge in alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert badge in alice_client.get("/history/").content.decode()


def test_status_json_says_certain_for_a_result_the_model_does_not_doubt(
    alice, alice_client, make_prediction, model_version
):
    prediction = make_prediction(alice, model=model_version)
    (f,) = job_status(alice_client, prediction.file.job_id)["files"]
    assert f["uncertain"] is False and f["uncertain_reason"] == ""


def quiet_room(rng: np.random.Generator, *, seconds: float = 3.0, sr: int = 16000) -> np.ndarray:
    """Microphone hiss at about -66 dBFS: audible in the file (peaks above -60 dBFS), but no voice."""
    return (0.0005 * rng.standard_normal(int(seconds * sr))).astype(np.float32)


def wav_of(y: np.ndarray, *, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def test_a_job_where_every_file_failed_looks_like_a_failure(alice_client, speech_model, post_upload, rng):
    from nonspeech import NON_SPEECH

    tones = [upload_file(f"tone-{k}.wav", wav_of(NON_SPEECH["tone 440 Hz"](16000, 2.0, rng))) for k in range(2)]
    post_upload(alice_client, tones)
    job = Job.objects.get()
    status = job_status(alice_client, job.pk)
    assert status["finished"] and status["all_failed"] and status["failed"] == 2
    html = alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'class="is-finished has-all-failed"' in html
    notice = html.index('id="job-failed-notice"')
    assert 'None of the\n    <span id="job-failed-count">2</span> files could be analysed' in html
    assert notice < html.index('id="job-files"') and " hidden>" not in html[notice : notice + 120]


def test_a_job_with_one_file_done_is_not_all_failed(alice_client, speech_model, post_upload, rng):
    from nonspeech import NON_SPEECH

    post_upload(
        alice_client,
        [
            upload_file("tone.wav", wav_of(NON_SPEECH["tone 440 Hz"](16000, 2.0, rng))),
            upload_file("talk.wav", wav_bytes(rng, seconds=3, sr=16000)),
        ],
    )
    job = Job.objects.get()
    assert job_status(alice_client, job.pk)["all_failed"] is False
    assert "has-all-failed" not in alice_client.get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.parametrize("batch_size", [1, 8], ids=["one-task-per-file", "batched"])
def test_a_recording_without_speech_fails_with_the_no_speech_reason_while_speech_is_analysed(
    alice_client, speech_model, post_upload, rng, settings, batch_size
):
    settings.INFERENCE_BATCH_SIZE = batch_size
    cough = quiet_room(rng)
    cough[16000:17600] += voiced(rng, seconds=0.1, sr=16000)  # 0.1 s of voice in 3 s of hiss
    from nonspeech import NON_SPEECH

    files = [
        upload_file("room.wav", wav_of(quiet_room(rng))),
        upload_file("cough.wav", wav_of(cough)),
        upload_file("tone.wav", wav_of(NON_SPEECH["tone 440 Hz"](16000, 3.0, rng))),
        upload_file("music.wav", wav_of(NON_SPEECH["notes with drums"](16000, 3.0, rng))),
        upload_file("talk.wav", wav_bytes(rng, seconds=3, sr=16000)),
    ]
    post_upload(alice_client, files)
    job = Job.objects.get()
    by_name = files_by_name(job_status(alice_client, job.pk))
    for name in ("room.wav", "cough.wav", "tone.wav", "music.wav"):
        error = by_name[name]["reason"]
        assert by_name[name]["status"] == "failed" and by_name[name]["url"] is None
        assert error.startswith("No speech detected (") and " s of voice found;" in error
        assert float(error.removeprefix("No speech detected (").split(" s")[0]) < 0.3
        assert "upload a recording of someone speaking" in error
    assert by_name["talk.wav"]["status"] == "done"
    assert AudioFile.objects.get(original_name="room.wav").attempts == 1  # final, not retried
    assert "No speech detected (" in alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "No speech detected (0.0 s of voice found" in alice_client.get("/history.csv").getvalue().decode()


def test_a_silent_recording_fails_with_a_clear_reason(alice_client, model_version, post_upload, rng):
    post_upload(alice_client, [upload_file("silence.wav", wav_of(np.zeros(3 * 16000, dtype=np.float32)))])
    (f,) = job_status(alice_client, Job.objects.get().pk)["files"]
    assert f["status"] == "failed" and f["reason"].startswith("The recording is silent")


@pytest.mark.parametrize("subtype,bad", [("FLOAT", np.inf), ("DOUBLE", -np.inf), ("FLOAT", np.nan)])
def test_a_recording_with_samples_that_are_not_numbers_says_so_rather_than_silent(
    alice_client, post_upload, rng, model_version, subtype, bad
):
    y = voiced(rng, seconds=2.0, sr=16000).astype(np.float64)
    y[::100] = bad
    buf = io.BytesIO()
    sf.write(buf, y, 16000, format="WAV", subtype=subtype)
    post_upload(alice_client, [upload_file("broken.wav", buf.getvalue()), upload_file("ok.wav", wav_bytes(rng))])
    broken, ok = AudioFile.objects.get(original_name="broken.wav"), AudioFile.objects.get(original_name="ok.wav")
    assert broken.status == "failed" and not broken.stored_name
    assert "not numbers (infinite or NaN values)" in broken.error and "silent" not in broken.error
    assert ok.status == "done"


def test_recent_uploads_on_the_upload_page_are_named_like_my_uploads(alice_client, model_version, post_upload, rng):
    post_upload(alice_client, [upload_file("monday.wav", wav_bytes(rng)), upload_file("tuesday.wav", wav_bytes(rng))])
    page = alice_client.get("/upload/").content.decode()
    recent = page.split('id="recent-uploads"', 1)[1].split("</section>", 1)[0]
    assert "monday.wav +1" in recent and "Job " not in recent and not recent.startswith(" hidden")


def test_staging_files_left_by_an_interrupted_upload_are_removed_by_a_later_upload(
    alice_client, rng, private_storage, monkeypatch
):
    """A web process killed mid-upload leaves its staging file in UPLOAD_ROOT/.incoming; the next upload
    (once the sweep is due) removes those older than an hour and leaves a request's fresh one alone."""
    incoming = private_storage / ".incoming"
    incoming.mkdir(parents=True)
    stale, fresh = incoming / "stale.wav", incoming / "in-flight.wav"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y" * 1000)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    monkeypatch.setattr(recordings, "_staging_swept_at", 0.0)  # as in a web process that just started

    response = alice_client.post("/upload/", {"files": [upload_file("take.wav", wav_bytes(rng))]})
    assert response.status_code == 302
    assert sorted(p.name for p in incoming.iterdir()) == ["in-flight.wav"]
