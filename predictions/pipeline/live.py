"""Live mode: while a person records, the page sends a chunk every few seconds; all chunks of one take
land in one job, analysed as ordinary files, so the page can draw the timeline as they finish."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile

from predictions.models import Job
from predictions.pipeline import jobs


def add_chunk(user, chunk: UploadedFile, *, session: Job | None, name: str) -> Job:
    """Store and queue one chunk; the first chunk opens the session's job, later ones join it.

    Storage, checks and queueing are the ordinary upload path (``jobs.create_job``).
    """
    return jobs.create_job(user, [chunk], name=name, into=session)
