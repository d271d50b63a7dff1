"""Jobs (one per upload submit), their audio files, and one prediction per successfully analysed file."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse

from mlcore.labels import EMOTIONS
from predictions.signals import job_finished

EMOTION_CHOICES = [(e, e.capitalize()) for e in EMOTIONS]
PROBABILITY_FIELDS = tuple(f"p_{e}" for e in EMOTIONS)


class ModelVersion(models.Model):
    """A registered model bundle.  Exactly one is active; new predictions use it."""

    name = models.CharField(max_length=100)
    architecture = models.CharField(max_length=100)
    # Relative paths are relative to the project folder (the shipped bundle); admin uploads are absolute
    # paths under MODEL_ROOT, a volume shared by web and worker.
    bundle_path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, unique=True, help_text="sha256 of the bundle manifest")
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.architecture})"

    @property
    def path(self) -> Path:
        p = Path(self.bundle_path)
        return p if p.is_absolute() else settings.BASE_DIR / p

    def activate(self) -> None:
        """Make this the only active version (one transaction, so there is never zero or two)."""
        with transaction.atomic():
            ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=self.pk).update(is_active=False)
            ModelVersion.objects.filter(pk=self.pk).update(is_active=True)
        self.is_active = True

    @classmethod
    def active(cls) -> ModelVersion | None:
        return cls.objects.filter(is_active=True).first()


class Job(models.Model):
    """Everything sent in one upload submit."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        FINISHED = "finished"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    created_at = models.DateTimeField(auto_now_add=True)
    # Denormalised from the files by ``refresh_status`` so lists never count files per job.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the person sent, as they would name it: the zip's name, the recording's name, or the first
    # file and "+N".  Blank for jobs from before names existed (pages derive one from the files).
    name = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="job_user_created")]

    def __str__(self) -> str:
        return f"Job {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("predictions:job", args=[self.pk])

    def counts(self) -> dict[str, int]:
        """Number of files per status, in one query."""
        rows = self.files.values("status").annotate(n=models.Count("id")).order_by()
        counts = {s: 0 for s in AudioFile.Status.values}
        counts.update({r["status"]: r["n"] for r in rows})
        return counts

    @classmethod
    def status_for(cls, counts: dict[str, int]) -> str:
        """The job's status from its files' counts: the one rule, for the stored status and the pages."""
        if counts["done"] + counts["failed"] == sum(counts.values()):
            return cls.Status.FINISHED
        if counts["processing"] or counts["done"] or counts["failed"]:
            return cls.Status.PROCESSING
        return cls.Status.QUEUED

    def refresh_status(self) -> str:
        """Recompute the job status from its files and store it.

        The job row is locked while counting, so of two workers finishing files of the same job at
        once, the one that writes last has counted both files.
        """
        from django.utils import timezone

        # No savepoint: inside a caller's transaction (the worker storing a chunk's files) this is part of it.
        with transaction.atomic(savepoint=False):
            stored = Job.objects.select_for_update().filter(pk=self.pk).values_list("status", flat=True).first()
            status = self.status_for(self.counts())
            finished_at = timezone.now() if status == self.Status.FINISHED else None
            changed = stored not in (None, status) and Job.objects.filter(pk=self.pk).update(
                status=status, finished_at=finished_at
            )
            if changed and status == self.Status.FINISHED:
                job_id = self.pk
                transaction.on_commit(lambda: job_finished.send(sender=Job, job_id=job_id))
        self.status = status
        return status


class Claimable(models.Model):
    """The outbox and claim columns of what a worker takes: a file, or a part of a long one."""

    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    # The database is the outbox: a queued row with no ``published_at`` has no message in the broker
    # yet (broker down, or waiting for its owner's dispatch window); the sweep publishes it.
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who holds it while it is processing: the Celery task id, how many retries that task had made
    # when it claimed it (a redelivery of the same message has the same count; a retry has more), and
    # the worker's node name (a restarted worker takes back what its dead incarnation held).
    claim_task = models.CharField(max_length=64, blank=True)
    claim_retry = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True


