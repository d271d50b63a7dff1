"""Pages and JSON for the signed-in user's own jobs, predictions, audio and history."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mlcore.labels import EMOTIONS
from predictions import access, deletion, history, services
from predictions.forms import HistoryFilterForm, SignupForm, UploadForm
from predictions.models import AudioFile, Job, Prediction
from predictions.uploads import ACCEPT

HISTORY_PAGE_SIZE = 50


# --- Access control: one helper per object type; anyone else's object is a 404 --------------------
def _get_job_for_user(request: HttpRequest, pk: int) -> Job:
    return access.job_for(request.user, pk)


def _get_prediction_for_user(request: HttpRequest, pk: int) -> Prediction:
    return access.prediction_for(request.user, pk)


# --- Accounts -------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("predictions:upload")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Upload a recording to see its emotions.")
        return redirect("predictions:upload")
    return render(request, "registration/signup.html", {"form": form})


# --- Upload and jobs ------------------------------------------------------------------------------------
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("predictions:upload")


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            job = services.create_job(request.user, form.cleaned_data["files"])
            n = job.files.count()
            messages.success(request, f"{n} file{'s' if n != 1 else ''} received; results appear below as they finish.")
            return redirect(job)
        status = 400
    else:
        form, status = UploadForm(), 200
    context = {
        "form": form,
        "max_file_bytes": settings.UPLOAD_MAX_FILE_BYTES,
        "max_files": settings.UPLOAD_MAX_FILES,
        "max_duration_s": settings.UPLOAD_MAX_DURATION_S,
        "accept": ACCEPT,
        "recent_jobs": Job.objects.filter(user=request.user)[:10],
    }
    return render(request, "predictions/upload.html", context, status=status)


@login_required
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_job_for_user(request, pk)
    payload = _job_payload(job)
    files = job.files.select_related("prediction").order_by("id")
    return render(
        request, "predictions/job.html", {"job": job, "files": files, "summary": payload, "emotions": EMOTIONS}
    )


@login_required
@require_GET
@never_cache
def job_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_job_payload(_get_job_for_user(request, pk), with_files=True))


@login_required
@require_POST
def job_delete(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_job_for_user(request, pk)
    n = deletion.delete_job(job, by=request.user)
    messages.success(
        request,
        f"Job {pk} is deleted: {n} recording{'s' if n != 1 else ''} and {'their' if n != 1 else 'its'} results.",
    )
    return redirect("predictions:upload")


def _job_payload(job: Job, *, with_files: bool = False) -> dict:
    counts = job.counts()
    total = sum(counts.values())
    finished = counts["done"] + counts["failed"] == total
    if finished:
        status = "finished"
    elif counts["processing"] or counts["done"] or counts["failed"]:
        status = "processing"
    else:
        status = "queued"
    payload: dict = {
        "id": job.pk,
        "status": status,
        "total": total,
        "done": counts["done"],
        "failed": counts["failed"],
        "finished": finished,
    }
    if with_files:
        payload["files"] = [_file_payload(f) for f in job.files.select_related("prediction").order_by("id")]
    return payload


def _file_payload(f: AudioFile) -> dict:
    prediction = getattr(f, "prediction", None) if f.status == AudioFile.Status.DONE else None
    return {
        "id": f.pk,
        "name": f.original_name,
        "status": f.status,
        "error": f.error or None,
        "top_emotion": prediction.top_emotion if prediction else None,
        "confidence": prediction.confidence if prediction else None,
        "probabilities": prediction.probabilities if prediction else None,
        # Only what the model said: a low top probability from a model without the notion is not flagged.
        "uncertain": prediction.uncertain if prediction else None,
        "uncertain_reason": prediction.uncertain_reason if prediction else None,
        "url": prediction.get_absolute_url() if prediction else None,
    }


# --- Predictions and audio ------------------------------------------------------------------------------
@login_required
@require_GET
def prediction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    prediction = _get_prediction_for_user(request, pk)
    probabilities = prediction.probabilities
    chart_data = {
        "labels": list(EMOTIONS),
        "probabilities": [probabilities[e] for e in EMOTIONS],
        "top_emotion": prediction.top_emotion,
        "confidence": prediction.confidence,
        "duration_s": prediction.duration_s,
        "uncertain": prediction.uncertain,
        "uncertain_reason": prediction.uncertain_reason,
        "speech_s": prediction.speech_s,
        "envelope": prediction.envelope,
        "timeline": prediction.timeline,
    }
    rows = sorted(probabilities.items(), key=lambda kv: EMOTIONS.index(kv[0]))
    return render(
        request,
        "predictions/prediction.html",
        {
            "prediction": prediction,
            "chart_data": chart_data,
            "rows": rows,
            "has_timeline": len(prediction.timeline) > 1,
        },
    )


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@login_required
@require_GET
def prediction_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """The user's own recording, with single-range support so players can seek."""
    f = _get_prediction_for_user(request, pk).file
    path = f.path
    if path is None or not path.is_file():
        raise Http404("The recording is no longer stored.")
    size = path.stat().st_size
    handle = open(path, "rb")  # noqa: SIM115  (FileResponse closes it)
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match[1] or match[2]):
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:
            start, end = max(size - int(match[2]), 0), size - 1
        if start > end or start >= size:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        handle.seek(start)
        response = StreamingHttpResponse(_read_range(handle, end - start + 1), status=206, content_type=f.content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(handle, content_type=f.content_type or "application/octet-stream")
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _read_range(handle, length: int):
    try:
        while length > 0:
            chunk = handle.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


# --- History --------------------------------------------------------------------------------------------
@login_required
@require_GET
def history_page(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None)
    flt = history.HistoryFilter.from_form(form)
    files = flt.files(request.user).select_related("prediction", "prediction__model_version")
    page = Paginator(files, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    predictions = flt.predictions(request.user)
    history_data = {"distribution": history.distribution(predictions), "series": history.series(predictions, flt)}
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "predictions/history.html",
        {
            "form": form,
            "page": page,
            "history_data": history_data,
            "query": query.urlencode(),
            "export_url": reverse("predictions:history_csv") + ("?" + query.urlencode() if query else ""),
        },
    )


@login_required
@require_GET
def history_csv(request: HttpRequest) -> StreamingHttpResponse:
    flt = history.HistoryFilter.from_form(HistoryFilterForm(request.GET or None))
    response = StreamingHttpResponse(
        history.csv_stream(flt.files(request.user)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="serweb-history-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- Operations -----------------------------------------------------------------------------------------
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and (when configured) broker reachability; 503 naming what failed."""
    result: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        result["database"] = "ok"
    except Exception as e:
        result["database"] = f"error: {type(e).__name__}"
    if not settings.CELERY_BROKER_URL.startswith("memory://"):
        result["broker"] = _check_broker(settings.CELERY_BROKER_URL)
    else:
        result["broker"] = "not configured (tasks run in the web process)"
    healthy = result["database"] == "ok" and not result["broker"].startswith("error")
    return JsonResponse(result, status=200 if healthy else 503)


def _check_broker(url: str) -> str:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2, transport_options={"socket_timeout": 2}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        return "ok"
    except Exception as e:
        return f"error: {type(e).__name__}"
