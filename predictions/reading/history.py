"""History queries: the filtered rows, the distribution and time series (computed in the database), CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from mlcore.labels import EMOTIONS, ranked
from predictions.models import AudioFile, Job, ModelVersion, Prediction
from predictions.reading.readmodel import FileResult, file_results

CSV_COLUMNS = (
    "uploaded_at",
    "job",
    "file",
    "duration_s",
    "model_version",
    "status",
    "reason",
    "top_emotion",
    "confidence",
    *EMOTIONS,
    # Last, so scripts reading the earlier columns by position keep working.
    "uncertain",
    "uncertain_reason",
    "file_id",
    "prediction_id",
    "speech_s",
    "second_emotion",
)
WEEKLY_AFTER_DAYS = 60
_CSV_BATCH = 1000


@dataclass(frozen=True)
class HistoryFilter:
    start: date | None = None
    end: date | None = None
    emotion: str = ""
    model: ModelVersion | None = None
    # A bound form with errors (e.g. a start after the end) matches nothing: showing every row under an
    # error message would read as if the filter had applied.
    invalid: bool = False

    @classmethod
    def from_form(cls, form) -> HistoryFilter:
        if not form.is_valid():
            return cls(invalid=form.is_bound)
        d = form.cleaned_data
        return cls(d.get("start"), d.get("end"), d.get("emotion") or "", d.get("model"))

    def _bounds(self) -> tuple[datetime | None, datetime | None]:
        tz = timezone.get_current_timezone()
        lo = datetime.combine(self.start, time.min, tzinfo=tz) if self.start else None
        hi = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz) if self.end else None
        return lo, hi

    def files(self, user) -> QuerySet[AudioFile]:
        """The user's files (done and failed and pending), newest first, with their predictions."""
        qs = AudioFile.objects.filter(user=user)
        if self.invalid:
            return qs.none()
        lo, hi = self._bounds()
        if lo:
            qs = qs.filter(created_at__gte=lo)
        if hi:
            qs = qs.filter(created_at__lt=hi)
        if self.emotion:
            qs = qs.filter(prediction__top_emotion=self.emotion)
        if self.model:
            qs = qs.filter(prediction__model_version=self.model)
        return qs.order_by("-created_at", "-id")

    def predictions(self, user) -> QuerySet[Prediction]:
        qs = Prediction.objects.filter(user=user)
        if self.invalid:
            return qs.none()
        lo, hi = self._bounds()
        if lo:
            qs = qs.filter(uploaded_at__gte=lo)
        if hi:
            qs = qs.filter(uploaded_at__lt=hi)
        if self.emotion:
            qs = qs.filter(top_emotion=self.emotion)
        if self.model:
            qs = qs.filter(model_version=self.model)
        return qs


def job_name(upload_names: list[str]) -> str:
    """A job's name from what was sent: the one file's (or zip's) name, or the first name and "+N"."""
    names = [n for n in upload_names if n] or ["upload"]
    first = names[0][:200]
    return first if len(names) == 1 else f"{first} +{len(names) - 1}"


def jobs_with_counts(user) -> QuerySet[Job]:
    """The user's jobs, newest first, each with its file counts and a fallback name (one query)."""
    files = AudioFile.objects.filter(job=OuterRef("pk")).order_by("id").values("original_name")[:1]
    return (
        Job.objects.filter(user=user)
        .annotate(
            n_files=Count("files"),
            n_done=Count("files", filter=Q(files__status=AudioFile.Status.DONE)),
            n_failed=Count("files", filter=Q(files__status=AudioFile.Status.FAILED)),
            first_file=Subquery(files),
        )
        .order_by("-created_at", "-id")
    )


