"""Pages and JSON for the signed-in user's own jobs, predictions, audio and history."""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mlcore.labels import EMOTIONS
from predictions.lifecycle import deletion
from predictions.models import Job, ModelVersion, Prediction
from predictions.pipeline import jobs, recordings
from predictions.pipeline.uploads import ACCEPT
from predictions.reading import history, readmodel, timeline, verdicts
from predictions.web import access, health, ranges
from predictions.web.forms import HistoryFilterForm, RecordingForm, SignupForm, UploadForm
from predictions.web.ids import parse_id

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
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Signed in: the upload page.  Signed out: what serweb does and how often the active model is right."""
    if request.user.is_authenticated:
        return redirect("predictions:upload")
    version = ModelVersion.active()
    figures = readmodel.model_figures(version) if version is not None else None
    return render(request, "landing.html", {"figures": figures})


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            uploads = form.cleaned_data["files"]
            job = jobs.create_job(request.user, uploads, name=history.job_name([u.name for u in uploads]))
            n = job.files.count()
            messages.success(request, f"{n} file{'s' if n != 1 else ''} received; results appear below as they finish.")
            if request.headers.get("X-Requested-With") == "XMLHttpRequest":
                # The page's script navigates there itself; a redirect followed by XHR would show (and
                # so consume) the message above in a page nobody sees.
                return JsonResponse({"location": job.get_absolute_url()})
            return redirect(job)
        status = 400
    else:
        form, status = UploadForm(), 200
    recent_jobs = list(history.jobs_with_counts(request.user)[:10])
    _name_jobs(recent_jobs)
    # A take is 16 kHz 16-bit mono WAV (32,000 bytes a second): stop before either limit.
    max_record_s = min(settings.UPLOAD_MAX_DURATION_S, (settings.UPLOAD_MAX_FILE_BYTES - 44) // 32_000)
    context = {
        "form": form,
        "max_file_bytes": settings.UPLOAD_MAX_FILE_BYTES,
        "max_files": settings.UPLOAD_MAX_FILES,
        "max_duration_s": settings.UPLOAD_MAX_DURATION_S,
        "max_record_s": max_record_s,
        # The recorder's elapsed time, in the one clock format (the browser has none of its own).
        "record_clock": [verdicts.clock(t) for t in range(max_record_s + 1)],
        "accept": ACCEPT,
        "recent_jobs": recent_jobs,
    }
    return render(request, "predictions/upload.html", context, status=status)


@login_required
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_job_for_user(request, pk)
    record = readmodel.job_result(job, with_files=True)
    context = {"job": job, "job_name": history.display_name(job), "files": record.files, "summary": record}
    return render(request, "predictions/job.html", context)


def _name_jobs(jobs) -> None:
    """Each job of ``history.jobs_with_counts`` gets the name pages show (the zip, the file and "+N")."""
    for job in jobs:
        job.display_name = history.display_name(job, first_file=job.first_file, n_files=job.n_files)


@login_required
@require_GET
def jobs_page(request: HttpRequest) -> HttpResponse:
    """My uploads: every job by name with its counts, and the top emotions of all of them."""
    jobs = Paginator(history.jobs_with_counts(request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    _name_jobs(jobs)
    distribution = history.distribution(Prediction.objects.filter(user=request.user))
    return render(request, "predictions/jobs.html", {"page": jobs, "distribution": distribution})


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
    return redirect("predictions:jobs")


def _job_payload(job: Job, *, with_files: bool = False) -> dict:
    """status.json: the job's read model, each done file with its verdict rendered as the page shows it
    (the browser inserts that fragment; it formats no percent and ranks no emotion itself)."""
    record = readmodel.job_result(job, with_files=with_files)
    payload: dict = {
        "id": record.id,
        "status": record.status,
        "total": record.total,
        "done": record.done,
        "failed": record.failed,
        "finished": record.finished,
        "all_failed": record.all_failed,
    }
    if with_files:
        payload["files"] = [_file_payload(f) for f in record.files]
    return payload


def _file_payload(f: readmodel.FileResult) -> dict:
    done = f.prediction is not None
    return {
        "id": f.id,
        "name": f.name,
        "status": f.status,
        "reason": f.reason,
        # A long file's parts (done of total) and a queued file's place in line, and the words for them.
        "parts": f.parts,
        "parts_done": f.parts_done,
        "place": f.place,
        "progress": f.progress,
        "prediction_id": f.prediction_id,
        "top_emotion": f.top_emotion,
        "confidence": f.confidence,
        "probabilities": f.probabilities,
        # Only what the model said: a low top probability from a model without the notion is not flagged.
        "uncertain": f.uncertain,
        "uncertain_reason": f.uncertain_reason,
        "url": f.url,
        # As shown on the pages: whole percents, the runner-up, and the doubt (the model's own reason,
        # or a low top probability from a model without the notion), and the verdict line as HTML.
        "shown": f.verdict.as_json() if done else None,
        "percents": f.percents,
        "verdict_html": verdicts.verdict_html(f.verdict) if done else None,
    }


# --- Predictions and audio ------------------------------------------------------------------------------
@login_required
@require_GET
def prediction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _prediction_page(request, _get_prediction_for_user(request, pk))


def _prediction_page(
    request: HttpRequest, prediction: Prediction, *, form: RecordingForm | None = None
) -> HttpResponse:
    record = readmodel.prediction_detail(prediction)
    probabilities = record.probabilities
    shows_timeline = timeline.shows_timeline(record.timeline, record.duration_s)
    segments = timeline.stored_segments(prediction) if shows_timeline else []
    chart_data = {
        "labels": list(EMOTIONS),
        "probabilities": [probabilities[e] for e in EMOTIONS],
        "percents": [record.percents[e] for e in EMOTIONS],
        "top_emotion": record.top_emotion,
        "confidence": record.confidence,
        "duration_s": record.duration_s,
        "uncertain": record.uncertain,
        "uncertain_reason": record.uncertain_reason,
        "speech_s": record.speech_s,
        "envelope": prediction.envelope,
        "timeline": readmodel.window_views(record.timeline) if shows_timeline else [],
    }
    rows = [(e, probabilities[e]) for e in EMOTIONS]
    context = {
        "prediction": prediction,
        "verdict": record.verdict,
        "chart_data": chart_data,
        "rows": rows,
        "has_timeline": shows_timeline,
        "segments": segments,
        # Only for results whose headline is the engine's timeline summary (older ones averaged the windows).
        "summary": timeline.summary(segments, emotion=prediction.top_emotion, share=prediction.share)
        if prediction.segments
        else "",
        "model_note": readmodel.model_figures(prediction.model_version).note,
        "recording_form": form or RecordingForm(instance=prediction.file),
    }
    return render(request, "predictions/prediction.html", context, status=400 if form else 200)


@login_required
@require_POST
def prediction_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename the recording and keep a note with it."""
    prediction = _get_prediction_for_user(request, pk)
    form = RecordingForm(request.POST, instance=prediction.file)
    if not form.is_valid():
        prediction.file.refresh_from_db(fields=["original_name", "note"])  # the heading keeps the stored name
        return _prediction_page(request, prediction, form=form)
    form.save()
    messages.success(request, "Name and note saved.")
    return redirect("predictions:prediction", pk=pk)


