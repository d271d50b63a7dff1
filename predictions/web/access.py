"""Access control in one place: one function per object type, used by the pages, the account page and
the API alike.  Anyone else's object (or none at all) is a 404, so ids reveal nothing."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from predictions.models import Job, Prediction
from predictions.models.api import ApiToken
from predictions.models.live import LiveTake


def job_for(user, pk: int) -> Job:
    return get_object_or_404(Job, pk=pk, user=user)


def prediction_for(user, pk: int) -> Prediction:
    return get_object_or_404(Prediction.objects.select_related("file", "model_version"), pk=pk, user=user)


def token_for(user, pk: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=pk, user=user)


def live_take_for(user, pk: int) -> LiveTake:
    return get_object_or_404(LiveTake.objects.select_related("file", "file__job"), pk=pk, user=user)
