"""Times in the viewer's zone: the browser's IANA zone (Intl API), stored on the account and activated for
each of their requests.  Set on log-in (a hidden field the page's script fills) and whenever the
browser's zone changes (static/js/timezone.js posts it).  Stored times stay UTC; CSV keeps ISO 8601
with its offset."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from predictions.models.account import AccountSettings

SESSION_KEY = "time_zone"


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_zone(name: str) -> bool:
    """An IANA zone name this server knows ("Europe/Paris"), not any string a browser sent."""
    return name in _known_zones()


def save_zone(request: HttpRequest, user, name: str) -> bool:
    """Store the user's zone (and in the session, so pages need no query); False for an unknown name."""
    if not is_zone(name):
        return False
    AccountSettings.objects.update_or_create(user=user, defaults={"time_zone": name})
    request.session[SESSION_KEY] = name
    return True


def zone_of(request: HttpRequest) -> str:
    """The signed-in user's zone name, or "" (the server's TIME_ZONE)."""
    if not request.user.is_authenticated:
        return ""
    if SESSION_KEY not in request.session:
        request.session[SESSION_KEY] = _stored_zone(request.user)
    return request.session[SESSION_KEY]


def _stored_zone(user) -> str:
    return AccountSettings.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""


class TimeZoneMiddleware:
    """Django's per-request time zone activation (after authentication), as its docs describe it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = zone_of(request)
        if name and is_zone(name):
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        return self.get_response(request)


def zone_from_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """`user_logged_in`: the log-in and sign-up forms carry the browser's zone in a hidden field.  The new
    session holds the zone from the start, so no later page writes to it."""
    if request is None:
        return
    if not (request.method == "POST" and save_zone(request, user, request.POST.get("time_zone", ""))):
        request.session[SESSION_KEY] = _stored_zone(user)