def display_name(job: Job, *, first_file: str | None = None, n_files: int | None = None) -> str:
    """The stored name, or for older jobs the first file and "+N"."""
    if job.name:
        return job.name
    if first_file is None:
        first_file = job.files.order_by("id").values_list("original_name", flat=True).first() or ""
        n_files = job.files.count()
    if not first_file:
        return f"Job {job.pk}"
    return first_file if not n_files or n_files <= 1 else f"{first_file} +{n_files - 1}"


def distribution(predictions: QuerySet[Prediction]) -> dict[str, int]:
    """Count of each top emotion over the set (GROUP BY in the database)."""
    rows = predictions.order_by().values("top_emotion").annotate(n=Count("id"))
    counts = dict.fromkeys(EMOTIONS, 0)
    counts.update({r["top_emotion"]: r["n"] for r in rows})
    return counts


def series(predictions: QuerySet[Prediction], flt: HistoryFilter) -> dict:
    """Top-emotion counts per day (or per week past 60 days), gaps filled with zeros."""
    predictions = predictions.order_by()
    span = predictions.aggregate(first=Min("uploaded_at"), last=Max("uploaded_at"))
    if span["first"] is None:
        return {"bucket": "day", "labels": [], "counts": {e: [] for e in EMOTIONS}}
    tz = timezone.get_current_timezone()
    first = flt.start or timezone.localtime(span["first"], tz).date()
    last = flt.end or timezone.localtime(span["last"], tz).date()
    weekly = (last - first).days > WEEKLY_AFTER_DAYS
    trunc = TruncWeek if weekly else TruncDate
    rows = (
        predictions.annotate(bucket=trunc("uploaded_at", tzinfo=tz))
        .values("bucket", "top_emotion")
        .annotate(n=Count("id"))
    )
    step = timedelta(days=7 if weekly else 1)
    # Buckets between the first and last prediction of the filtered set.
    start = timezone.localtime(span["first"], tz).date()
    end = timezone.localtime(span["last"], tz).date()
    if weekly:
        start -= timedelta(days=start.weekday())
        end -= timedelta(days=end.weekday())
    labels = []
    day = start
    while day <= end:
        labels.append(day)
        day += step
    index = {d: i for i, d in enumerate(labels)}
    counts = {e: [0] * len(labels) for e in EMOTIONS}
    for r in rows:  # one row per (bucket, emotion), not per prediction
        bucket = r["bucket"].date() if isinstance(r["bucket"], datetime) else r["bucket"]
        if bucket in index:
            counts[r["top_emotion"]][index[bucket]] = r["n"]
    return {"bucket": "week" if weekly else "day", "labels": [d.isoformat() for d in labels], "counts": counts}


def _cell(value: str) -> str:
    # Spreadsheet formula injection: a user-chosen file name must never be evaluated as a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


_NO_PREDICTION = ("",) * len(EMOTIONS)


def csv_row(f: FileResult) -> tuple:
    """One file's CSV row, in CSV_COLUMNS order, from its read model."""
    p = f.prediction
    head = (f.uploaded_at.isoformat(timespec="seconds"), f.job_id, _cell(f.name))
    if p is None:
        return (*head, "", "", f.status, f.reason or "", "", "", *_NO_PREDICTION, "", "", f.id, "", "", "")
    probs = p.probabilities
    return (
        *head,
        f"{p.duration_s:.3f}",
        p.model_version,
        f.status,
        f.reason or "",
        p.top_emotion,
        f"{p.confidence:.6f}",
        *[f"{probs[e]:.6f}" for e in EMOTIONS],
        "true" if p.uncertain else "false",
        _cell(p.uncertain_reason),
        f.id,
        p.id,
        "" if p.speech_s is None else f"{p.speech_s:.3f}",
        ranked(probs)[1][0],
    )


def csv_stream(files: QuerySet[AudioFile]) -> Iterator[bytes]:
    """The rows as CSV, streamed in batches from a server-side cursor: memory is flat in the row count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n, f in enumerate(file_results(files), start=1):
        writer.writerow(csv_row(f))
        if n % _CSV_BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
