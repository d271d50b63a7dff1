"""Requests Django cannot parse, turned into reasons a person can act on.

Django drops a file part whose name is ``.``/``..`` or only unprintable characters (and, since it
leaves that part's bytes unread, then fails the whole request with a bare "Bad Request"), refuses a
request with more file parts than ``DATA_UPLOAD_MAX_NUMBER_FILES``, and cannot read a part whose header
passes 1 KB (a file name of about 1,000 characters).  ``UploadNamesMiddleware`` keeps unusable names as
``(no name)`` so the file is judged by its content like any other; ``bad_request`` (``handler400``)
says which limit a refused request hit.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.shortcuts import render

from predictions.uploads import NO_NAME


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
