"""Content-Security-Policy on every response (Django 5.2 has none built in).

Scripts and styles come from this site only: pages pass data through `json_script` elements (JSON, not
run) and never use inline scripts, inline event handlers or style attributes.  Audio is served by the
ownership-checking view (same origin); recordings made in the browser play from blob: URLs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def policy_header(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}".strip() for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = policy_header(settings.CONTENT_SECURITY_POLICY)
        self.name = (
            "Content-Security-Policy-Report-Only"
            if settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
            else "Content-Security-Policy"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header and self.name not in response:
            response[self.name] = self.header
        return response
