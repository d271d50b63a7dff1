"""Template side of predictions.verdicts: `{{ p|pct }}` and `{% verdict prediction %}`."""

from __future__ import annotations

from django import template
from django.utils.html import json_script

from mlcore.labels import EMOTIONS
from predictions import verdicts

register = template.Library()


@register.filter
def pct(value) -> str:
    """0.5947 -> "59%"."""
    return verdicts.pct(value)


@register.inclusion_tag("predictions/_verdict.html")
def verdict(shown, *, long: bool = False) -> dict:
    """The top emotion with its percentage, the second choice beside it, and the doubt badge: of a
    read-model ``Verdict``, or of a prediction."""
    return {"v": shown if isinstance(shown, verdicts.Verdict) else verdicts.verdict(shown), "long": long}


@register.simple_tag
def emotions_json() -> str:
    """The eight emotions in order, as a `json_script` element the page scripts read (no copy in JS)."""
    return json_script(list(EMOTIONS), "serweb-emotions")
