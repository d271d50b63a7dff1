"""One typed read model of a result: a job, its files, a prediction, a model's figures.

Built from the rows mlcore's ``Analysis`` was saved into and from a version's ``Metrics``; the page's
status.json, the API serializers (and so the webhook body), the history CSV and the templates all read
these records, so one thing has one name and one value everywhere: a failed file's ``reason``, a
prediction's ``top_emotion``/``confidence``/``probabilities``, the ``uncertain`` flag and its
``uncertain_reason``, and the figures a model is described by.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import Count, QuerySet
from django.urls import reverse

from mlcore.labels import EMOTIONS, ranked
from mlcore.serving.metrics import Metrics
from predictions.models import AudioFile, FileChunk, Job, ModelVersion, Prediction
from predictions.reading.verdicts import Verdict, clock, metrics_of, ordinal, pct, verdict

_CORPUS_NAMES = {"ravdess": "RAVDESS", "crema-d": "CREMA-D"}
LANGUAGE_AWAY = "Korean speech, a language it never heard"
CORPUS_AWAY = "a corpus it never heard"


def corpus_name(name: str) -> str:
    return _CORPUS_NAMES.get(name, name)


# --- A model's figures ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ModelFigures:
    """What a person (and a script) should know about a model version, from its typed ``Metrics``."""

    id: int
    name: str
    architecture: str
    created_at: datetime
    metrics: Metrics
    labels: tuple[str, ...] = EMOTIONS

    @property
    def trained_on(self) -> str:
        """ "RAVDESS (20 speakers) and CREMA-D (50 speakers)", or "" when the bundle does not say."""
        parts = [
            f"{corpus_name(c.name)} ({c.speakers} speakers)" if c.speakers is not None else corpus_name(c.name)
            for c in self.metrics.corpora
        ]
        return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)

    @property
    def unseen(self) -> tuple[tuple[str, float], ...]:
        """(corpus, accuracy) on speakers of each training corpus the model never heard."""
        per_corpus = {f.name: f.accuracy for f in self.metrics.per_corpus}
        return tuple(
            (corpus_name(c.name), per_corpus[c.name])
            for c in self.metrics.corpora
            if per_corpus.get(c.name) is not None
        )

    @property
    def speaker_held_out(self) -> bool:
        return bool(self.unseen) and "speaker" in self.metrics.protocol.lower()

    @property
    def unseen_mean(self) -> float | None:
        """How often it is right on new speakers of its training corpora, all corpora together."""
        return sum(a for _, a in self.unseen) / len(self.unseen) if self.unseen else None

    @property
    def accuracy(self) -> float | None:
        """The one accuracy figure every page shows (public model page, prediction notes, admin): on new
        speakers of its training corpora when it was tested so, else on its test set."""
        return self.unseen_mean if self.speaker_held_out else self.metrics.accuracy

    @property
    def accuracy_label(self) -> str:
        """What ``accuracy`` measures, in the words the pages use."""
        return "Right on new speakers" if self.speaker_held_out else "Right on its test set"

    @property
    def away(self) -> tuple[tuple[str, float], ...]:
        """How often it is right on recordings from elsewhere: a corpus it never heard (mean of both
        directions) and a language it never heard (over all eight emotions, as a user sees it)."""
        out = []
        values = [f.accuracy for f in self.metrics.leave_one_corpus_out if f.accuracy is not None]
        if values:
            out.append((CORPUS_AWAY, sum(values) / len(values)))
        language = self.metrics.unseen_language
        if language is not None and language.accuracy_all_eight is not None:
            out.append((LANGUAGE_AWAY, language.accuracy_all_eight))
        return tuple(out)

    @property
    def note(self) -> str:
        """One line: what the model was trained on and how often it is right on speakers it never heard."""
        note = f"Model {self.name}"
        if self.trained_on:
            note += f", trained on {self.trained_on}"
        if self.speaker_held_out:
            figures = ", ".join(f"{c} {pct(a)}" for c, a in self.unseen)
            note += f"; right {pct(self.accuracy)} of the time on new speakers of those corpora ({figures})"
            if self.away:
                away = ", ".join(f"{what}: {pct(a)}" for what, a in self.away)
                note += f", and less often on recordings made elsewhere ({away})"
        elif self.accuracy is not None:
            note += f"; right {pct(self.accuracy)} of the time on its test set"
        else:
            note += "; no accuracy figures were shipped with it"
        return note + "."

    @property
    def headline(self) -> dict[str, Any]:
        """The API's headline figures (only those the bundle has)."""
        m = self.metrics
        out: dict[str, Any] = {"accuracy": m.accuracy, "macro_f1": m.macro_f1, "headline_corpus": m.headline_corpus}
        if m.calibration is not None:
            out |= {"ece": m.calibration.ece_after, "ece_leave_one_corpus_out": m.calibration.ece_away_after}
        if m.leave_one_corpus_out:
            out["leave_one_corpus_out"] = {f.name: f.accuracy for f in m.leave_one_corpus_out}
        if m.unseen_language is not None:
            out["unseen_language"] = {
                k: getattr(m.unseen_language, k) for k in ("corpus", "accuracy", "accuracy_all_eight", "ece_all_eight")
            }
        return {k: v for k, v in out.items() if v not in (None, "")}


