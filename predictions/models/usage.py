"""What each user has been charged against the daily audio allowance.

A ledger apart from the files: deleting a job frees its storage, never the allowance it used (the
analysis was paid for), so the quota counts what was accepted, not what is still stored.  Re-exported
by ``predictions.models``, which Django imports to register it with the app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AudioCharge(models.Model):
    """Seconds of audio one upload request had accepted, at the time it was accepted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audio_charges")
    charged_at = models.DateTimeField(default=timezone.now)
    audio_s = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["user", "charged_at"], name="charge_user_at")]

    def __str__(self) -> str:
        return f"{self.audio_s:.1f} s for user {self.user_id} at {self.charged_at:%Y-%m-%d %H:%M}"
