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
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mlcore.errors import MlcoreError
from mlcore.labels import EMOTIONS
from mlcore.serving.analysis import Analysis
from mlcore.serving.recording import Recording
from predictions.models import AudioFile, FileChunk, Job, ModelVersion, Prediction, SplitFile
from predictions.pipeline import dispatch, monitoring, recordings
from predictions.pipeline.registry import get_predictor

logger = logging.getLogger(__name__)

NO_MODEL = "No model is active, so the file could not be analysed. An administrator must activate a model version."
MISSING_FILE = "The stored recording is missing on the server; upload it again."
INTERNAL = "An internal error stopped the analysis of this file. Try uploading it again later."
TIMED_OUT = "The analysis took longer than the time limit and was stopped. Upload a shorter recording."
TOO_MANY_ATTEMPTS = "The file could not be analysed after {n} attempts (the worker stopped each time)."
PARTED = object()  # ``_analyse``'s answer for a file split into parts


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
    parted: int = 0  # long files surveyed and split into parts (``split``), each part its own task

    def as_dict(self) -> dict[str, int]:
        counts = {"done": self.done, "failed": self.failed, "skipped": self.skipped}
        return counts | {k: getattr(self, k) for k in ("split", "parted") if getattr(self, k)}

    def word(self) -> str:
        """The single-file task's answer: done, failed, skipped, split or parted."""
        return next((k for k in ("done", "failed", "split", "parted") if getattr(self, k)), "skipped")


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
    rows: list[Prediction] = []
    for f, result in _analyse(claimed, version, predictor):
        if result is PARTED:
            outcome.parted += 1
            continue
        reason = result if isinstance(result, str) else None
        if reason is None:
            try:
                rows.append(prediction_row(f, version, result))
            except MlcoreError as e:  # a result that cannot be stored as it is (a value that is not finite)
                reason = str(e)
        if reason is not None:
            fail_file(f.pk, reason)
            outcome.failed += 1
    outcome.done = len(store_predictions(rows))
    monitoring.FILES.labels(outcome="done").inc(outcome.done)
    monitoring.FILES.labels(outcome="failed").inc(outcome.failed)
    return outcome


def _analyse(files: list[AudioFile], version: ModelVersion | None, predictor: Any) -> list[tuple[AudioFile, Any]]:
    """Each file with its ``mlcore`` Analysis, the reason it failed (a string), or ``PARTED`` (a recording
    longer than ``SPLIT_FILES_OVER_S``, surveyed and split into parts analysed by tasks of their own).

    One ``analyse_many`` call for the other files that can be read: each recording is decoded once, a bad one
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
        for f, path in [(f, path) for f, path in ready if (f.audio_s or 0.0) > settings.SPLIT_FILES_OVER_S]:
            ready.remove((f, path))
            out.append((f, split(f, version, predictor, path) or PARTED))
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
    claimed: list[AudioFile] = []
    with transaction.atomic():
        rows = list(
            AudioFile.objects.select_for_update(of=("self",))
            .filter(pk__in=list(file_ids))
            .annotate(job_status=F("job__status"))
            .order_by("id")
        )
        held = [
            f
            for f in rows
            if f.status == AudioFile.Status.PROCESSING and delivery.task_id and f.claim_task == delivery.task_id
        ]
        redelivered = any(delivery.retries <= f.claim_retry for f in held)
        if redelivered and split_redelivered:
            return held, True
        for f in rows:
            # A file split into parts is its parts' business now: a late message for it changes nothing.
            if not f.parts and take(f, delivery, mine=f in held, now=now, exhausted=exhausted):
                claimed.append(f)
        write_claims(claimed)
    for job_id in {f.job_id for f in claimed if f.job_status == Job.Status.QUEUED}:
        # Only the first file to start moves its job on; the full recount happens when files finish.
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(status=Job.Status.PROCESSING)
    return claimed, redelivered


CLAIM_FIELDS = ["status", "started_at", "attempts", "claim_task", "claim_retry", "claimed_by"]


def take(row: AudioFile | FileChunk, delivery: Delivery, *, mine: bool, now: Any, exhausted: Any) -> bool:
    """Claim one locked row, a file or a part: False when it is finished, held by another message that
    is still within its time limit, or out of attempts (``exhausted(row)`` then fails it for good).
    ``mine``: this message already holds it (a redelivery repeats the attempt, a retry does not count).
    The claim is set on ``row``; ``write_claims`` stores it."""
    if row.is_finished:
        return False
    stale = now - timedelta(seconds=settings.STUCK_PROCESSING_S)
    if row.status == AudioFile.Status.PROCESSING and not mine and row.started_at and row.started_at > stale:
        return False
    if not (mine and delivery.retries > row.claim_retry):
        if row.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
            exhausted(row)
            return False
        row.attempts += 1
    row.status = AudioFile.Status.PROCESSING
    row.started_at = now
    row.claim_task, row.claim_retry, row.claimed_by = delivery.task_id, delivery.retries, delivery.hostname
    return True


def write_claims(rows: Sequence[AudioFile] | Sequence[FileChunk]) -> None:
    """Store the claims ``take`` set on these rows of one model: one update per attempts count (for a
    chunk of files, one statement), since one delivery's claims differ in nothing else."""
    for attempts in {row.attempts for row in rows}:
        same = [row for row in rows if row.attempts == attempts]
        type(same[0]).objects.filter(pk__in=[row.pk for row in same]).update(
            **{name: getattr(same[0], name) for name in CLAIM_FIELDS}
        )


