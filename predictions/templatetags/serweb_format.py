"""Template side of predictions.verdicts: `{{ p|pct }}` and `{% verdict prediction %}`."""

from __future__ import annotations

from django import template

from predictions import verdicts

register = template.Library()


@register.filter
def pct(value) -> str:
    """0.5947 -> "59%"."""
    return verdicts.pct(value)


@register.inclusion_tag("predictions/_verdict.html")
def verdict(prediction, *, long: bool = False) -> dict:
    """The top emotion with its percentage, the second choice beside it, and the doubt badge."""
    return {"v": verdicts.verdict(prediction), "long": long}
