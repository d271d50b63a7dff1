"""Recordings owed a removal from storage: written in the same transaction that deletes their rows, so a
store that is down when a user deletes their data leaves a note, not an orphaned object.  Re-exported by
``predictions.models``, which Django imports to register it with the app.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PendingRemoval(models.Model):
    """A stored recording whose rows are gone; removed from storage after the commit, or by a later run."""

    stored_name = models.CharField(max_length=255, unique=True)
    since = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.stored_name} (owed since {self.since:%Y-%m-%d %H:%M})"