class AudioFile(Claimable):
    """One uploaded recording (or a refused one, kept so its reason shows on the job page and in the CSV)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    # Denormalised from job.user: ownership checks and history filter on it without a join.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audio_files")
    # What the user called the file: display data only, never used to build a path.
    original_name = models.CharField(max_length=255)
    # Generated name in the recordings storage (predictions.pipeline.recordings); empty when refused or removed.
    stored_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=50, blank=True)
    # Seconds of audio, probed on upload (accepted files only); the daily allowance is charged in AudioCharge.
    audio_s = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the recording left storage (AUDIO_RETENTION_DAYS) while its prediction stays.
    audio_removed_at = models.DateTimeField(null=True, blank=True)
    # The owner's own words about the recording (the prediction page's "Name and note" form).
    note = models.TextField(max_length=2000, blank=True)
    # How many parts a long recording is analysed in (``models_chunks``); 0: in one piece.  A split file
    # stays processing while its parts are claimed, swept and taken back in its stead.
    parts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="file_user_created"),
            # The sweep looks for unfinished files only; a partial index stays tiny.
            models.Index(
                fields=["status", "queued_at"],
                name="file_unfinished",
                condition=Q(status__in=["queued", "processing"]),
            ),
            # The dispatcher counts and picks each user's unfinished files.
            models.Index(
                fields=["user", "status", "published_at"],
                name="file_user_unfinished",
                condition=Q(status__in=["queued", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def path(self) -> Path | None:
        """Where the recording would be on the local disk (tests and tools); the application reads and
        removes recordings through ``predictions.pipeline.recordings``, which also knows object storage."""
        return Path(settings.UPLOAD_ROOT) / self.stored_name if self.stored_name else None

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class Prediction(models.Model):
    """The model's verdict on one file; one-to-one with the file so a redelivered task cannot duplicate it."""

    file = models.OneToOneField(AudioFile, on_delete=models.CASCADE, related_name="prediction")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    # Copied from the file so history filters and aggregates read this table alone.
    uploaded_at = models.DateTimeField()
    top_emotion = models.CharField(max_length=16, choices=EMOTION_CHOICES, db_index=True)
    confidence = models.FloatField()
    duration_s = models.FloatField()
    p_neutral = models.FloatField()
    p_calm = models.FloatField()
    p_happy = models.FloatField()
    p_sad = models.FloatField()
    p_angry = models.FloatField()
    p_fearful = models.FloatField()
    p_disgust = models.FloatField()
    p_surprised = models.FloatField()
    # The model's own doubt about its verdict (little speech, a low or split top probability), with its
    # reason in words.  The platform never sets it itself: models without the notion leave it False.
    uncertain = models.BooleanField(default=False)
    uncertain_reason = models.CharField(max_length=200, blank=True)
    # Seconds of speech the model's speech detector found; null for models without one.
    speech_s = models.FloatField(null=True, blank=True)
    timeline = models.JSONField(default=list, blank=True)
    # The timeline smoothed into spans of one emotion ({start_s, end_s, emotion, confidence, speech_s}),
    # and the headline emotion's share of the speech: the headline is the emotion held longest.
    segments = models.JSONField(default=list, blank=True)
    share = models.FloatField(null=True, blank=True)
    envelope = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [
            # Covers the history distribution and time series (index-only scans).
            models.Index(fields=["user", "uploaded_at", "top_emotion"], name="pred_user_uploaded_emotion"),
            models.Index(fields=["user", "model_version"], name="pred_user_model"),
        ]

    def __str__(self) -> str:
        return f"{self.file} -> {self.top_emotion}"

    def get_absolute_url(self) -> str:
        return reverse("predictions:prediction", args=[self.pk])

    @property
    def probabilities(self) -> dict[str, float]:
        return {e: getattr(self, f"p_{e}") for e in EMOTIONS}


class QueueHeartbeat(models.Model):
    """When a worker last took a task from a queue: ``/healthz/?deep=1`` tells a stalled queue from a busy one."""

    queue = models.CharField(max_length=50, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.queue} consumed at {self.seen_at:%Y-%m-%d %H:%M:%S}"

    BEAT_EVERY_S = 5.0
    recent_beats: ClassVar[dict[str, float]] = {}  # this process's last beat per queue (time.monotonic)

    @classmethod
    def beat(cls, queue: str) -> None:
        """Record that a worker took a task from ``queue``: one write in 5 s at most, and a process that
        wrote less than 5 s ago asks the database nothing (not a query per task)."""
        from datetime import timedelta

        from django.utils import timezone

        if time.monotonic() - cls.recent_beats.get(queue, -math.inf) < cls.BEAT_EVERY_S:
            return
        now = timezone.now()
        stale = now - timedelta(seconds=cls.BEAT_EVERY_S)
        if not cls.objects.filter(queue=queue, seen_at__lt=stale).update(seen_at=now):
            cls.objects.get_or_create(queue=queue, defaults={"seen_at": now})
        cls.recent_beats[queue] = time.monotonic()
