"""AUDIO_RETENTION_DAYS: recordings older than that leave storage; their predictions stay."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from predictions.models import AudioFile
from predictions.pipeline import recordings

logger = logging.getLogger(__name__)
BATCH = 500


def remove_expired_audio(*, days: int | None = None, now: datetime | None = None) -> int:
    """Remove the recordings of finished files uploaded more than ``days`` ago (default
    AUDIO_RETENTION_DAYS; None keeps everything).  Safe to run any number of times.  Returns the count."""
    days = settings.AUDIO_RETENTION_DAYS if days is None else days
    if not days:
        return 0
    now = now or timezone.now()
    expired = AudioFile.objects.filter(
        created_at__lt=now - timedelta(days=days),
        status__in=[AudioFile.Status.DONE, AudioFile.Status.FAILED],
        audio_removed_at__isnull=True,
    ).exclude(stored_name="")
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                expired.select_for_update(skip_locked=True).order_by("id").values_list("id", "stored_name")[:BATCH]
            )
            if not rows:
                break
            # Removed before the rows say so: should the update fail, or the store not answer for some,
            # the next run finds them again.
            gone = set(recordings.remove(name for _, name in rows))
            removed = [pk for pk, name in rows if name in gone]
            AudioFile.objects.filter(pk__in=removed).update(stored_name="", audio_removed_at=now)
        total += len(removed)
        if len(removed) < len(rows):  # the store is down: the rest waits for the next run
            break
    if total:
        logger.info("retention: removed %d recordings uploaded more than %d days ago (predictions kept)", total, days)
    return total
