"""Requests Django cannot parse, turned into reasons a person can act on.

Django drops a file part whose name is ``.``/``..`` or only unprintable characters (and, since it
leaves that part's bytes unread, then fails the whole request with a bare "Bad Request"), refuses a
request with more file parts than ``DATA_UPLOAD_MAX_NUMBER_FILES``, and cannot read a part whose header
passes 1 KB (a file name of about 1,000 characters).  ``UploadNamesMiddleware`` keeps unusable names as
``(no name)`` so the file is judged by its content like any other; ``bad_request`` (``handler400``)
says which limit a refused request hit.  ``server_error`` (``handler500``) answers 503 with
``Retry-After`` while the database cannot be reached: the request failed for a reason that passes.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.shortcuts import render
from django.template import loader

from predictions.uploads import NO_NAME

# Seconds a client is asked to wait while the database is unreachable.
RETRY_AFTER_S = 30
UNAVAILABLE = (
    "serweb cannot reach its database at the moment, so this request was not carried out. Try again in a minute."
)


class _NamePreservingParser(MultiPartParser):
    def sanitize_file_name(self, file_name: str) -> str:
        return super().sanitize_file_name(file_name) or NO_NAME


class UploadNamesMiddleware:
    """Parse multipart bodies with a parser that keeps files whose names are unusable (before
    CsrfViewMiddleware, which is the first to read ``request.POST``)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.content_type == "multipart/form-data":
            request.parse_file_upload = lambda meta, data: _parse(request, meta, data)
        return self.get_response(request)


def _parse(request: HttpRequest, meta, data):
    return _NamePreservingParser(meta, data, request.upload_handlers, request.encoding).parse()


def reason(exception: Exception | None) -> str:
    """The sentence for a request refused before any view ran."""
    if isinstance(exception, TooManyFilesSent):
        return (
            f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files were sent in one request, so none was "
            f"received. One upload may hold at most {settings.UPLOAD_MAX_FILES} files; split them into "
            "several uploads or put them in a .zip."
        )
    if isinstance(exception, MultiPartParserError) and "header size" in str(exception):
        return (
            "The upload could not be read: a file name is too long (the part describing one file passed "
            "1 KB). Rename the file to a shorter name and upload again."
        )
    if isinstance(exception, MultiPartParserError):
        return f"The upload could not be read ({exception}). Try again; if it repeats, upload fewer files at once."
    return "The request could not be understood by the server."


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: the reason as JSON for API clients, else as a page with a way back."""
    message = reason(exception)
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": message}, status=400)
    return render(request, "400.html", {"message": message}, status=400)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot be reached (not a bug in a query)."""
    return isinstance(exc, OperationalError | InterfaceError)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: a problem for /api/ URLs, else the plain page (no database needed)."""
    if request.path.startswith("/api/"):
        from predictions.api.errors import CONTENT_TYPE, problem

        response: HttpResponse = JsonResponse(problem(503, UNAVAILABLE), status=503, content_type=CONTENT_TYPE)
    else:
        body = loader.get_template("503.html").render({"message": UNAVAILABLE, "retry_after_s": RETRY_AFTER_S})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 with Retry-After while the database is down, else the plain 500 page."""
    if database_unavailable(sys.exc_info()[1]):
        return unavailable_response(request)
    return HttpResponse(loader.get_template("500.html").render(), status=500)
