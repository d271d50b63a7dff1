"""A live take: one recording (an ``AudioFile``) that grows chunk by chunk while a person speaks."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LiveTake(models.Model):
    """The state of one live take.  The page numbers its chunks from 0; chunk ``next_seq`` is the next
    one appended to the recording, any later one that arrived first waits as a ``LiveChunk``."""

    file = models.OneToOneField("predictions.AudioFile", on_delete=models.CASCADE, related_name="live_take")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_takes")
    # Chosen by the page for the take, so a retried first chunk finds the take it opened.
    key = models.UUIDField()
    next_seq = models.PositiveIntegerField(default=0)
    # The number of chunks of the whole take, once Stop has said it.
    total_chunks = models.PositiveIntegerField(null=True, blank=True)
    # 16 kHz samples appended to the recording so far, and how many of them the timeline covers.
    samples = models.PositiveBigIntegerField(default=0)
    analysed_samples = models.PositiveBigIntegerField(default=0)
    # Windows whose probabilities will not change as the take grows (``mlcore.serving.growing.Settled``).
    settled = models.JSONField(default=list, blank=True)
    # The result so far, for the page (timeline, emotion, confidence); the file's Prediction comes at the end.
    so_far = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="live_take_key_per_user")]

    def __str__(self) -> str:
        return f"live take {self.key} ({self.next_seq} chunks)"

    @property
    def complete(self) -> bool:
        """Stop was pressed and every chunk up to the last is in the recording."""
        return self.total_chunks is not None and self.next_seq >= self.total_chunks


class LiveChunk(models.Model):
    """A chunk that arrived before the one it follows: stored until it can be appended."""

    take = models.ForeignKey(LiveTake, on_delete=models.CASCADE, related_name="waiting")
    seq = models.PositiveIntegerField()
    stored_name = models.CharField(max_length=255)
    audio_s = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["take", "seq"], name="live_chunk_once")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of {self.take_id}"
