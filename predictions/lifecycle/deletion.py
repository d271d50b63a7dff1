"""Users own their data: deleting a job or a whole account removes its recordings and its rows.

Rows go in one transaction; the recordings leave storage once it has committed (a rolled-back
deletion must not lose audio).  Each deletion is logged with who, what and when, never file names
or contents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from predictions.models import AudioFile, Job, LiveChunk
from predictions.pipeline import recordings

logger = logging.getLogger(__name__)


def remove_recordings(stored_names: Iterable[str]) -> int:
    """Remove stored recordings from storage; returns how many are gone (one the store could not remove
    is logged and not counted)."""
    return len(recordings.remove(stored_names))


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
        user.delete()
        transaction.on_commit(lambda: _after_account_deleted(user_id, n_jobs, n_files, names))


def _after_account_deleted(user_id: int, n_jobs: int, n_files: int, names: list[str]) -> None:
    removed = remove_recordings(names)
    logger.info(
        "deletion: user %s deleted their account (%d jobs, %d files, %d recordings removed from storage)",
        user_id, n_jobs, n_files, removed,
    )  # fmt: skip
