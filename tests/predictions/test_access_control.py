"""A user sees only their own jobs, predictions, audio and history: anyone else's object is a 404."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import upload_file, wav_bytes

from predictions.models import Prediction

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_prediction(alice_client, model_version, post_upload, rng) -> Prediction:
    post_upload(alice_client, [upload_file("alice-secret.wav", wav_bytes(rng))])
    return Prediction.objects.get()


def test_alice_can_open_her_own_job_prediction_and_audio(alice_client, alices_prediction):
    job_id = alices_prediction.file.job_id
    assert alice_client.get(f"/jobs/{job_id}/").status_code == 200
    assert alice_client.get(f"/jobs/{job_id}/status.json").json()["files"][0]["name"] == "alice-secret.wav"
    assert alice_client.get(f"/predictions/{alices_prediction.pk}/").status_code == 200
    audio = alice_client.get(f"/predictions/{alices_prediction.pk}/audio/")
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"


@pytest.mark.parametrize(
    "template", ["/jobs/{job}/", "/jobs/{job}/status.json", "/predictions/{pred}/", "/predictions/{pred}/audio/"]
)
def test_other_users_objects_are_404(bob_client, alices_prediction, template):
    url = template.format(job=alices_prediction.file.job_id, pred=alices_prediction.pk)
    assert bob_client.get(url).status_code == 404


def test_history_and_csv_never_include_other_users_rows(
    bob_client, alices_prediction, make_prediction, bob, model_version
):
    make_prediction(bob, name="bobs-own.wav", model=model_version)
    html = bob_client.get("/history/").content.decode()
    assert "bobs-own.wav" in html and "alice-secret.wav" not in html
    csv = bob_client.get("/history.csv").getvalue().decode()
    assert "bobs-own.wav" in csv and "alice-secret.wav" not in csv
    assert bob_client.get(f"/history/?model={model_version.pk}").status_code == 200


def test_the_audio_view_answers_range_requests_so_players_can_seek(alice_client, alices_prediction):
    size = alices_prediction.file.path.stat().st_size
    response = alice_client.get(f"/predictions/{alices_prediction.pk}/audio/", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{size}"
    assert len(b"".join(response.streaming_content)) == 100
    tail = alice_client.get(f"/predictions/{alices_prediction.pk}/audio/", HTTP_RANGE="bytes=-10")
    assert len(b"".join(tail.streaming_content)) == 10
    assert (
        alice_client.get(f"/predictions/{alices_prediction.pk}/audio/", HTTP_RANGE=f"bytes={size + 5}-").status_code
        == 416
    )


def test_stored_recordings_are_not_reachable_under_a_public_url(alice_client, alices_prediction, settings):
    stored = alices_prediction.file.stored_name
    assert (Path(settings.UPLOAD_ROOT) / stored).is_file()  # the recording exists, and its owner gets it
    assert alice_client.get(f"/predictions/{alices_prediction.pk}/audio/").status_code == 200
    for prefix in {settings.MEDIA_URL or "/media/", "/media/", "/uploads/", "/var/uploads/", settings.STATIC_URL}:
        assert alice_client.get(f"{prefix}{stored}").status_code == 404, prefix