def model_figures(version: ModelVersion) -> ModelFigures:
    return ModelFigures(
        id=version.pk,
        name=version.name,
        architecture=version.architecture,
        created_at=version.created_at,
        metrics=metrics_of(version),
    )


# --- A prediction ---------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PredictionResult:
    """The model's verdict on one file, as every output shows it."""

    id: int
    job_id: int
    file_name: str
    uploaded_at: datetime
    model_version: str
    top_emotion: str
    confidence: float
    duration_s: float
    speech_s: float | None
    probabilities: dict[str, float]
    uncertain: bool
    uncertain_reason: str
    # The row it was read from, for the verdict (None for the CSV's rows, read as plain values).
    _source: Prediction | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return reverse("predictions:prediction", args=[self.id])

    @cached_property
    def verdict(self) -> Verdict:
        """As shown: whole percents, the runner-up, and the doubt (read only where shown: it needs the
        model's metrics, which the CSV export does not load)."""
        if self._source is None:
            raise ValueError("A prediction read as plain values carries no verdict; read it with prediction_result.")
        return verdict(self._source)

    @property
    def percents(self) -> dict[str, str]:
        """Each probability as the pages write it ("59%")."""
        return {e: pct(p) for e, p in self.probabilities.items()}


@dataclass(frozen=True, kw_only=True)
class PredictionDetail(PredictionResult):
    """A prediction with its timeline: the windows, the smoothed segments and the headline's share."""

    timeline: list[dict]
    segments: list[dict]
    share: float | None
    audio_removed_at: datetime | None


def _prediction_fields(p: Prediction, f: AudioFile) -> dict[str, Any]:
    return {
        "id": p.pk,
        "job_id": f.job_id,
        "file_name": f.original_name,
        "uploaded_at": p.uploaded_at,
        "model_version": p.model_version.name,
        "top_emotion": p.top_emotion,
        "confidence": p.confidence,
        "duration_s": p.duration_s,
        "speech_s": p.speech_s,
        "probabilities": p.probabilities,
        "uncertain": p.uncertain,
        "uncertain_reason": p.uncertain_reason,
        "_source": p,
    }


def prediction_result(p: Prediction, *, file: AudioFile | None = None) -> PredictionResult:
    return PredictionResult(**_prediction_fields(p, file or p.file))


def prediction_detail(p: Prediction) -> PredictionDetail:
    return PredictionDetail(
        **_prediction_fields(p, p.file),
        timeline=p.timeline,
        segments=p.segments,
        share=p.share,
        audio_removed_at=p.file.audio_removed_at,
    )


