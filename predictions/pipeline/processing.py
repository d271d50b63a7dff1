"""Analysing files: claim, analyse, save or fail, and the sweep that rescues stranded files.

One path for one file and for a chunk (``INFERENCE_BATCH_SIZE`` > 1): ``process`` takes a list of ids.
Every outcome is written under a row lock, so any number of deliveries of the same file end in one
outcome and at most one prediction.  Exceptions other than bad audio propagate: the task decides
between retrying and failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mlcore.errors import MlcoreError
from mlcore.labels import EMOTIONS
from mlcore.serving.analysis import Analysis
from predictions.models import AudioFile, Job, ModelVersion, Prediction
from predictions.pipeline import dispatch, monitoring, recordings
from predictions.pipeline.registry import get_predictor

logger = logging.getLogger(__name__)

NO_MODEL = "No model is active, so the file could not be analysed. An administrator must activate a model version."
MISSING_FILE = "The stored recording is missing on the server; upload it again."
INTERNAL = "An internal error stopped the analysis of this file. Try uploading it again later."
TIMED_OUT = "The analysis took longer than the time limit and was stopped. Upload a shorter recording."
TOO_MANY_ATTEMPTS = "The file could not be analysed after {n} attempts (the worker stopped each time)."


@dataclass(frozen=True)
class Delivery:
    """Which message is working on the files: a redelivery repeats ``task_id`` and ``retries``."""

    task_id: str = ""
    retries: int = 0
    hostname: str = ""


@dataclass
class Outcome:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    split: int = 0

    def as_dict(self) -> dict[str, int]:
        counts = {"done": self.done, "failed": self.failed, "skipped": self.skipped}
        return counts | ({"split": self.split} if self.split else {})

    def word(self) -> str:
        """The single-file task's answer: done, failed, skipped or split."""
        return next((k for k in ("done", "failed", "split") if getattr(self, k)), "skipped")


def process(file_ids: Sequence[int], delivery: Delivery = Delivery()) -> Outcome:
    """Analyse the files and store their predictions; bad audio is a final failure with mlcore's reason.

    A chunk that comes back after its worker died is not retried as a chunk: its files are published
    one by one, so a file that kills the worker fails alone and takes no good file with it.
    """
    chunk = len(file_ids) > 1
    claimed, redelivered = claim(file_ids, delivery, split_redelivered=chunk)
    outcome = Outcome(skipped=len(file_ids) - len(claimed))
    if not claimed:
        return outcome
    if redelivered and chunk:
        outcome.split = len(claimed)
        release_singly([f.pk for f in claimed])
        return outcome
    for f in claimed:
        if f.queued_at is not None and f.started_at is not None:
            monitoring.QUEUE_WAIT.observe(max((f.started_at - f.queued_at).total_seconds(), 0.0))
    version, predictor = get_predictor()
    for f, result in _analyse(claimed, version, predictor):
        if isinstance(result, str):
            fail_file(f.pk, result)
            outcome.failed += 1
            continue
        try:
            save_prediction(f, version, result)
        except MlcoreError as e:  # a result that cannot be stored as it is (a value that is not finite)
            fail_file(f.pk, str(e))
            outcome.failed += 1
        else:
            outcome.done += 1
    monitoring.FILES.labels(outcome="done").inc(outcome.done)
    monitoring.FILES.labels(outcome="failed").inc(outcome.failed)
    return outcome


