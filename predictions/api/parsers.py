"""The API reads multipart bodies with the pages' parser (``request_errors.NamePreservingParser``): files
with unusable names are kept under ``(no name)``, and a body that cannot be stored (a full disk) leaves
no temporary file behind."""

from __future__ import annotations

from django.conf import settings
from django.http.multipartparser import MultiPartParserError
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles

from predictions.web.request_errors import NamePreservingParser


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        context = parser_context or {}
        request = context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data, files = NamePreservingParser(meta, stream, request.upload_handlers, encoding).parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return DataAndFiles(data, files)