def window_views(timeline: list[dict]) -> list[dict]:
    """The timeline's windows with what the page writes about each: its span on the clock, its emotions
    ranked with their percents, and every probability's percent (the browser formats none of them)."""
    out = []
    for w in timeline:
        order = ranked({e: w["probabilities"].get(e, 0.0) for e in EMOTIONS})
        out.append(
            {
                **w,
                "span": f"{clock(w['start_s'])}-{clock(w['end_s'])}",
                "ranked": [[e, pct(p)] for e, p in order],
                "percents": {e: pct(p) for e, p in w["probabilities"].items()},
            }
        )
    return out


# --- A file and a job -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class FileResult:
    """One uploaded file: its state, why it failed (``reason``), and its prediction once done."""

    id: int
    job_id: int
    name: str
    status: str
    reason: str | None
    uploaded_at: datetime
    prediction: PredictionResult | None
    # A long recording analysed in parts: how many, and how many are done (0 and 0: in one piece).
    parts: int = 0
    parts_done: int = 0
    # A queued file's place in line: 1 + the files and parts waiting before it (None unless queued).
    place: int | None = None

    @property
    def progress(self) -> str:
        """What the page says of a file on its way: "3rd in line", "4 of 10 parts done", or ""."""
        if self.status == AudioFile.Status.QUEUED and self.place is not None:
            return f"{ordinal(self.place)} in line"
        if self.status == AudioFile.Status.PROCESSING and self.parts:
            return f"{self.parts_done} of {self.parts} parts done"
        return ""

    @property
    def prediction_id(self) -> int | None:
        return self.prediction.id if self.prediction else None

    # The prediction's fields, read flat on the file (null until it is done).
    def _p(self, name: str) -> Any:
        return getattr(self.prediction, name) if self.prediction is not None else None

    top_emotion = property(lambda self: self._p("top_emotion"))
    confidence = property(lambda self: self._p("confidence"))
    probabilities = property(lambda self: self._p("probabilities"))
    percents = property(lambda self: self._p("percents"))
    uncertain = property(lambda self: self._p("uncertain"))
    uncertain_reason = property(lambda self: self._p("uncertain_reason"))
    duration_s = property(lambda self: self._p("duration_s"))
    model_version = property(lambda self: self._p("model_version"))
    url = property(lambda self: self._p("url"))
    verdict = property(lambda self: self._p("verdict"))


def file_result(f: AudioFile, *, parts_done: int = 0, place: int | None = None) -> FileResult:
    p = getattr(f, "prediction", None) if f.status == AudioFile.Status.DONE else None
    return FileResult(
        id=f.pk,
        job_id=f.job_id,
        name=f.original_name,
        status=f.status,
        reason=f.error or None,
        uploaded_at=f.created_at,
        prediction=prediction_result(p, file=f) if p is not None else None,
        parts=f.parts,
        parts_done=parts_done,
        place=place,
    )


def parts_done(files: list[AudioFile]) -> dict[int, int]:
    """Parts stored so far of each split file still being analysed."""
    split = [f.pk for f in files if f.parts and f.status == AudioFile.Status.PROCESSING]
    if not split:
        return {}
    done = FileChunk.objects.filter(file_id__in=split, status=FileChunk.Status.DONE)
    return dict(done.values_list("file_id").annotate(n=Count("id")).order_by())


