"""Serving a stored file with single HTTP byte ranges (RFC 9110 §14), so audio players can seek.

Django's FileResponse has no range support, WhiteNoise serves only static files, and a recording may
live in an object store (read by ranged GETs), so this small
piece is ours: one range per request (players never ask for more), 416 for one that lies past the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

# read(start, end) -> the bytes start..end (inclusive), in chunks (``predictions.pipeline.recordings.read``).
Reader = Callable[[int, int], Iterator[bytes]]


def file_response(request: HttpRequest, size: int, read: Reader, content_type: str) -> HttpResponse:
    """The whole file (200) or the one range the request asks for (206), or 416 when it cannot be met."""
    content_type = content_type or "application/octet-stream"
    start, end, status = 0, size - 1, 200
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match[1] or match[2]):
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:
            start, end = max(size - int(match[2]), 0), size - 1
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        status = 206
    body = read(start, end) if size else iter(())
    response = StreamingHttpResponse(body, status=status, content_type=content_type)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    return response