def _analyse(files: list[AudioFile], version: ModelVersion | None, predictor: Any) -> list[tuple[AudioFile, Any]]:
    """Each file with its ``mlcore`` Analysis, or the reason it failed (a string).

    One ``analyse_many`` call for the files that can be read: each recording is decoded once, a bad one
    fails alone.
    """
    out: list[tuple[AudioFile, Any]] = []
    with ExitStack() as copies:  # recordings in object storage are fetched to temporary files, removed after
        ready: list[tuple[AudioFile, Path]] = []
        for f in files:
            if version is None:
                out.append((f, NO_MODEL))
                continue
            try:  # a store that cannot be reached raises StoreUnavailable (an OSError): the task retries
                ready.append((f, copies.enter_context(recordings.local_copy(f.stored_name))))
            except FileNotFoundError:
                out.append((f, MISSING_FILE))
        if ready:
            paths = [path for _, path in ready]
            began = time.monotonic()
            results = predictor.analyse_many(paths, max_duration_s=settings.UPLOAD_MAX_DURATION_S)
            audio_s = sum(f.audio_s or 0.0 for f, _ in ready)
            if audio_s > 0:
                monitoring.ANALYSIS_RATIO.observe((time.monotonic() - began) / audio_s)
            out += [(f, str(r) if isinstance(r, MlcoreError) else r) for (f, _), r in zip(ready, results, strict=True)]
    return out


