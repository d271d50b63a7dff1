"""Live mode's endpoints: a chunk of the take, Stop, and the take's growing timeline (``predictions.pipeline.live``)."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from predictions.models import AudioFile, LiveTake, Prediction
from predictions.pipeline import live
from predictions.reading import history, readmodel
from predictions.reading.verdicts import pct
from predictions.web import access
from predictions.web.forms import UploadForm


@login_required
@require_POST
def chunk(request: HttpRequest) -> JsonResponse:
    """Chunk ``seq`` (from 0) of the take ``take`` (a UUID the page chose), a 16 kHz mono WAV as ``files``;
    answers the take's status and finish URLs.  Sending a chunk again is harmless."""
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid() or len(form.cleaned_data["files"]) != 1:
        return JsonResponse({"error": "Send one audio chunk as `files`."}, status=400)
    try:
        key = uuid.UUID(request.POST.get("take", ""))
    except ValueError:
        return JsonResponse({"error": "`take` must be the take's UUID, the same for each of its chunks."}, status=400)
    seq = _count(request.POST.get("seq", ""))
    if seq is None:
        return JsonResponse({"error": "`seq` must number the take's chunks from 0 (ASCII digits)."}, status=400)
    name = request.POST.get("name") or "Recording"
    try:
        take = live.add_chunk(request.user, form.cleaned_data["files"][0], key=key, seq=seq, name=name)
    except live.ChunkRefused as e:
        return JsonResponse({"error": str(e)}, status=400)
    return JsonResponse(
        {
            "take": take.pk,
            "job": take.file.job_id,
            "status_url": reverse("predictions:live_status", args=[take.pk]),
            "finish_url": reverse("predictions:live_finish", args=[take.pk]),
        }
    )


@login_required
@require_POST
def finish(request: HttpRequest, pk: int) -> JsonResponse:
    """Stop: the take has ``chunks`` chunks; it is finalised once they are all in."""
    take = access.live_take_for(request.user, pk)
    chunks = _count(request.POST.get("chunks", ""))
    if chunks is None:
        return JsonResponse({"error": "`chunks` must say how many chunks the take has."}, status=400)
    live.finish(take, chunks=chunks)
    return JsonResponse(_status(take))


@never_cache
@login_required
@require_GET
def status(request: HttpRequest, pk: int) -> JsonResponse:
    """The take so far: its state, seconds, the analysed windows (with what the page writes about each)
    and where the recording is to be seen."""
    return JsonResponse(_status(access.live_take_for(request.user, pk)))


def _count(text: str) -> int | None:
    """A chunk number or count: ASCII digits only (int() would take "٣"), below 100,000."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 else None


def _status(take: LiveTake) -> dict:
    f = take.file
    p = Prediction.objects.filter(file=f).first() if f.status == AudioFile.Status.DONE else None
    done = p is not None
    timeline = p.timeline if done else take.so_far.get("timeline", [])
    headline = (p.top_emotion, p.confidence) if done else (take.so_far.get("emotion"), take.so_far.get("confidence"))
    return {
        "status": f.status,
        "finished": f.is_finished,
        "done": int(done),
        "failed": int(f.status == AudioFile.Status.FAILED),
        "reason": f.error or None,
        "seconds": round(take.samples / live.RATE, 3),
        "chunks": take.next_seq,
        "windows": readmodel.window_views(timeline),
        "headline": f"{headline[0]} {pct(headline[1])}" if headline[0] else "",
        "url": p.get_absolute_url() if done else f.job.get_absolute_url(),
        "name": history.display_name(f.job),
    }