@login_required
@require_POST
def prediction_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one recording: its audio, its result; the job stays while other files are in it."""
    prediction = _get_prediction_for_user(request, pk)
    name = prediction.file.original_name
    deletion.delete_recording(prediction.file, by=request.user)
    messages.success(request, f"“{name}” is deleted, with its recording and result.")
    return redirect("predictions:history")


@login_required
@require_GET
def prediction_timeline(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The per-window timeline as CSV or JSON (a download)."""
    prediction = _get_prediction_for_user(request, pk)
    stem = re.sub(r"[^\w.-]+", "_", prediction.file.original_name.rsplit(".", 1)[0])[:80] or "recording"
    if fmt == "csv":
        response = HttpResponse(timeline.csv_text(prediction.timeline), content_type="text/csv; charset=utf-8")
    else:
        response = JsonResponse(timeline.json_document(prediction), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{stem}-timeline.{fmt}"'
    return response


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """What a model version was trained on and how well it does on speakers it never heard."""
    version = get_object_or_404(ModelVersion, pk=pk)
    context = {"version": version, "figures": readmodel.model_figures(version)}
    return render(request, "predictions/model.html", context)


@login_required
@require_GET
def prediction_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """The user's own recording, with single-range support so players can seek."""
    f = _get_prediction_for_user(request, pk).file
    try:
        size = recordings.size(f.stored_name)
    except FileNotFoundError:
        raise Http404("The recording is no longer stored.") from None
    response = ranges.file_response(request, size, functools.partial(recordings.read, f.stored_name), f.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- History --------------------------------------------------------------------------------------------
@login_required
@require_GET
def history_page(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None)
    flt = history.HistoryFilter.from_form(form)
    files = flt.files(request.user).select_related("prediction", "prediction__model_version")
    page = Paginator(files, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [readmodel.file_result(f) for f in page]
    predictions = flt.predictions(request.user)
    distribution = history.distribution(predictions)
    total = sum(distribution.values())
    history_data = {
        "distribution": distribution,
        "shares": {e: verdicts.pct(n / total) for e, n in distribution.items()} if total else {},
        "series": history.series(predictions, flt),
    }
    query = request.GET.copy()
    query.pop("page", None)
    # Empty charts say why: nothing matches the filters, or nothing is analysed yet.
    history_data["filtered"] = any(query.values())
    return render(
        request,
        "predictions/history.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "history_data": history_data,
            "query": query.urlencode(),
            "export_url": reverse("predictions:history_csv") + ("?" + query.urlencode() if query else ""),
        },
    )


@login_required
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    """2-4 of the user's recordings side by side: probabilities and one emotion over time, overlaid."""
    ids = list(dict.fromkeys(parse_id(x) for x in request.GET.getlist("p")))
    if None in ids:
        messages.error(request, "A recording to compare was not named by its number; choose them in the history.")
        return redirect("predictions:history")
    if not 2 <= len(ids) <= 4:
        messages.error(request, "Choose 2 to 4 analysed recordings to compare.")
        return redirect("predictions:history")
    predictions = [_get_prediction_for_user(request, pk) for pk in ids]
    items = [
        {
            "name": r.file_name,
            "url": r.url,
            "verdict": r.verdict.as_json(),
            "probabilities": [r.probabilities[e] for e in EMOTIONS],
            "percents": [r.percents[e] for e in EMOTIONS],
            "duration_s": r.duration_s,
            "timeline": readmodel.window_views(r.timeline),
        }
        for r in map(readmodel.prediction_detail, predictions)
    ]
    context = {"predictions": predictions, "compare_data": {"labels": list(EMOTIONS), "items": items}}
    return render(request, "predictions/compare.html", context)


@login_required
@require_GET
def history_csv(request: HttpRequest) -> StreamingHttpResponse:
    form = HistoryFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():  # an export must never silently drop the filter asked for
        errors = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())
        return HttpResponse(f"The filter is not valid: {errors}", status=400, content_type="text/plain")
    flt = history.HistoryFilter.from_form(form)
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
    """Database and (when configured) broker reachability; with ``?deep=1`` also whether the inference
    queue is being consumed.  503 naming what failed."""
    result, healthy = health.report(deep=request.GET.get("deep") == "1")
    return JsonResponse(result, status=200 if healthy else 503)
