"""Requests Django cannot parse, turned into reasons a person can act on.

Django drops a file part whose name is empty, ``.``/``..`` or only unprintable characters (and, since it
leaves that part's bytes unread, then fails the whole request with a bare "Bad Request"), refuses a
request with more file parts than ``DATA_UPLOAD_MAX_NUMBER_FILES``, and cannot read a part whose header
passes 1 KB (a file name of about 1,000 characters).  ``UploadNamesMiddleware`` keeps unusable names as
``(no name)`` so the file is judged by its content like any other; ``bad_request`` (``handler400``)
says which limit a refused request hit.  ``server_error`` (``handler500``) answers 503 with
``Retry-After`` while the database cannot be reached, and 507 when the disk is full: the request
failed for a reason that passes, and nothing of it was kept.
"""

from __future__ import annotations

import re
import sys
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MAX_TOTAL_HEADER_SIZE, MultiPartParser, MultiPartParserError
from django.shortcuts import render
from django.template import loader

from predictions.pipeline.recordings import StoreUnavailable
from predictions.pipeline.uploads import NO_NAME, out_of_space

# Seconds a client is asked to wait while the database is unreachable.
RETRY_AFTER_S = 30
OUT_OF_SPACE = (
    "The server is out of space, so this request was not carried out and nothing of it was kept. Try again later."
)
UNAVAILABLE = (
    "serweb cannot reach its database at the moment, so this request was not carried out. Try again in a minute."
)
STORE_UNAVAILABLE = (
    "serweb cannot reach its recordings' storage at the moment, so this request was not carried out and nothing "
    "of it was kept. Try again in a minute."
)


class NamePreservingParser(MultiPartParser):
    def __init__(self, META, input_data, upload_handlers, encoding=None) -> None:
        super().__init__(META, input_data, upload_handlers, encoding)
        self._input_data = _NamelessFilesNamed(self._input_data, self._boundary)

    def sanitize_file_name(self, file_name: str) -> str:
        return super().sanitize_file_name(file_name) or NO_NAME

    def parse(self):
        try:
            return super().parse()
        except Exception:
            # Django closes the files it finished, not the one being written when it failed (a full
            # disk): close that too, so its temporary file is removed now, not when the request is freed.
            self._close_files()
            raise


class _NamelessFilesNamed:
    """A multipart body whose file parts sent with an empty name (``filename=""``) are named ``(no name)``:
    Django drops such parts unread, and the person would never learn what became of the file.

    Only part headers are rewritten (from a boundary line to the blank line after it; a file's content
    cannot hold a boundary line).  The last bytes read are held back until the next read, so a header
    split across two reads is rewritten whole.
    """

    _FILENAME = re.compile(rb'(;\s*filename=)""')

    def __init__(self, stream, boundary: bytes) -> None:
        self._stream, self._marker = stream, b"--" + boundary + b"\r\n"
        self._hold = len(self._marker) + MAX_TOTAL_HEADER_SIZE + 4
        self._ready, self._pending, self._eof = b"", b"", False

    def _rewrite(self, data: bytes) -> bytes:
        out, pos = [], 0
        while (start := data.find(self._marker, pos)) != -1:
            end = data.find(b"\r\n\r\n", start)
            if end == -1:
                break
            out += [data[pos:start], self._FILENAME.sub(rb'\1"' + NO_NAME.encode() + rb'"', data[start:end])]
            pos = end
        return b"".join([*out, data[pos:]])

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size is None or size < 0 or len(self._ready) < size):
            chunk = self._stream.read(1 << 16)
            if not chunk:
                self._eof = True
                self._ready += self._rewrite(self._pending)
                self._pending = b""
                break
            data = self._rewrite(self._pending + chunk)  # a header rewritten before is left as it is
            cut = max(0, len(data) - self._hold)
            self._ready, self._pending = self._ready + data[:cut], data[cut:]
        if size is None or size < 0:
            size = len(self._ready)
        data, self._ready = self._ready[:size], self._ready[size:]
        return data


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
    return NamePreservingParser(meta, data, request.upload_handlers, request.encoding).parse()


def reason(exception: Exception | None) -> str:
    """The sentence for a request refused before any view ran."""
    if isinstance(exception, TooManyFilesSent):
        return (
            f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files were sent in one request, so none was "
            f"received. One upload may hold at most {settings.UPLOAD_MAX_FILES} files; split them into "
            "several uploads or put them in a .zip."
        )
    # Django gives this refusal no type or code of its own, so its (pinned) wording is the only signal;
    # test_upload_limits' long-name test fails if a Django upgrade rewords it.
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


PROBLEM_TYPE = "about:blank"
CONTENT_TYPE = "application/problem+json"


def problem(status: int, detail: str, *, errors: dict | None = None) -> dict:
    """An RFC 9457 problem-details body (the API's errors, and this module's 503/507 for /api/ URLs)."""
    body = {"type": PROBLEM_TYPE, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database, or the recordings' object store, cannot be reached (not a bug)."""
    return isinstance(exc, OperationalError | InterfaceError | StoreUnavailable)


def unavailable_response(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    """503 with Retry-After (database down) or 507 (disk full): a problem for /api/ URLs, else the plain
    page (no database needed)."""
    status, message = (507, OUT_OF_SPACE) if out_of_space(exc) else (503, UNAVAILABLE)
    if isinstance(exc, StoreUnavailable):
        message = STORE_UNAVAILABLE
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(problem(status, message), status=status, content_type=CONTENT_TYPE)
    else:
        body = loader.get_template("503.html").render({"message": message, "retry_after_s": RETRY_AFTER_S})
        response = HttpResponse(body, status=status)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 with Retry-After while the database is down, 507 when the disk is full, else the
    plain 500 page."""
    exc = sys.exc_info()[1]
    if database_unavailable(exc) or out_of_space(exc):
        return unavailable_response(request, exc)
    return HttpResponse(loader.get_template("500.html").render(), status=500)
