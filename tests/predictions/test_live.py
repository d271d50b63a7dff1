"""Live mode's endpoints: a take is ONE recording whose audio and timeline grow chunk by chunk, finished by
Stop; chunks that arrive out of order or twice never corrupt it; anyone else's take is a 404."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import soundfile as sf
from audio_factory import spoken
from conftest import upload_file, wav_bytes

from predictions.models import AudioCharge, AudioFile, Job, LiveChunk, LiveTake, Prediction
from predictions.pipeline import recordings, registry

pytestmark = pytest.mark.django_db
SR = 16000


def pcm_chunks(rng: np.random.Generator, seconds: float) -> list[bytes]:
    """A take of ``seconds`` of speech cut as the recorder cuts it: 4 s chunks and the tail, each a WAV."""
    y = spoken(rng, seconds=seconds, sr=SR, f0=150.0)
    out = []
    for start in range(0, y.size, 4 * SR):
        buf = io.BytesIO()
        sf.write(buf, y[start : start + 4 * SR], SR, format="WAV", subtype="PCM_16")
        out.append(buf.getvalue())
    return out


def samples(wav: bytes) -> np.ndarray:
    return sf.read(io.BytesIO(wav), dtype="int16")[0]


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """POST one chunk like the recorder; the analysis it publishes runs (eagerly) once it commits."""

    def post(client, key, seq, wav, *, name="Recording 2026-12-02 14:03"):
        data = {"files": [upload_file(f"chunk {seq}.wav", wav)], "take": str(key), "seq": str(seq), "name": name}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/live/", data)

    return post


def finish(client, capture, take: int, chunks: int):
    with capture(execute=True):
        return client.post(f"/live/{take}/finish/", {"chunks": str(chunks)})


def stored(take: LiveTake) -> np.ndarray:
    take.file.refresh_from_db()
    with recordings.local_copy(take.file.stored_name) as path:
        return sf.read(str(path), dtype="int16")[0]


def test_a_live_take_is_one_recording_whose_timeline_grows_until_stop_finishes_it(
    alice_client, model_version, rng, send, django_capture_on_commit_callbacks
):
    chunks = pcm_chunks(rng, 14.0)  # 4 + 4 + 4 + 2 s
    key = uuid.uuid4()
    answer = send(alice_client, key, 0, chunks[0]).json()
    take = LiveTake.objects.get(pk=answer["take"])
    assert answer["status_url"] == f"/live/{take.pk}/status.json"
    seen = []
    for seq in (1, 2):
        send(alice_client, key, seq, chunks[seq])
        status = alice_client.get(answer["status_url"]).json()
        assert status["status"] == "processing" and not status["finished"]
        seen.append(len(status["windows"]))
    assert seen[0] < seen[1]  # the timeline grows while the person speaks
    # ... on the take: history, exports and the API see no half-take result.
    assert not Prediction.objects.exists() and status["headline"]
    assert status["seconds"] == 12.0 and status["url"] == f"/jobs/{answer['job']}/"
    send(alice_client, key, 3, chunks[3])
    assert finish(alice_client, django_capture_on_commit_callbacks, take.pk, 4).status_code == 200
    status = alice_client.get(answer["status_url"]).json()
    assert status["finished"] and status["status"] == "done"

    # One job, one file, one recording holding every sample in order.
    job = Job.objects.get()
    f = AudioFile.objects.get()
    assert job.name == "Live: Recording 2026-12-02 14:03" and job.status == Job.Status.FINISHED
    assert f.original_name == "Recording 2026-12-02 14:03.wav" and f.audio_s == 14.0
    assert np.array_equal(stored(take), np.concatenate([samples(c) for c in chunks]))
    assert status["url"] == f.prediction.get_absolute_url()
    # The timeline built chunk by chunk is the one the whole recording gets.
    _, predictor = registry.get_predictor()
    with recordings.local_copy(f.stored_name) as path:
        whole = predictor.analyse(path)
    grown = f.prediction
    assert [(w["start_s"], w["end_s"]) for w in grown.timeline] == [
        (round(w.start_s, 3), round(w.end_s, 3)) for w in whole.timeline
    ]
    assert grown.top_emotion == whole.emotion and grown.confidence == pytest.approx(whole.confidence, abs=1e-5)
    assert len(status["windows"]) == len(whole.timeline) and status["windows"][0]["span"] == "0:00-0:04"


def test_chunks_out_of_order_or_sent_twice_never_corrupt_the_take(
    alice_client, model_version, rng, send, django_capture_on_commit_callbacks
):
    chunks = pcm_chunks(rng, 12.0)
    key = uuid.uuid4()
    take = LiveTake.objects.get(pk=send(alice_client, key, 1, chunks[1]).json()["take"])
    assert take.samples == 0 and LiveChunk.objects.count() == 1  # chunk 1 waits for chunk 0
    send(alice_client, key, 1, chunks[1])  # a retry of a waiting chunk
    send(alice_client, key, 0, chunks[0])
    send(alice_client, key, 0, chunks[0])  # a retry of an appended chunk
    send(alice_client, key, 2, chunks[2])
    take.refresh_from_db()
    assert take.next_seq == 3 and LiveChunk.objects.count() == 0
    assert np.array_equal(stored(take), np.concatenate([samples(c) for c in chunks]))
    assert sum(AudioCharge.objects.values_list("audio_s", flat=True)) == pytest.approx(12.0)
    finish(alice_client, django_capture_on_commit_callbacks, take.pk, 3)
    send(alice_client, key, 2, chunks[2])  # a late retry after Stop
    take.refresh_from_db()
    assert take.file.status == AudioFile.Status.DONE and take.samples == 12 * SR
    assert AudioFile.objects.count() == 1


def test_someone_elses_take_is_404_and_their_key_opens_a_take_of_ones_own(
    alice_client, bob_client, model_version, rng, send
):
    chunks = pcm_chunks(rng, 8.0)
    key = uuid.uuid4()
    take = send(alice_client, key, 0, chunks[0]).json()["take"]
    assert bob_client.get(f"/live/{take}/status.json").status_code == 404
    assert bob_client.post(f"/live/{take}/finish/", {"chunks": "1"}).status_code == 404
    send(bob_client, key, 1, chunks[1])
    alices = LiveTake.objects.get(pk=take)
    assert alices.next_seq == 1 and alices.total_chunks is None
    assert LiveTake.objects.get(user__username="bob").pk != take


def test_a_chunk_that_is_not_the_recorders_wav_is_refused(alice_client, model_version, rng, send):
    assert alice_client.post("/live/", {}).status_code == 400
    assert alice_client.get("/live/").status_code == 405
    response = send(alice_client, uuid.uuid4(), 0, wav_bytes(rng, seconds=4, sr=22050))
    assert response.status_code == 400 and "16 kHz mono 16-bit WAV" in response.json()["error"]
    response = send(alice_client, "not-a-uuid", 0, wav_bytes(rng, seconds=4, sr=16000))
    assert response.status_code == 400
    assert not LiveTake.objects.exists() and not Job.objects.exists()


def test_a_live_take_without_a_voice_fails_as_an_upload_would(
    alice_client, model_version, rng, send, django_capture_on_commit_callbacks
):
    buf = io.BytesIO()
    sf.write(buf, 0.0005 * rng.standard_normal(4 * SR), SR, format="WAV", subtype="PCM_16")
    key = uuid.uuid4()
    answer = send(alice_client, key, 0, buf.getvalue()).json()
    assert alice_client.get(answer["status_url"]).json()["windows"] == []
    finish(alice_client, django_capture_on_commit_callbacks, answer["take"], 1)
    status = alice_client.get(answer["status_url"]).json()
    assert status["finished"] and status["status"] == "failed"
    assert status["reason"].startswith("No speech detected")
    assert not AudioFile.objects.get().stored_name  # the recording goes, as a failed upload's does


def test_deleting_a_take_while_a_chunk_waits_removes_the_chunk_from_storage_too(
    alice_client, model_version, rng, send, django_capture_on_commit_callbacks
):
    chunks = pcm_chunks(rng, 8.0)
    take = LiveTake.objects.get(pk=send(alice_client, uuid.uuid4(), 1, chunks[1]).json()["take"])
    waiting = LiveChunk.objects.get().stored_name
    assert recordings.exists(waiting)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/jobs/{take.file.job_id}/delete/")
    assert response.status_code == 302 and not Job.objects.exists() and not LiveChunk.objects.exists()
    assert not recordings.exists(waiting)
