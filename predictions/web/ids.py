"""Object ids from URLs, query strings and form fields, parsed one way everywhere.

An id is 1 to 19 ASCII digits naming a positive 64-bit integer.  ``str.isdigit`` is not that test: it
accepts "²" and "٣", which ``int`` then refuses or reads as another number.  Path segments go through
``IdConverter`` (``<id:pk>``), query and form values through ``parse_id``; anything else is no id at all.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1
# What a path segment naming an id looks like (``IdConverter`` and any ``re_path`` with an id in it).
ID_PATTERN = r"[0-9]{1,19}"
_ID = re.compile(ID_PATTERN, re.ASCII)


def parse_id(value: object) -> int | None:
    """The id ``value`` names, or None when it is not one."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    n = int(value)
    return n if 1 <= n <= MAX_ID else None


class IdConverter:
    """``<id:pk>``: a path segment that is an id (anything else does not match, so the URL is a 404)."""

    regex = ID_PATTERN

    def to_python(self, value: str) -> int:
        n = parse_id(value)
        if n is None:
            raise ValueError(f"not an id: {value!r}")
        return n

    def to_url(self, value: int) -> str:
        return str(int(value))
