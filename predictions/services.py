"""Upload, queueing and processing logic shared by views, tasks, admin and management commands."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import mlcore
from mlcore.labels import EMOTIONS
from predictions import uploads
from predictions.models import AudioFile, Job, ModelVersion, Prediction

logger = logging.getLogger(__name__)

MODELS_DIR = Path(mlcore.__file__).resolve().parent / "models"


@dataclass(frozen=True)
class ShippedBundle:
    """A model bundle that ships in the repository and is registered on set-up."""

    path: Path
    # Activated on set-up; exactly one shipped bundle is.  The others are registered only, for an admin
    # to switch to in the admin.
    active: bool


# Every bundle serweb ships, in the order set-up registers them (post_migrate on an empty registry,
# and `manage.py register_model --default`).
SHIPPED_BUNDLES: tuple[ShippedBundle, ...] = (
    ShippedBundle(MODELS_DIR / "default", active=True),
    ShippedBundle(MODELS_DIR / "fast", active=False),
)
DEFAULT_BUNDLE = next(b.path for b in SHIPPED_BUNDLES if b.active)
ENVELOPE_POINTS = 800

NO_MODEL = "No model is active, so the file could not be analysed. An administrator must activate a model version."
MISSING_FILE = "The stored recording is missing on the server; upload it again."
INTERNAL = "An internal error stopped the analysis of this file. Try uploading it again later."
TIMED_OUT = "The analysis took longer than the time limit and was stopped. Upload a shorter recording."
TOO_MANY_ATTEMPTS = "The file could not be analysed after {n} attempts (the worker stopped each time)."


# --- Uploads -------------------------------------------------------------------------------------------
def create_job(user: AbstractBaseUser, files: Sequence[UploadedFile]) -> Job:
    """Store the files of one submit as one Job and queue each accepted file once the rows are committed."""
    incoming = uploads.accept_uploads(files, user=user)
    now = timezone.now()
    try:
        with transaction.atomic():
            job = Job.objects.create(user=user)
            rows = [
                AudioFile(
                    job=job,
                    user=user,
                    original_name=item.original_name,
                    stored_name=item.stored_name,
                    size=item.size,
                    sha256=item.sha256,
                    content_type=item.content_type,
                    audio_s=item.audio_s,
                    status=AudioFile.Status.FAILED if item.error else AudioFile.Status.QUEUED,
                    error=item.error,
                    queued_at=None if item.error else now,
                    finished_at=now if item.error else None,
                )
                for item in incoming
            ]
            AudioFile.objects.bulk_create(rows)
            job.refresh_status()
            queued = [row.pk for row in rows if row.status == AudioFile.Status.QUEUED]
            # The worker must see committed rows, so publish only after COMMIT.
            transaction.on_commit(lambda: enqueue(queued))
    except BaseException:
        uploads.remove_stored(incoming)
        raise
    return job


def enqueue(file_ids: Iterable[int]) -> None:
    """Send one inference task per file (or per INFERENCE_BATCH_SIZE files when that is above 1).

    A broker outage leaves the files queued for the sweep.
    """
    from predictions.tasks import process_file, process_files

    ids = list(file_ids)
    size = max(1, settings.INFERENCE_BATCH_SIZE)
    for i in range(0, len(ids), size):
        chunk = ids[i : i + size]
        try:
            if len(chunk) == 1:
                process_file.delay(chunk[0])
            else:
                process_files.delay(chunk)
        except Exception:  # kombu raises several types when the broker is unreachable
            logger.exception("could not queue files %s; the sweep will retry", chunk)


# --- Model versions ------------------------------------------------------------------------------------
def register_bundle(path: Path | str, *, activate: bool = False) -> tuple[ModelVersion, bool]:
    """Register the bundle at ``path`` (verified); the same bundle twice is a no-op.

    Returns ``(version, created)``.  The first version ever registered becomes active.
    """
    from mlcore.bundle import load_bundle

    path = Path(path).resolve()
    bundle = load_bundle(path)
    with transaction.atomic():
        version = ModelVersion.objects.filter(fingerprint=bundle.fingerprint).first()
        created = version is None
        if created:
            try:
                stored = path.relative_to(settings.BASE_DIR)
            except ValueError:
                stored = path
            version = ModelVersion.objects.create(
                name=bundle.name,
                architecture=bundle.architecture,
                bundle_path=str(stored),
                fingerprint=bundle.fingerprint,
                metrics=bundle.metrics,
            )
        if activate or not ModelVersion.objects.filter(is_active=True).exists():
            version.activate()
    return version, created


def register_uploaded_bundle(zip_file: UploadedFile | Path) -> ModelVersion:
    """Unpack an uploaded bundle zip under MODEL_ROOT, check it fully, and register it (not activated).

    Checks: safe archive, manifest and checksums, metadata loads, the eight emotions in order, and the
    model loads and predicts sensible probabilities on a generated clip.  Raises ``MlcoreError`` with
    the reason; nothing is left on disk or in the database then.
    """
    from mlcore.bundle import extract_bundle_zip, load_bundle
    from mlcore.errors import BundleError

    dest = Path(settings.MODEL_ROOT) / uuid.uuid4().hex
    try:
        source = zip_file if isinstance(zip_file, Path) else getattr(zip_file, "file", zip_file)
        extract_bundle_zip(source, dest)
        bundle = load_bundle(dest)
        if tuple(bundle.labels) != EMOTIONS:
            raise BundleError(f"The bundle's labels {list(bundle.labels)} are not the eight emotions in order.")
        existing = ModelVersion.objects.filter(fingerprint=bundle.fingerprint).first()
        if existing:
            raise BundleError(f"This exact bundle is already registered as “{existing}” (id {existing.pk}).")
        smoke_test(dest)
        version, _ = register_bundle(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return version


def smoke_test(bundle_path: Path) -> None:
    """Load the model and predict on a generated 3 s voiced clip; raise ``BundleError`` on nonsense."""
    from mlcore.errors import BundleError, MlcoreError
    from mlcore.inference import Predictor

    sr = 22050
    t = np.arange(3 * sr) / sr
    phase = 2 * np.pi * np.cumsum(150 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))) / sr
    clip = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    clip = (0.3 * clip / np.max(np.abs(clip))).astype(np.float32)
    try:
        prediction = Predictor(bundle_path).predict(clip)
    except MlcoreError:
        raise
    except Exception as e:
        raise BundleError(f"The model could not be loaded or run: {type(e).__name__}: {e}") from e
    probs = prediction.probabilities
    values = np.array([probs.get(e, np.nan) for e in EMOTIONS], dtype=np.float64)
    if set(probs) != set(EMOTIONS) or not np.all(np.isfinite(values)) or abs(values.sum() - 1) > 1e-3:
        raise BundleError("The model's output on a test clip is not a probability for each of the eight emotions.")


class ShippedRegistration(NamedTuple):
    bundle: ShippedBundle
    version: ModelVersion | None  # None when the bundle could not be registered (``error`` says why)
    created: bool
    error: str


def register_shipped_bundles(*, activate: bool = False) -> list[ShippedRegistration]:
    """Register every shipped bundle found on disk, each on its own.

    The bundle marked ``active`` becomes the active version when none is active yet, or always with
    ``activate``; the others are registered only.  By fingerprint, a bundle already registered (a
    byte-identical copy of another shipped bundle included) is left as it is.  A bundle that fails to
    load is reported in ``error`` and the others are still registered (should the active one fail on
    an empty registry, the next one becomes active: ``register_bundle``'s first-version rule).
    """
    from mlcore.errors import MlcoreError

    outcomes = []
    for shipped in SHIPPED_BUNDLES:
        try:
            version, created = register_bundle(shipped.path, activate=activate and shipped.active)
        except MlcoreError as e:
            outcomes.append(ShippedRegistration(shipped, None, False, str(e)))
        else:
            outcomes.append(ShippedRegistration(shipped, version, created, ""))
    return outcomes


def register_default_bundle_on_first_setup(sender: Any = None, **kwargs: Any) -> None:
    """post_migrate: register the shipped bundles (the default one active) when no version exists yet."""
    if not settings.REGISTER_DEFAULT_MODEL or kwargs.get("using", "default") != "default":
        return
    if ModelVersion.objects.exists():
        return
    for outcome in register_shipped_bundles(activate=True):
        if outcome.error and outcome.bundle.path.is_dir():  # a bundle left out of this install is no fault
            logger.warning("the shipped model bundle %s was not registered: %s", outcome.bundle.path, outcome.error)
        elif outcome.created:
            logger.info("registered the shipped model bundle %s as %s", outcome.bundle.path, outcome.version)


# --- The model, once per process -----------------------------------------------------------------------
_predictors: dict[int, Any] = {}
_predictor_lock = threading.Lock()


def get_predictor() -> tuple[ModelVersion | None, Any]:
    """The active version and its ``mlcore.inference.Predictor``, loaded once per process.

    Keyed by version id: activating another version makes every process load it on its next file.
    """
    version = ModelVersion.active()
    if version is None:
        return None, None
    with _predictor_lock:
        predictor = _predictors.get(version.pk)
        if predictor is None:
            from mlcore.inference import Predictor

            predictor = Predictor(version.path)
            _predictors.clear()
            _predictors[version.pk] = predictor
    return version, predictor


def warm_predictor() -> None:
    """Load the active model and run it once (graph tracing), so the first real file is fast."""
    version, predictor = get_predictor()
    if predictor is not None:
        predictor.predict(np.zeros(22050, dtype=np.float32) + 0.1 * np.sin(np.arange(22050) / 7).astype(np.float32))
        logger.info("model %s loaded in this process", version)


# --- Processing ----------------------------------------------------------------------------------------
def process_file(file_id: int) -> str:
    """Analyse one file and store its prediction.  Safe to run any number of times for the same file.

    Bad audio is a final failure with mlcore's message; other exceptions propagate (the task decides
    between retrying and failing).
    """
    from mlcore.audio import envelope, load_audio
    from mlcore.errors import MlcoreError

    f = _claim(file_id)
    if f is None:
        return "skipped"
    version, predictor = get_predictor()
    if version is None:
        fail_file(file_id, NO_MODEL)
        return "failed"
    path = f.path
    if path is None or not path.is_file():
        fail_file(file_id, MISSING_FILE)
        return "failed"
    try:
        y = load_audio(path, sr=predictor.sr, max_duration_s=settings.UPLOAD_MAX_DURATION_S)
        result = predictor.predict(y, max_duration_s=settings.UPLOAD_MAX_DURATION_S)
        env = envelope(y, points=ENVELOPE_POINTS)
    except MlcoreError as e:
        fail_file(file_id, str(e))
        return "failed"
    save_prediction(f, version, result, env)
    return "done"


def process_files(file_ids: Sequence[int]) -> dict[str, int]:
    """Analyse several files with one batched model call (``Predictor.predict_many``); each file
    succeeds or fails on its own, exactly as ``process_file`` would."""
    from mlcore.audio import envelope, load_audio
    from mlcore.errors import MlcoreError

    claimed = [f for f in (_claim(i) for i in file_ids) if f is not None]
    outcome = {"done": 0, "failed": 0, "skipped": len(file_ids) - len(claimed)}
    if not claimed:
        return outcome
    version, predictor = get_predictor()
    ready: list[tuple[AudioFile, np.ndarray]] = []
    for f in claimed:
        reason = NO_MODEL if version is None else (MISSING_FILE if f.path is None or not f.path.is_file() else "")
        if not reason:
            try:
                ready.append((f, load_audio(f.path, sr=predictor.sr, max_duration_s=settings.UPLOAD_MAX_DURATION_S)))
                continue
            except MlcoreError as e:
                reason = str(e)
        fail_file(f.pk, reason)
        outcome["failed"] += 1
    results = (
        predictor.predict_many([y for _, y in ready], max_duration_s=settings.UPLOAD_MAX_DURATION_S) if ready else []
    )
    for (f, y), result in zip(ready, results, strict=True):
        if isinstance(result, MlcoreError):
            fail_file(f.pk, str(result))
            outcome["failed"] += 1
        else:
            save_prediction(f, version, result, envelope(y, points=ENVELOPE_POINTS))
            outcome["done"] += 1
    return outcome


def _claim(file_id: int) -> AudioFile | None:
    """Mark the file processing (locked, so two deliveries never interleave their claims).

    Returns None when it is gone or already finished, which makes a redelivered task a no-op.
    """
    with transaction.atomic():
        f = AudioFile.objects.select_for_update().filter(pk=file_id).first()
        if f is None or f.is_finished:
            return None
        if f.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
            _finish_failed(f, TOO_MANY_ATTEMPTS.format(n=f.attempts))
            return None
        f.status = AudioFile.Status.PROCESSING
        f.started_at = timezone.now()
        f.attempts += 1
        f.save(update_fields=["status", "started_at", "attempts"])
    # Only the first file to start moves its job on; the full recount happens when files finish.
    Job.objects.filter(pk=f.job_id, status=Job.Status.QUEUED).update(status=Job.Status.PROCESSING)
    return f


def save_prediction(f: AudioFile, version: ModelVersion, result: Any, env: np.ndarray) -> Prediction:
    """Write (or overwrite) the file's one prediction and mark the file done, atomically."""
    probs = result.probabilities
    uncertain = getattr(result, "uncertain", False)
    speech_s = getattr(result, "speech_s", None)
    timeline = [
        {
            "start_s": round(float(w.start_s), 3),
            "end_s": round(float(w.end_s), 3),
            "probabilities": {e: round(float(w.probabilities[e]), 6) for e in EMOTIONS},
        }
        for w in result.timeline
    ]
    with transaction.atomic():
        prediction, _ = Prediction.objects.update_or_create(
            file=f,
            defaults={
                "user_id": f.user_id,
                "model_version": version,
                "uploaded_at": f.created_at,
                "top_emotion": result.emotion,
                "confidence": float(result.confidence),
                "duration_s": float(result.duration_s),
                **{f"p_{e}": float(probs[e]) for e in EMOTIONS},
                # Results of engines older than the uncertainty fields read as certain, speech unknown.
                "uncertain": bool(uncertain),
                "uncertain_reason": str(getattr(result, "uncertain_reason", "") or "")[:200] if uncertain else "",
                "speech_s": None if speech_s is None else float(speech_s),
                "timeline": timeline,
                "envelope": np.round(env.astype(np.float64), 4).tolist(),
            },
        )
        AudioFile.objects.filter(pk=f.pk).update(status=AudioFile.Status.DONE, error="", finished_at=timezone.now())
    Job(pk=f.job_id).refresh_status()
    return prediction


