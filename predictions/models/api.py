"""API tokens, per-user webhook settings, a job's callback and each delivery attempt.

Re-exported by ``predictions.models``, which Django imports to register them with the app.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "swb_"
# Characters of the token (after "swb_") kept in clear so a user can tell their tokens apart.
DISPLAY_CHARS = 8


def hash_token(raw: str) -> str:
    """sha256 of the whole token: tokens are 256 random bits, so a fast hash is enough (no dictionary)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class ApiToken(models.Model):
    """A personal API token: only its hash and a short prefix are stored; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=len(TOKEN_PREFIX) + DISPLAY_CHARS)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name: str) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the row and the raw token (never stored)."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + DISPLAY_CHARS], key_hash=hash_token(raw)
        )
        logger.info("tokens: user %s created API token %s (%s…)", user.pk, token.pk, token.prefix)
        return token, raw

    def revoke(self) -> None:
        logger.info("tokens: user %s revoked API token %s (%s…)", self.user_id, self.pk, self.prefix)
        self.delete()


class WebhookSettings(models.Model):
    """A user's default webhook URL (used when a job names no callback) and signing secret."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_settings")
    default_url = models.URLField(max_length=500, blank=True)
    # Kept in clear: it signs every delivery, so serweb must be able to read it (as Stripe's and GitHub's).
    signing_secret = models.CharField(max_length=100, default=new_signing_secret)

    def __str__(self) -> str:
        return f"Webhook settings of {self.user}"

    @classmethod
    def for_user(cls, user) -> WebhookSettings:
        return cls.objects.get_or_create(user=user)[0]


class JobCallback(models.Model):
    """Where a job's result is POSTed when it finishes, and how that went."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    job = models.OneToOneField("predictions.Job", on_delete=models.CASCADE, related_name="callback")
    url = models.URLField(max_length=500)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)

    def __str__(self) -> str:
        return f"Callback of job {self.job_id}"


class WebhookAttempt(models.Model):
    """One POST of a job's result: when, the answer's status code, or the error that stopped it."""

    callback = models.ForeignKey(JobCallback, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
