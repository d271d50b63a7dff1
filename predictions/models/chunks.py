"""A long recording analysed in parts: its survey (``SplitFile``) and one row per part (``FileChunk``).

A part is claimed, published and swept like a file (the same claim columns, the same outbox), so a
worker that dies mid-part loses nothing; the file's row lock makes the merge happen exactly once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from predictions.models.jobs import Claimable


class SplitFile(models.Model):
    """A file split into parts: the whole-recording survey every part is judged with
    (``mlcore.serving.parts.Survey.to_dict()``) and the model version that surveyed it."""

    file = models.OneToOneField("predictions.AudioFile", on_delete=models.CASCADE, related_name="split")
    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.PROTECT, related_name="+")
    survey = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.file} in {self.file.parts} parts"


class FileChunk(Claimable):
    """One part of a long recording: windows ``first_window .. stop_window - 1``, analysed by its own task,
    claimed with the same columns as a file (``Claimable``)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    file = models.ForeignKey("predictions.AudioFile", on_delete=models.CASCADE, related_name="chunks")
    # Denormalised from the file: the dispatch window counts a user's parts without a join.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    first_window = models.PositiveIntegerField()
    stop_window = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # ``mlcore.serving.parts.WindowsPart.to_dict()`` once done: its windows' calibrated probabilities.
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["file_id", "index"]
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="one_chunk_per_index")]
        indexes = [
            models.Index(
                fields=["user", "status", "published_at"],
                name="chunk_user_unfinished",
                condition=Q(status__in=["queued", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file} part {self.index + 1}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
