"""Per-user request rate limits (429 with Retry-After), read from settings.API_RATE_LIMITS at each request.

The counters live in Django's cache (Redis in production).  When the cache cannot be reached the
limits fail open: the request proceeds and the outage is logged, so a Redis outage never turns every
API request into an error.
"""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class _SettingsRate(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return settings.API_RATE_LIMITS.get(self.scope)

    def allow_request(self, request, view) -> bool:
        # The rate is read per request so a settings change (tests, reloads) applies at once.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception as e:  # redis-py, or any cache backend's own, connection errors
            logger.warning("rate limit %r not applied: the cache is unreachable (%s)", self.scope, type(e).__name__)
            return True


class PerUserThrottle(_SettingsRate):
    """Every API request: per user once signed in, per client address before."""

    scope = "user"

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            return f"throttle_user_user-{request.user.pk}"
        return f"throttle_anon_addr-{self.get_ident(request)}"

    def allow_request(self, request, view) -> bool:
        self.scope = "user" if request.user and request.user.is_authenticated else "anon"
        return super().allow_request(request, view)


class UploadThrottle(_SettingsRate):
    """Job creation, on top of the general limit."""

    scope = "uploads"

    def get_cache_key(self, request, view) -> str | None:
        if request.method != "POST" or not request.user or not request.user.is_authenticated:
            return None
        return f"throttle_uploads_user-{request.user.pk}"