def claim(
    file_ids: Sequence[int], delivery: Delivery, *, split_redelivered: bool = False
) -> tuple[list[AudioFile], bool]:
    """Mark the files processing for this delivery (row locks: two deliveries never both hold a file).

    Skips files that are gone, finished, or held by another message that is still within its time
    limit (a duplicate message).  Returns the claimed files and whether this is a redelivery of a
    message whose worker died holding them; with ``split_redelivered`` such files are returned
    without counting another attempt (their next, single-file deliveries count).  A file past
    ``PROCESSING_MAX_ATTEMPTS`` fails for good.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.STUCK_PROCESSING_S)
    claimed: list[AudioFile] = []
    with transaction.atomic():
        rows = list(AudioFile.objects.select_for_update().filter(pk__in=list(file_ids)).order_by("id"))
        held = [
            f
            for f in rows
            if f.status == AudioFile.Status.PROCESSING and delivery.task_id and f.claim_task == delivery.task_id
        ]
        redelivered = any(delivery.retries <= f.claim_retry for f in held)
        if redelivered and split_redelivered:
            return held, True
        for f in rows:
            if f.is_finished:
                continue
            mine = f in held
            if f.status == AudioFile.Status.PROCESSING and not mine and f.started_at and f.started_at > stale:
                continue
            retry = mine and delivery.retries > f.claim_retry
            if not retry:
                if f.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
                    _finish_failed(f, TOO_MANY_ATTEMPTS.format(n=f.attempts))
                    continue
                f.attempts += 1
            f.status = AudioFile.Status.PROCESSING
            f.started_at = now
            f.claim_task, f.claim_retry, f.claimed_by = delivery.task_id, delivery.retries, delivery.hostname
            f.save(update_fields=["status", "started_at", "attempts", "claim_task", "claim_retry", "claimed_by"])
            claimed.append(f)
    for job_id in {f.job_id for f in claimed}:
        # Only the first file to start moves its job on; the full recount happens when files finish.
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(status=Job.Status.PROCESSING)
    return claimed, redelivered


def release_singly(file_ids: Sequence[int]) -> None:
    """Give unfinished files back to the queue and publish each as its own message."""
    ids = list(
        AudioFile.objects.filter(pk__in=list(file_ids), status=AudioFile.Status.PROCESSING).values_list("pk", flat=True)
    )
    AudioFile.objects.filter(pk__in=ids).update(status=AudioFile.Status.QUEUED, queued_at=timezone.now())
    dispatch.publish_singly(ids)


def timed_out(file_ids: Sequence[int]) -> None:
    """The soft time limit hit: a single file fails with that reason, a chunk is split into singles."""
    if len(file_ids) == 1:
        fail_file(file_ids[0], TIMED_OUT)
    else:
        release_singly(file_ids)


def save_prediction(f: AudioFile, version: ModelVersion, analysis: Analysis) -> Prediction:
    """Write (or overwrite) the file's one prediction from its ``Analysis`` and mark the file done,
    atomically.  Raises ``FeatureError`` (before writing anything) for a value that is not finite."""
    data = analysis.to_dict()
    with transaction.atomic():
        prediction, _ = Prediction.objects.update_or_create(
            file=f,
            defaults={
                "user_id": f.user_id,
                "model_version": version,
                "uploaded_at": f.created_at,
                "top_emotion": data["emotion"],
                "confidence": data["confidence"],
                "duration_s": data["duration_s"],
                **{f"p_{e}": data["probabilities"][e] for e in EMOTIONS},
                "uncertain": data["uncertain"],
                "uncertain_reason": data["uncertain_reason"][:200] if data["uncertain"] else "",
                "speech_s": data["speech_s"],
                "timeline": data["timeline"],
                "segments": data["segments"],
                "share": data["share"],
                "envelope": data["envelope"],
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
    """Fail for good; the recording leaves storage once that is committed (nothing will read it again)."""
    AudioFile.objects.filter(pk=f.pk).update(
        status=AudioFile.Status.FAILED, error=reason, finished_at=timezone.now(), stored_name=""
    )
    name = f.stored_name

    def after_commit() -> None:
        # A store that is down now leaves the object behind (logged): the row no longer names it.
        recordings.remove([name])
        Job(pk=f.job_id).refresh_status()

    transaction.on_commit(after_commit)


def sweep_stuck(*, queued_s: int | None = None, processing_s: int | None = None, limit: int = 1000) -> dict[str, int]:
    """Rescue files whose message was lost or whose worker died, then publish what is unpublished.

    - processing for longer than ``processing_s`` (past the hard time limit: its worker is gone):
      back to the queue, or failed for good once it has used all its attempts;
    - queued with a message published more than ``queued_s`` ago (a broker that lost its messages):
      published again; a duplicate message is harmless, ``claim`` skips what another message holds.
    """
    now = timezone.now()
    queued_s = settings.STUCK_QUEUED_S if queued_s is None else queued_s
    processing_s = settings.STUCK_PROCESSING_S if processing_s is None else processing_s
    requeued: list[int] = []
    failed = 0
    with transaction.atomic():
        stuck = AudioFile.objects.select_for_update(skip_locked=True).filter(
            status=AudioFile.Status.PROCESSING, started_at__lt=now - timedelta(seconds=processing_s)
        )
        for f in stuck.order_by("id")[:limit]:
            if f.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
                _finish_failed(f, TOO_MANY_ATTEMPTS.format(n=f.attempts))
                failed += 1
            else:
                requeued.append(f.pk)
        lost = AudioFile.objects.select_for_update(skip_locked=True).filter(
            status=AudioFile.Status.QUEUED, published_at__lt=now - timedelta(seconds=queued_s)
        )
        requeued += list(lost.order_by("id").values_list("pk", flat=True)[:limit])
        AudioFile.objects.filter(pk__in=requeued).update(status=AudioFile.Status.QUEUED, published_at=None)
    if requeued or failed:
        logger.warning("sweep: re-queued %d stranded files, failed %d", len(requeued), failed)
    published = dispatch.dispatch_quietly()
    return {"requeued": len(requeued), "failed": failed, "published": published}


def take_back(hostname: str, since: Any) -> int:
    """A worker that (re)starts takes back the files its previous incarnation held when it died.

    Files claimed under this node name before ``since`` (this worker's start) cannot be in progress
    any more; they go back to the queue at once instead of waiting for the stale-processing timeout.
    """
    if not hostname:
        return 0
    with transaction.atomic():
        held = AudioFile.objects.select_for_update(skip_locked=True).filter(
            status=AudioFile.Status.PROCESSING, claimed_by=hostname, started_at__lt=since
        )
        ids = list(held.values_list("pk", flat=True))
        AudioFile.objects.filter(pk__in=ids).update(status=AudioFile.Status.QUEUED, published_at=None)
    if ids:
        logger.warning("worker %s took back %d files its previous run held", hostname, len(ids))
        dispatch.dispatch_quietly()
    return len(ids)


def users_of(file_ids: Sequence[int]) -> list[int]:
    """Owners of these files (to dispatch their next files once these finish)."""
    return list(AudioFile.objects.filter(pk__in=list(file_ids)).values_list("user_id", flat=True).distinct())
