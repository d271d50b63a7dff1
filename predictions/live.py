"""Live mode: while a person records, the page sends a chunk every few seconds; all chunks of one take
land in one job, analysed as ordinary files, so the page can draw the timeline as they finish."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from predictions import services
from predictions.models import AudioFile, Job


def add_chunk(user, chunk: UploadedFile, *, session: Job | None, name: str) -> Job:
    """Store and queue one chunk; the first chunk opens the session's job, later ones join it.

    Storage, checks and queueing are the ordinary upload path (services.create_job); a later chunk's row
    is moved into the session's job before anything commits, so the worker only ever sees the session.
    """
    chunks: Sequence[UploadedFile] = [chunk]
    with transaction.atomic():
        job = services.create_job(user, chunks)
        if session is None:
            Job.objects.filter(pk=job.pk).update(name=name[:255])
            return job
        AudioFile.objects.filter(job=job).update(job=session)
        job.delete()
        session.refresh_status()
    return session
