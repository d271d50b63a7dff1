"""Serving a stored file with single HTTP byte ranges (RFC 9110 §14), so audio players can seek.

Django's FileResponse has no range support and WhiteNoise serves only static files, so this small
piece is ours: one range per request (players never ask for more), 416 for one that lies past the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 16


def file_response(request: HttpRequest, path: Path, content_type: str) -> HttpResponse:
    """The whole file (200) or the one range the request asks for (206), or 416 when it cannot be met."""
    size = path.stat().st_size
    content_type = content_type or "application/octet-stream"
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
        handle = open(path, "rb")  # noqa: SIM115  (closed by _read_range)
        handle.seek(start)
        response = StreamingHttpResponse(_read_range(handle, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115  (FileResponse closes it)
    response["Accept-Ranges"] = "bytes"
    return response


def _read_range(handle: BinaryIO, length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            chunk = handle.read(min(length, _CHUNK))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()