def fail_file(file_id: int, reason: str) -> None:
    """Record a final failure with a reason a person can act on (never overwrites a finished file)."""
    with transaction.atomic():
        f = AudioFile.objects.select_for_update().filter(pk=file_id).first()
        if f is None or f.is_finished:
            return
        _finish_failed(f, reason)


def _finish_failed(f: AudioFile, reason: str) -> None:
    AudioFile.objects.filter(pk=f.pk).update(status=AudioFile.Status.FAILED, error=reason, finished_at=timezone.now())
    transaction.on_commit(lambda: Job(pk=f.job_id).refresh_status())


def sweep_stuck(*, queued_s: int | None = None, processing_s: int | None = None, limit: int = 1000) -> dict[str, int]:
    """Re-queue files left queued or processing too long (lost message, killed worker).

    Files that already used all their attempts fail for good instead.
    """
    now = timezone.now()
    queued_s = settings.STUCK_QUEUED_S if queued_s is None else queued_s
    processing_s = settings.STUCK_PROCESSING_S if processing_s is None else processing_s
    stuck = Q(status=AudioFile.Status.QUEUED, queued_at__lt=now - timedelta(seconds=queued_s)) | Q(
        status=AudioFile.Status.PROCESSING, started_at__lt=now - timedelta(seconds=processing_s)
    )
    requeued: list[int] = []
    failed = 0
    with transaction.atomic():
        rows = list(AudioFile.objects.select_for_update(skip_locked=True).filter(stuck).order_by("id")[:limit])
        for f in rows:
            if f.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
                _finish_failed(f, TOO_MANY_ATTEMPTS.format(n=f.attempts))
                failed += 1
            else:
                requeued.append(f.pk)
        AudioFile.objects.filter(pk__in=requeued).update(status=AudioFile.Status.QUEUED, queued_at=now)
        transaction.on_commit(lambda: enqueue(requeued))
    if requeued or failed:
        logger.warning("sweep: re-queued %d stuck files, failed %d", len(requeued), failed)
    return {"requeued": len(requeued), "failed": failed}