def places(files: list[AudioFile]) -> dict[int, int]:
    """Each queued file's place in line: 1 + what waits before it.  A published file waits behind what
    was published before it (anyone's files and parts, first come first served in the broker); one its
    owner's window holds back waits behind everything published, its owner's waiting parts, and its
    owner's earlier files.  Work already running is not counted: it is no longer in line."""
    queued = [f for f in files if f.status == AudioFile.Status.QUEUED]
    if not queued:
        return {}
    waiting = {"status": AudioFile.Status.QUEUED, "published_at__isnull": False}
    sent = sorted(
        [*AudioFile.objects.filter(**waiting).values_list("published_at", flat=True)]
        + [*FileChunk.objects.filter(**waiting).values_list("published_at", flat=True)]
    )
    out = {}
    for user_id in {f.user_id for f in queued}:
        held = {"user_id": user_id, "status": AudioFile.Status.QUEUED, "published_at__isnull": True}
        own = list(AudioFile.objects.filter(**held).order_by("id").values_list("pk", flat=True))
        own_parts = FileChunk.objects.filter(**held).count()
        for f in queued:
            if f.user_id != user_id:
                continue
            if f.published_at is not None:
                out[f.pk] = 1 + bisect.bisect_left(sent, f.published_at)
            elif f.pk in own:
                out[f.pk] = 1 + len(sent) + own_parts + own.index(f.pk)
    return out


# A file's columns and its prediction's scalar ones (never the timeline or envelope), read as plain values.
_VALUE_COLUMNS = (
    "id", "job_id", "original_name", "status", "error", "created_at", "prediction__id",
    "prediction__model_version__name", "prediction__top_emotion",
    "prediction__confidence", "prediction__duration_s", "prediction__speech_s", "prediction__uncertain",
    "prediction__uncertain_reason", *(f"prediction__p_{e}" for e in EMOTIONS),
)  # fmt: skip


def file_results(files: QuerySet[AudioFile], *, chunk_size: int = 2000) -> Iterator[FileResult]:
    """Each file of ``files`` as a ``FileResult`` read from plain values on a server-side cursor (memory
    flat in the row count; no model instances): the CSV's rows.  Their predictions carry no verdict."""
    done = AudioFile.Status.DONE
    for row in files.values_list(*_VALUE_COLUMNS).iterator(chunk_size=chunk_size):
        file_id, job_id, name, status, error, created, pid, model, emotion, confidence, *rest = row
        duration, speech, uncertain, uncertain_reason, *probs = rest
        prediction = None
        if pid is not None and status == done:
            prediction = PredictionResult(
                # A prediction's upload time is its file's (copied when it is saved): one date column.
                id=pid, job_id=job_id, file_name=name, uploaded_at=created, model_version=model,
                top_emotion=emotion, confidence=confidence, duration_s=duration, speech_s=speech,
                probabilities=dict(zip(EMOTIONS, probs, strict=True)), uncertain=uncertain,
                uncertain_reason=uncertain_reason,
            )  # fmt: skip
        yield FileResult(
            id=file_id, job_id=job_id, name=name, status=status, reason=error or None, uploaded_at=created,
            prediction=prediction,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class JobResult:
    """Everything sent in one upload: its status by the one rule, its counts, and (for a detail) its files."""

    id: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    total: int
    done: int
    failed: int
    files: tuple[FileResult, ...] = ()

    @property
    def finished(self) -> bool:
        return self.status == Job.Status.FINISHED

    @property
    def all_failed(self) -> bool:
        """Nothing could be analysed: the page must look like a failure, not like a finished success."""
        return self.finished and self.failed > 0 and self.done == 0


def job_result(job: Job, *, with_files: bool = False, counts: dict[str, int] | None = None) -> JobResult:
    """``counts`` per file status when the caller's query annotated them; else counted here."""
    counts = counts or job.counts()
    files = ()
    if with_files:
        rows = list(job.files.select_related("prediction", "prediction__model_version").order_by("id"))
        done, place = parts_done(rows), places(rows)
        files = tuple(file_result(f, parts_done=done.get(f.pk, 0), place=place.get(f.pk)) for f in rows)
    return JobResult(
        id=job.pk,
        status=Job.status_for(counts),
        created_at=job.created_at,
        finished_at=job.finished_at,
        total=sum(counts.values()),
        done=counts["done"],
        failed=counts["failed"],
        files=files,
    )