def exhausted(row: AudioFile | FileChunk) -> None:
    """A file, or the file of a part (locked by the caller), that used all its attempts fails for good."""
    reason = TOO_MANY_ATTEMPTS.format(n=row.attempts)
    if isinstance(row, FileChunk):
        FileChunk.objects.filter(pk=row.pk).update(status=FileChunk.Status.FAILED, finished_at=timezone.now())
        row = AudioFile.objects.select_for_update().get(pk=row.file_id)
        if row.is_finished:
            return
    _finish_failed(row, reason)


def split(f: AudioFile, version: ModelVersion, predictor: Any, path: Path) -> str | None:
    """Survey a long recording (``Predictor.survey``: the voice detector over all of it, the "no speech"
    verdict) and store its parts, to be published like files; the file stays processing meanwhile.
    Returns why it cannot be judged, or None."""
    try:  # decoded once per machine: the parts taken here read it from the same file
        survey = predictor.survey(decoded(predictor, f, path), max_duration_s=settings.UPLOAD_MAX_DURATION_S)
    except MlcoreError as e:
        recordings.forget_decoded(f.pk)
        return str(e)
    windows = max(1, int(settings.ANALYSIS_PART_S / (survey.hop_s or settings.ANALYSIS_PART_S)))
    spans = survey.spans(windows_per_part=windows)
    with transaction.atomic():
        row = AudioFile.objects.select_for_update().filter(pk=f.pk).first()
        # Another message took the file over (this one ran past its time limit): its outcome stands.
        if row is None or row.is_finished or row.parts or row.claim_task != f.claim_task:
            return None
        SplitFile.objects.create(file=f, model_version=version, survey=survey.to_dict())
        now = timezone.now()
        FileChunk.objects.bulk_create(
            FileChunk(file=f, user_id=f.user_id, index=i, first_window=a, stop_window=b, queued_at=now)
            for i, (a, b) in enumerate(spans)
        )
        AudioFile.objects.filter(pk=f.pk).update(parts=len(spans))
    return None


def decoded(predictor: Any, f: AudioFile, path: Path | None = None) -> Recording:
    """The recording as ``predictor`` hears it, decoded once per machine into a file of samples that
    every worker process on it shares (``recordings.decoded_path``) and reads by range: the process that
    surveys an hour holds a minute at a time, and one that takes a part reads that part's windows.
    From ``path`` (a local copy) or fetched from the store."""
    target = recordings.decoded_path(f.pk, f.stored_name, predictor.sr)
    if target.is_file():
        return Recording.from_file(target, predictor.sr)
    recordings.prune_decoded()
    with nullcontext(path) if path is not None else recordings.local_copy(f.stored_name) as local:
        return predictor.decode(local, max_duration_s=settings.UPLOAD_MAX_DURATION_S, into=target)


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
    return store_predictions([prediction_row(f, version, analysis)])[0]


def prediction_row(f: AudioFile, version: ModelVersion, analysis: Analysis) -> Prediction:
    """The file's prediction, unsaved.  Raises ``FeatureError`` for a value that is not finite."""
    data = analysis.to_dict()
    return Prediction(
        file=f,
        user_id=f.user_id,
        model_version=version,
        uploaded_at=f.created_at,
        top_emotion=data["emotion"],
        confidence=data["confidence"],
        duration_s=data["duration_s"],
        **{f"p_{e}": data["probabilities"][e] for e in EMOTIONS},
        uncertain=data["uncertain"],
        uncertain_reason=data["uncertain_reason"][:200] if data["uncertain"] else "",
        speech_s=data["speech_s"],
        timeline=data["timeline"],
        segments=data["segments"],
        share=data["share"],
        envelope=data["envelope"],
    )


