"""End to end over real HTTP: a live server, a real ``celery worker`` process on Redis, PostgreSQL.

Sign up, upload good and bad files through the real views, poll status.json until the job finishes,
then check the rows the worker wrote.  The same through the REST API, with a webhook received on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import PASSWORD, wav_bytes
from django.conf import settings
from webhook_receiver import Receiver, verify
from worker_process import worker_env

from mlcore.labels import EMOTIONS
from predictions.models import AudioFile, Prediction
from predictions.models.api import WebhookSettings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _headline(segments: list[dict]) -> str:
    """What the stored headline must be: the emotion held longest by seconds of speech over the
    timeline's segments (issue 15), never an average of moods."""
    assert segments
    held: dict[str, float] = {}
    for s in segments:
        held[s["emotion"]] = held.get(s["emotion"], 0.0) + s["speech_s"]
    return max(held, key=lambda e: (held[e], -EMOTIONS.index(e)))


@pytest.fixture
def celery_worker(live_server, model_version, private_storage, tmp_path):
    """A real prefork worker (one child) started without -Q, and a webhook worker, against the test database."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("no CELERY_BROKER_URL: the end-to-end test needs Redis")
    # The webhook receiver of the API test listens on 127.0.0.1; retry after 1 s, then 2 s.
    env = worker_env(UPLOAD_ROOT=str(settings.UPLOAD_ROOT), WEBHOOK_ALLOW_PRIVATE="1", WEBHOOK_RETRY_BASE_S="1")
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115
    celery = [sys.executable, "-m", "celery", "-A", "serweb", "worker", "--without-gossip", "--without-mingle",
              "--without-heartbeat", "--loglevel=INFO"]  # fmt: skip
    # As deployed: the analysis worker with no -Q (the app's configuration names its queues), and
    # webhooks in a process of their own.
    worker = subprocess.Popen(
        [*celery, "--pool=prefork", "-c", "1", "-n", f"e2e-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    hooks = subprocess.Popen(
        [*celery, "-Q", "webhooks", "--pool=threads", "-c", "2", "-n", f"e2e-hooks-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker.log_text = lambda: (tmp_path / "worker.log").read_text(errors="replace")
    yield worker
    for process in (worker, hooks):
        process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task, then exit
    for process in (worker, hooks):
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.seek(0)
    output = log.read()
    log.close()
    assert "Traceback" not in output, output[-4000:]


def sign_up(base: str) -> requests.Session:
    s = requests.Session()
    s.get(f"{base}/accounts/signup/", timeout=30)
    response = s.post(
        f"{base}/accounts/signup/",
        data={
            "username": "e2e",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "csrfmiddlewaretoken": s.cookies["csrftoken"],
        },
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:1000]
    return s


@pytest.mark.parametrize("batch", [1, 3], ids=["one-task-per-file", "batched"])
def test_uploads_over_http_are_analysed_by_a_real_worker_into_postgresql(
    live_server, celery_worker, rng, settings, batch
):
    # Batched: the three files that pass the upload checks travel as one process_files message, and
    # the 0.1 s blip among them fails alone.
    settings.INFERENCE_BATCH_SIZE = batch
    base = live_server.url
    s = sign_up(base)
    s.get(f"{base}/upload/", timeout=30)
    files = [
        ("files", ("first.wav", wav_bytes(rng, seconds=4), "audio/wav")),
        ("files", ("second.flac", wav_bytes(rng, seconds=6, fmt="FLAC"), "audio/flac")),
        ("files", ("fake.wav", b"definitely not audio\n" * 100, "audio/wav")),
        ("files", ("blip.wav", wav_bytes(rng, seconds=0.1), "audio/wav")),
    ]
    response = s.post(
        f"{base}/upload/",
        files=files,
        data={"csrfmiddlewaretoken": s.cookies["csrftoken"]},
        timeout=60,
        allow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["Location"].startswith("/jobs/")
    status_url = f"{base}{response.headers['Location']}status.json"

    deadline = time.monotonic() + 240  # a loaded 2-core machine: TensorFlow start-up can take a while
    while True:
        status = s.get(status_url, timeout=30).json()
        if status["finished"] or time.monotonic() > deadline or celery_worker.poll() is not None:
            break
        time.sleep(0.5)
    assert status["status"] == "finished", status
    by_name = {f["name"]: f for f in status["files"]}
    assert by_name["first.wav"]["status"] == by_name["second.flac"]["status"] == "done"
    assert "not a WAV, FLAC, OGG or MP3" in by_name["fake.wav"]["reason"]
    assert by_name["blip.wav"]["status"] == "failed" and "0.10 s long" in by_name["blip.wav"]["reason"]

    predictions = Prediction.objects.select_related("file").order_by("file__id")
    assert [p.file.original_name for p in predictions] == ["first.wav", "second.flac"]
    for p in predictions:
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert p.top_emotion == _headline(p.segments)
        assert len(p.envelope) == 800 and p.model_version.is_active
    assert AudioFile.objects.get(original_name="blip.wav").attempts == 1
    assert celery_worker.log_text().count("predictions.process_files[") == (2 if batch > 1 else 0)  # received + done
    assert s.get(f"{base}/history.csv", timeout=30).text.count("\n") == 5


def test_a_job_sent_through_the_api_is_analysed_by_a_real_worker_and_its_webhook_retried(
    live_server, celery_worker, rng, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the web process checks the callback URL when the job is sent
    receiver = Receiver(codes=[500, 200])
    base = live_server.url
    sign_up(base)
    created = requests.post(
        f"{base}/api/v1/tokens", json={"username": "e2e", "password": PASSWORD, "name": "e2e"}, timeout=30
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['token']}"}
    files = [
        ("files", ("api.wav", wav_bytes(rng, seconds=4), "audio/wav")),
        ("files", ("api-fake.wav", b"definitely not audio\n" * 100, "audio/wav")),
    ]
    response = requests.post(
        f"{base}/api/v1/jobs", files=files, data={"callback_url": receiver.url}, headers=auth, timeout=60
    )
    assert response.status_code == 202, response.text
    job_url = response.headers["Location"]  # absolute: followed as it is
    assert job_url.startswith(f"{base}/api/v1/jobs/")

    # The job first (a loaded machine may take minutes to start the worker), then its webhook: a 500,
    # a retry after about a second, a 200.
    for waiting_for, seconds in (("finished", 240), ("webhook", 60)):
        deadline = time.monotonic() + seconds
        while True:
            job = requests.get(job_url, headers=auth, timeout=30).json()
            done = job["status"] == "finished" if waiting_for == "finished" else job["webhook"]["state"] != "pending"
            if done or time.monotonic() > deadline or celery_worker.poll() is not None:
                break
            time.sleep(0.5)
    receiver.close()
    context = f"worker exit {celery_worker.poll()}, {len(receiver.received)} received, job {job}"
    by_name = {f["name"]: f for f in job["files"]}
    assert job["status"] == "finished" and by_name["api.wav"]["status"] == "done"
    api = Prediction.objects.get(file__original_name="api.wav")
    assert by_name["api.wav"]["top_emotion"] == api.top_emotion == _headline(api.segments)
    assert "not a WAV, FLAC, OGG or MP3" in by_name["api-fake.wav"]["reason"]
    assert job["webhook"]["state"] == "delivered", context
    assert [a["status_code"] for a in job["webhook"]["attempts"]] == [500, 200]
    assert len(receiver.received) == 2
    secret = WebhookSettings.objects.get(user__username="e2e").signing_secret
    assert all(verify(secret, hit.headers["Serweb-Signature"], hit.body) for hit in receiver.received)
    assert json.loads(receiver.received[-1].body)["files"] == job["files"]
