"""Template side of predictions.reading.verdicts: `{{ p|pct }}` and `{% verdict prediction %}`."""

from __future__ import annotations

from django import template
from django.utils.html import json_script

from mlcore.labels import EMOTIONS
from predictions.reading import verdicts

register = template.Library()


@register.filter
def pct(value) -> str:
    """0.5947 -> "59%"."""
    return verdicts.pct(value)


@register.simple_tag
def verdict(shown) -> str:
    """The top emotion with its percentage, the second choice beside it, and the doubt badge: of a
    read-model ``Verdict``, or of a prediction (``verdicts.verdict_html``, the one markup)."""
    return verdicts.verdict_html(shown if isinstance(shown, verdicts.Verdict) else verdicts.verdict(shown))


@register.simple_tag
def emotions_json() -> str:
    """The eight emotions in order, as a `json_script` element the page scripts read (no copy in JS)."""
    return json_script(list(EMOTIONS), "serweb-emotions")
