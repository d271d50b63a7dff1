"""A renderer that lets the CSV endpoint answer ``Accept: text/csv`` (its errors still render as JSON)."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer


class CsvRenderer(JSONRenderer):
    """Negotiates text/csv; the CSV itself is a streamed response that bypasses renderers, so the only
    data this ever renders is an error, which goes out as JSON problem details."""

    media_type = "text/csv"
    format = "csv"
