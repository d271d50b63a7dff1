"""What a person sets about their account beyond Django's user: the time zone pages show times in, and
whether a finished job is announced by email.

Re-exported by ``predictions.models``, which Django imports to register it with the app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccountSettings(models.Model):
    """One row per user, made when first needed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_settings")
    # An IANA name ("Europe/Paris") from the browser's Intl API; empty: the server's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True)
    # Email me when a job that took a while (NOTIFY_AFTER_S) finishes (predictions.lifecycle.notify).
    email_when_done = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.time_zone or 'server time zone'}"
