"""Factories and fixtures for the platform tests: users, logged-in clients, model versions, predictions,
synthetic uploads, and tasks run through Celery's eager mode unless a test starts a real worker."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from audio_factory import voiced
from bundle_factory import build_bundle
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from s3_server import MotoServer, storage_settings

from mlcore.labels import EMOTIONS
from predictions.models import AudioFile, Job, ModelVersion, Prediction, QueueHeartbeat
from predictions.pipeline import registry

PASSWORD = "correct-horse-battery-staple-7"


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path) -> Path:
    """Each test stores uploads and unpacked bundles in its own folders."""
    settings.UPLOAD_ROOT = tmp_path / "uploads"
    settings.MODEL_ROOT = tmp_path / "models"
    return settings.UPLOAD_ROOT


@pytest.fixture(autouse=True)
def no_remembered_heartbeat() -> None:
    """Each test's database starts with no heartbeat: this process must not remember an earlier test's."""
    QueueHeartbeat.recent_beats.clear()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    """An S3 server (moto) in its own process on a port of its own, for the whole session."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def object_storage(settings, s3_server) -> str:
    """Recordings go to a fresh, private bucket of the test S3 server; returns the bucket's name."""
    bucket = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "recordings": storage_settings(s3_server.url, bucket)}
    return bucket


@pytest.fixture(autouse=True)
def tasks_run_in_process(eager_tasks) -> None:
    """Every platform test runs its tasks eagerly, except the ones that start a real worker."""


@pytest.fixture
def model_version(db) -> ModelVersion:
    """The active model: always the shipped default bundle (committed in mlcore/models/default), so every
    machine runs these tests on the model users get, and the notes and figures the pages show are checked
    against its real metrics.  Tests that need another model build one (``tiny_bundle``, ``build_bundle``)."""
    version, _ = registry.register_bundle(registry.DEFAULT_BUNDLE, activate=True)
    return version


@pytest.fixture(scope="session")
def doubtful_bundle(tmp_path_factory) -> Path:
    """A tiny bundle whose own uncertainty rule (config ``uncertain_rule``) doubts every judgement: its
    near-uniform outputs never reach the 99% top probability the rule asks for."""
    rule = {"min_top": 0.99, "min_margin": 0.0, "little_speech_s": 0.0}
    return build_bundle(
        tmp_path_factory.mktemp("bundles") / "doubtful", name="doubtful", seed=3, config={"uncertain_rule": rule}
    )


@pytest.fixture
def doubtful_model(db, doubtful_bundle) -> ModelVersion:
    version, _ = registry.register_bundle(doubtful_bundle, activate=True)
    return version


@pytest.fixture(scope="session")
def speech_bundle(tmp_path_factory) -> Path:
    """A tiny bundle on the pretrained speech encoder's features (``whisper-stats``, one layer), so the
    engine runs its speech detector; skipped where the encoder's weights are not installed."""
    from mlcore.errors import EncoderError
    from mlcore.features.registry import get_extractor

    try:
        get_extractor("whisper-stats", layers=(1,)).load()
    except EncoderError as e:
        pytest.skip(str(e))
    return build_bundle(
        tmp_path_factory.mktemp("bundles") / "speech",
        name="speech",
        seed=5,
        features="whisper-stats",
        feature_params={"layers": (1,)},
    )


@pytest.fixture
def speech_model(db, speech_bundle) -> ModelVersion:
    version, _ = registry.register_bundle(speech_bundle, activate=True)
    return version


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    def make(username: str = "alice", **extra):
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def make_prediction(db) -> Callable[..., Prediction]:
    """A finished file with a prediction, written directly (no audio, no model run)."""

    def make(
        user,
        *,
        emotion: str = "happy",
        uploaded_at: datetime | None = None,
        model: ModelVersion,
        name: str = "clip.wav",
        job: Job | None = None,
        top_probability: float = 0.7,
        uncertain_reason: str = "",
    ) -> Prediction:
        job = job or Job.objects.create(user=user, status=Job.Status.FINISHED)
        f = AudioFile.objects.create(job=job, user=user, original_name=name, status=AudioFile.Status.DONE)
        if uploaded_at is not None:
            AudioFile.objects.filter(pk=f.pk).update(created_at=uploaded_at)
            f.refresh_from_db()
        probs = dict.fromkeys(EMOTIONS, (1 - top_probability) / 7)
        probs[emotion] = top_probability
        return Prediction.objects.create(
            file=f,
            user=user,
            model_version=model,
            uploaded_at=f.created_at,
            top_emotion=emotion,
            confidence=top_probability,
            duration_s=4.0,
            uncertain=bool(uncertain_reason),
            uncertain_reason=uncertain_reason,
            **{f"p_{e}": p for e, p in probs.items()},
            timeline=[],
            envelope=[[-0.1, 0.1]] * 10,
        )

    return make


# --- Synthetic uploads ---------------------------------------------------------------------------------
def wav_bytes(rng: np.random.Generator, *, seconds: float = 2.0, sr: int = 22050, fmt: str = "WAV") -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, voiced(rng, seconds=seconds, sr=sr), sr, format=fmt)
    return buf.getvalue()


def upload_file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def zip_bytes(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name) if name.startswith("/") else name, data)
    return buf.getvalue()


@pytest.fixture
def post_upload(django_capture_on_commit_callbacks) -> Callable:
    """POST files to /upload/ like a browser; queued tasks run (eagerly) once the upload commits."""

    def post(client: Client, files: list[SimpleUploadedFile]):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/upload/", {"files": files})
        return response

    return post


def job_status(client: Client, job_id: int) -> dict:
    response = client.get(f"/jobs/{job_id}/status.json")
    assert response.status_code == 200
    return response.json()


def files_by_name(status: dict) -> dict[str, dict]:
    return {f["name"]: f for f in status["files"]}


def now() -> datetime:
    return timezone.now()
