"""Users own their data: deleting a job or a whole account removes its recordings and its rows.

Rows go in one transaction, with a ``PendingRemoval`` note for each recording; the recordings leave
storage once it has committed (a rolled-back deletion must not lose audio), and their notes go with
them.  A store that is down then keeps the notes, and ``retry_pending_removals`` (hourly, with the
retention task) removes those objects once it is back: deleted data never stays in the bucket.  Each deletion is logged with who, what and when, never file names
or contents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F

from predictions.models import AudioFile, Job, LiveChunk, PendingRemoval
from predictions.pipeline import recordings

logger = logging.getLogger(__name__)


def owe_removal(stored_names: Iterable[str]) -> list[str]:
    """Note, inside the deleting transaction, that these recordings must leave storage."""
    names = [n for n in stored_names if n]
    PendingRemoval.objects.bulk_create([PendingRemoval(stored_name=n) for n in names], ignore_conflicts=True)
    return names


def remove_recordings(stored_names: Iterable[str]) -> int:
    """Remove stored recordings owed a removal; returns how many are gone.  One the store could not
    remove is logged, not counted, and keeps its note for ``retry_pending_removals``."""
    names = list(stored_names)
    gone = recordings.remove(names)
    PendingRemoval.objects.filter(stored_name__in=gone).delete()
    PendingRemoval.objects.filter(stored_name__in=set(names) - set(gone)).update(attempts=F("attempts") + 1)
    return len(gone)


def retry_pending_removals(*, limit: int = 1000) -> int:
    """Remove what earlier deletions could not (the store was down); returns how many are gone now."""
    names = list(PendingRemoval.objects.order_by("since").values_list("stored_name", flat=True)[:limit])
    removed = remove_recordings(names) if names else 0
    if removed:
        logger.info("deletion: removed %d recordings from storage that earlier deletions owed", removed)
    return removed


def _stored(**owner) -> list[str]:
    """The stored objects of these files: their recordings, and a live take's chunks still waiting."""
    files = AudioFile.objects.filter(**owner)
    names = list(files.exclude(stored_name="").values_list("stored_name", flat=True))
    return names + list(LiveChunk.objects.filter(take__file__in=files).values_list("stored_name", flat=True))


def delete_job(job: Job, *, by) -> int:
    """Delete the job, its files and predictions, then its recordings.  Returns the number of files."""
    names = _stored(job=job)
    job_id, owner_id = job.pk, job.user_id
    with transaction.atomic():
        n_files = AudioFile.objects.filter(job=job).count()
        owe_removal(names)
        job.delete()
        transaction.on_commit(lambda: _after_job_deleted(job_id, owner_id, by.pk, n_files, names))
    return n_files


def _after_job_deleted(job_id: int, owner_id: int, by_id: int, n_files: int, names: list[str]) -> None:
    removed = remove_recordings(names)
    logger.info(
        "deletion: user %s deleted job %s of user %s (%d files, %d recordings removed from storage)",
        by_id, job_id, owner_id, n_files, removed,
    )  # fmt: skip


def delete_recording(f: AudioFile, *, by) -> None:
    """Delete one recording (its row, its prediction, its audio).  A job left without files goes too;
    otherwise its status is recounted from the files that remain."""
    job, names = f.job, _stored(pk=f.pk)
    file_id, owner_id = f.pk, f.user_id
    with transaction.atomic():
        owe_removal(names)
        f.delete()
        if job.files.exists():
            job.refresh_status()
        else:
            job.delete()
        transaction.on_commit(lambda: _after_recording_deleted(file_id, owner_id, by.pk, names))


def _after_recording_deleted(file_id: int, owner_id: int, by_id: int, names: list[str]) -> None:
    removed = remove_recordings(names)
    logger.info(
        "deletion: user %s deleted file %s of user %s (%d recordings removed from storage)",
        by_id, file_id, owner_id, removed,
    )  # fmt: skip


def delete_account(user) -> None:
    """Delete the user and everything of theirs (jobs, files, predictions, tokens, webhooks, recordings)."""
    names = _stored(user=user)
    user_id = user.pk
    with transaction.atomic():
        n_jobs = Job.objects.filter(user=user).count()
        n_files = AudioFile.objects.filter(user=user).count()
        owe_removal(names)
        user.delete()
        transaction.on_commit(lambda: _after_account_deleted(user_id, n_jobs, n_files, names))


def _after_account_deleted(user_id: int, n_jobs: int, n_files: int, names: list[str]) -> None:
    removed = remove_recordings(names)
    logger.info(
        "deletion: user %s deleted their account (%d jobs, %d files, %d recordings removed from storage)",
        user_id, n_jobs, n_files, removed,
    )  # fmt: skip
