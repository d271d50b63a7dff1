"""Per-user request rate limits (429 with Retry-After), read from settings.API_RATE_LIMITS at each request."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRate(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return settings.API_RATE_LIMITS.get(self.scope)

    def allow_request(self, request, view) -> bool:
        # The rate is read per request so a settings change (tests, reloads) applies at once.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


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
