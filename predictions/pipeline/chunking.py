"""Parts of long recordings: claim a part, analyse its windows, store them, and merge the file once.

``processing.split`` surveys a long file and stores its parts (``FileChunk``); ``dispatch`` publishes
them in the same per-user window as files.  Here a part is claimed like a file (row lock, delivery
identity, attempts), its windows judged (``Predictor.analyse_windows``) and stored in PostgreSQL; the
task that stores the last one merges them (``Predictor.assemble``) under the file's row lock, so the
prediction is written exactly once however many deliveries race.  Bad audio in any part fails the file
with mlcore's reason; a part whose worker died is taken back by the sweep or the restarted worker.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.utils import timezone

from mlcore.errors import MlcoreError
from mlcore.serving.parts import Survey, WindowsPart
from predictions.models import AudioFile, FileChunk, SplitFile
from predictions.pipeline import monitoring, recordings
from predictions.pipeline.processing import (
    MISSING_FILE,
    NO_MODEL,
    Delivery,
    Outcome,
    decoded,
    exhausted,
    fail_file,
    save_prediction,
    take,
    write_claims,
)
from predictions.pipeline.registry import get_predictor

logger = logging.getLogger(__name__)

MODEL_CHANGED = (
    "The active model changed while this long recording was being analysed in parts. Upload it again to "
    "have it judged by the new model."
)


def process_chunk(chunk_id: int, delivery: Delivery) -> Outcome:
    """Analyse one part of a long file and store its windows; the last part stored merges the file."""
    chunk = claim_chunk(chunk_id, delivery)
    if chunk is None:
        # Stored already: an earlier delivery may have stopped before the merge (the database went away).
        file_id = FileChunk.objects.filter(pk=chunk_id, status=FileChunk.Status.DONE).values_list("file_id", flat=True)
        if file_id:
            merge_if_complete(file_id[0])
        return Outcome(skipped=1)
    version, predictor = get_predictor()
    split = chunk.file.split
    if version is None:
        return fail_chunk(chunk.pk, NO_MODEL)
    if version.pk != split.model_version_id:
        return fail_chunk(chunk.pk, MODEL_CHANGED)
    survey = Survey.from_dict(split.survey)
    began = time.monotonic()
    try:  # a store that cannot be reached raises StoreUnavailable (an OSError): the task retries
        recording = decoded(predictor, chunk.file)  # checked once, against the deployment's limit
        part = predictor.analyse_windows(recording, survey, chunk.first_window, chunk.stop_window)
        result = part.to_dict()
    except FileNotFoundError:
        return fail_chunk(chunk.pk, MISSING_FILE)
    except MlcoreError as e:
        return fail_chunk(chunk.pk, str(e))
    audio_s = (survey.bounds[chunk.stop_window - 1][1] - survey.bounds[chunk.first_window][0]) / survey.sr
    monitoring.ANALYSIS_RATIO.observe((time.monotonic() - began) / max(audio_s, 1e-3))
    stored = (
        FileChunk.objects.filter(pk=chunk.pk)
        .exclude(status__in=[FileChunk.Status.DONE, FileChunk.Status.FAILED])
        .update(status=FileChunk.Status.DONE, result=result, finished_at=timezone.now())
    )
    if stored:
        monitoring.CHUNKS.labels(outcome="done").inc()
    merge_if_complete(chunk.file_id)
    return Outcome(done=1) if stored else Outcome(skipped=1)


def claim_chunk(chunk_id: int, delivery: Delivery) -> FileChunk | None:
    """Mark the part processing for this delivery (``processing.take``, as a file), or None: gone,
    finished, held by another message, or its file already finished (failed by another part)."""
    now = timezone.now()
    with transaction.atomic():
        rows = FileChunk.objects.select_for_update(of=("self",)).select_related("file", "file__split")
        chunk = rows.filter(pk=chunk_id).first()
        if chunk is None:
            return None
        if chunk.file.is_finished:
            if not chunk.is_finished:
                FileChunk.objects.filter(pk=chunk.pk).update(status=FileChunk.Status.FAILED, finished_at=now)
            return None
        mine = (
            chunk.status == FileChunk.Status.PROCESSING
            and bool(delivery.task_id)
            and (chunk.claim_task == delivery.task_id)
        )
        if not take(chunk, delivery, mine=mine, now=now, exhausted=exhausted):
            return None
        write_claims([chunk])
    if chunk.queued_at is not None:
        monitoring.QUEUE_WAIT.observe(max((now - chunk.queued_at).total_seconds(), 0.0))
    return chunk


def merge_if_complete(file_id: int) -> bool:
    """When every part of the file is stored, judge it from them and save its one prediction.

    The file's row lock serialises the parts' tasks: of two that store the last parts at once, the one
    that locks second sees the file done.  Returns whether this call wrote the prediction.
    """
    with transaction.atomic():
        f = AudioFile.objects.select_for_update().filter(pk=file_id).first()
        if f is None or f.is_finished or not f.parts:
            return False
        rows = list(
            FileChunk.objects.filter(file_id=file_id, status=FileChunk.Status.DONE).values_list("result", flat=True)
        )
        if len(rows) < f.parts:
            return False
        version, predictor = get_predictor()
        if version is None or version.pk != f.split.model_version_id:
            reason = NO_MODEL if version is None else MODEL_CHANGED
            fail_file(file_id, reason)
            return False
        try:
            analysis = predictor.assemble(Survey.from_dict(f.split.survey), [WindowsPart.from_dict(r) for r in rows])
            save_prediction(f, version, analysis)
        except MlcoreError as e:  # a part left out, or a value that is not finite
            fail_file(file_id, str(e))
            return False
        # The windows and the survey now live in the prediction: the part rows stay (they count the
        # parts), their payload goes (about 5 kB a minute of audio, and the survey's 60 kB an hour).
        FileChunk.objects.filter(file_id=file_id).update(result=None)
        SplitFile.objects.filter(file_id=file_id).update(survey={})
    recordings.forget_decoded(file_id)  # this machine's copy; another machine's ages out
    monitoring.FILES.labels(outcome="done").inc()
    return True


def merge_stranded() -> int:
    """Merge split files whose parts are all stored but whose merge never ran (the worker that stored the
    last part died before it); the sweep calls this.  Returns how many were merged."""
    unfinished = [FileChunk.Status.QUEUED, FileChunk.Status.PROCESSING, FileChunk.Status.FAILED]
    stranded = (
        AudioFile.objects.filter(status=AudioFile.Status.PROCESSING, parts__gt=0)
        .exclude(chunks__status__in=unfinished)
        .values_list("pk", flat=True)
    )
    return sum(merge_if_complete(file_id) for file_id in stranded)


def fail_chunk(chunk_id: int, reason: str) -> Outcome:
    """A part that cannot be judged fails its file, with the reason (the other parts then skip)."""
    now = timezone.now()
    file_id = FileChunk.objects.filter(pk=chunk_id).values_list("file_id", flat=True).first()
    FileChunk.objects.filter(pk=chunk_id).exclude(status=FileChunk.Status.DONE).update(
        status=FileChunk.Status.FAILED, finished_at=now
    )
    monitoring.CHUNKS.labels(outcome="failed").inc()
    if file_id is not None:
        recordings.forget_decoded(file_id)
        if fail_file(file_id, reason):
            monitoring.FILES.labels(outcome="failed").inc()
    return Outcome(failed=1)


def users_of(chunk_ids: list[int]) -> list[int]:
    """Owners of these parts (to dispatch their next files and parts)."""
    return list(FileChunk.objects.filter(pk__in=chunk_ids).values_list("user_id", flat=True).distinct())