# Everything a new verdict replaces in a file's earlier prediction (its id and creation time stay).
_VERDICT_FIELDS = [f.name for f in Prediction._meta.concrete_fields if f.name not in ("id", "file", "created_at")]


def store_predictions(rows: Sequence[Prediction]) -> list[Prediction]:
    """Write (or overwrite) these files' predictions, mark the files done and recount their jobs, in
    one transaction: one upsert for the predictions, one update for the files, a recount per job, so a
    chunk of files costs the database what one file does."""
    if not rows:
        return []
    now = timezone.now()
    with transaction.atomic():
        saved = Prediction.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["file"], update_fields=_VERDICT_FIELDS
        )
        AudioFile.objects.filter(pk__in=[r.file_id for r in rows]).update(
            status=AudioFile.Status.DONE, error="", finished_at=now
        )
        for job_id in sorted({r.file.job_id for r in rows}):  # one order, so two workers cannot deadlock
            Job(pk=job_id).refresh_status()
    return saved


def fail_file(file_id: int, reason: str) -> bool:
    """Record a final failure with a reason a person can act on (never overwrites a finished file).
    Returns whether this call failed it."""
    with transaction.atomic():
        f = AudioFile.objects.select_for_update().filter(pk=file_id).first()
        if f is None or f.is_finished:
            return False
        _finish_failed(f, reason)
    return True


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
    """Rescue files and parts of long files whose message was lost or whose worker died, then publish
    what is unpublished.

    - processing for longer than ``processing_s`` (past the hard time limit: its worker is gone):
      back to the queue, or failed for good once it has used all its attempts (a part fails its file);
    - queued with a message published more than ``queued_s`` ago (a broker that lost its messages):
      published again; a duplicate message is harmless, ``claim`` skips what another message holds.

    A split file is processing while its parts run: its parts are swept, never the file itself.
    """
    now = timezone.now()
    queued_s = settings.STUCK_QUEUED_S if queued_s is None else queued_s
    processing_s = settings.STUCK_PROCESSING_S if processing_s is None else processing_s
    requeued = failed = 0
    with transaction.atomic():
        for rows in (AudioFile.objects.filter(parts=0), FileChunk.objects.all()):
            back: list[int] = []
            stuck = rows.select_for_update(skip_locked=True).filter(
                status=AudioFile.Status.PROCESSING, started_at__lt=now - timedelta(seconds=processing_s)
            )
            for row in stuck.order_by("id")[:limit]:
                if row.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
                    exhausted(row)
                    failed += 1
                else:
                    back.append(row.pk)
            lost = rows.select_for_update(skip_locked=True).filter(
                status=AudioFile.Status.QUEUED, published_at__lt=now - timedelta(seconds=queued_s)
            )
            back += list(lost.order_by("id").values_list("pk", flat=True)[:limit])
            rows.filter(pk__in=back).update(status=AudioFile.Status.QUEUED, published_at=None)
            requeued += len(back)
    if requeued or failed:
        logger.warning("sweep: re-queued %d stranded files or parts, failed %d", requeued, failed)
    published = dispatch.dispatch_quietly()
    return {"requeued": requeued, "failed": failed, "published": published}


def take_back(hostname: str, since: Any) -> int:
    """A worker that (re)starts takes back the files and parts its previous incarnation held when it died.

    Those claimed under this node name before ``since`` (this worker's start) cannot be in progress
    any more; they go back to the queue at once instead of waiting for the stale-processing timeout.
    """
    if not hostname:
        return 0
    n = 0
    with transaction.atomic():
        for rows in (AudioFile.objects.filter(parts=0), FileChunk.objects.all()):
            held = rows.select_for_update(skip_locked=True).filter(
                status=AudioFile.Status.PROCESSING, claimed_by=hostname, started_at__lt=since
            )
            ids = list(held.values_list("pk", flat=True))
            rows.filter(pk__in=ids).update(status=AudioFile.Status.QUEUED, published_at=None)
            n += len(ids)
    if n:
        logger.warning("worker %s took back %d files or parts its previous run held", hostname, n)
        dispatch.dispatch_quietly()
    return n


def users_of(file_ids: Sequence[int]) -> list[int]:
    """Owners of these files (to dispatch their next files once these finish)."""
    return list(AudioFile.objects.filter(pk__in=list(file_ids)).values_list("user_id", flat=True).distinct())
