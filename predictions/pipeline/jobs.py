"""Creating jobs: one submit's files stored, recorded and handed to the dispatcher.

The one upload path for every entry point (the upload form, the API): callers pass the request's files
and get the job back.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from predictions.models import AudioFile, Job
from predictions.pipeline import dispatch, quotas, uploads


def create_job(
    user: AbstractBaseUser, files: Sequence[UploadedFile], *, name: str = "", into: Job | None = None
) -> Job:
    """Store the files of one submit as one Job; once the rows are committed, publish what the
    dispatcher allows.

    ``into`` adds the files to one of the user's existing jobs instead (a live recording's later chunks).
    Stored files are removed only when their rows never committed.  The daily allowance is settled
    in the same transaction as the rows (``quotas.settle_daily``), so concurrent uploads cannot both
    spend it.  Publishing happens after COMMIT
    and cannot fail the request: with the broker down the files stay queued, unpublished, and the
    sweep publishes them when it is back.
    """
    incoming = uploads.accept_uploads(files, user=user)
    now = timezone.now()
    try:
        with transaction.atomic():
            if into is not None and into.user_id != user.pk:
                raise ValueError("a job can only receive its own user's files")
            late = quotas.settle_daily(user, [item.audio_s if item.stored_name else None for item in incoming])
            for item, reason in zip(incoming, late, strict=True):
                if reason:
                    uploads.refuse(item, reason)
            job = into or Job.objects.create(user=user, name=name[: Job._meta.get_field("name").max_length])
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
    except BaseException:
        uploads.remove_stored(incoming)
        raise
    # Outside the block above: from here on the rows are committed (or will be, by an outer
    # transaction), so nothing below may remove the stored files.
    transaction.on_commit(lambda: dispatch.dispatch_quietly([user.pk]))
    return job
