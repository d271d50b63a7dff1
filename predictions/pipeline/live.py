"""Live mode: a take kept as ONE recording that grows while the person speaks.

The page sends a chunk (16 kHz mono 16-bit WAV) every few seconds, numbered from 0, with a key it chose
for the take.  The first chunk opens the take: a job with one ``AudioFile`` (processing while the person
speaks) and its ``LiveTake``.  Each chunk's samples are appended to the one stored recording (through
``predictions.recordings``, so on the local disk or in the bucket), in order: a chunk that arrives before
the one it follows waits as a ``LiveChunk``, and a chunk that arrives twice (a network retry) is dropped,
so the audio is never corrupted.  After each append a task (``analyse``) judges the new windows
(``mlcore.serving.growing``) and keeps the result so far on the take: its timeline grows (the file's prediction is written once, complete).  Stop says how many
chunks the take has (``finish``); once they are all in, the last analysis marks the file done, or failed
with the reason an upload would get.

A take abandoned without Stop keeps its file "processing" with ``started_at`` at its last chunk; the
sweep takes it back after ``STUCK_PROCESSING_S`` and it is analysed whole, like any upload.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from mlcore.data.audio import load_audio
from mlcore.errors import MlcoreError
from mlcore.serving import growing
from predictions.models import AudioFile, Job, LiveChunk, LiveTake
from predictions.pipeline import dispatch, processing, quotas, recordings, uploads
from predictions.pipeline.registry import get_predictor

logger = logging.getLogger(__name__)
ANALYSE = "predictions.analyse_live_take"
RATE = 16000
HEADER = 44
NOT_PCM = "A live chunk must be a 16 kHz mono 16-bit WAV, as the recorder makes."
TOO_LONG = "The take has reached the longest recording allowed ({limit:.0f} s); press Stop."


class ChunkRefused(ValueError):
    """A chunk the take cannot use; the message says why."""


def add_chunk(user, chunk: UploadedFile, *, key: uuid.UUID, seq: int, name: str) -> LiveTake:
    """Store chunk ``seq`` of the take ``key`` (opened by its first chunk to arrive) and append what is
    now in order to the recording; a chunk already received is dropped.  Raises ``ChunkRefused``."""
    incoming = uploads.accept_uploads([chunk], user=user)
    item = incoming[0]
    try:
        if item.error:
            raise ChunkRefused(item.error)
        _check_pcm(item.stored_name)
        with transaction.atomic():
            take = _open(user, key, name)
            if take.file.is_finished or seq < take.next_seq or take.waiting.filter(seq=seq).exists():
                transaction.on_commit(lambda: uploads.remove_stored(incoming))
                return take
            if take.total_chunks is not None and seq >= take.total_chunks:
                raise ChunkRefused("This chunk comes after the take's last one.")
            waiting_s = sum(take.waiting.values_list("audio_s", flat=True))
            if take.samples / RATE + waiting_s + item.audio_s > settings.UPLOAD_MAX_DURATION_S + 1:
                raise ChunkRefused(TOO_LONG.format(limit=settings.UPLOAD_MAX_DURATION_S))
            reason = quotas.settle_daily(user, [item.audio_s])[0]
            if reason:
                raise ChunkRefused(reason)
            LiveChunk.objects.create(take=take, seq=seq, stored_name=item.stored_name, audio_s=item.audio_s or 0.0)
            _append_waiting(take)
    except BaseException:
        uploads.remove_stored(incoming)
        raise
    transaction.on_commit(lambda: publish(take.pk))
    return take


def finish(take: LiveTake, *, chunks: int) -> None:
    """Stop was pressed after ``chunks`` chunks: the take is analysed one last time once they are all in."""
    with transaction.atomic():
        take = LiveTake.objects.select_for_update().get(pk=take.pk)
        if take.total_chunks is None:
            take.total_chunks = max(chunks, take.next_seq)
            take.save(update_fields=["total_chunks"])
    transaction.on_commit(lambda: publish(take.pk))


def publish(take_id: int) -> None:
    """Ask a worker to bring the take's timeline up to date.  A broker that is down is logged: the next
    chunk asks again, and an abandoned take falls to the sweep."""
    dispatch.publish_by_name(ANALYSE, take_id, what=f"live take {take_id}'s analysis")


def analyse(take_id: int) -> str:
    """Judge what the take holds so far, reusing the windows settled before; the last time (every chunk
    in after Stop), the file is done or failed.  Safe to run twice and concurrently: the work is done on
    a snapshot without holding the take's row (chunks keep arriving meanwhile), and its outcome is
    written under the row lock only if nothing newer was written first."""
    take = LiveTake.objects.select_related("file").filter(pk=take_id).first()
    if take is None or take.file.is_finished or not take.samples:
        return "nothing"
    final = take.complete
    if take.analysed_samples == take.samples and not final:
        return "current"
    f = take.file
    version, predictor = get_predictor()
    if version is None:
        processing.fail_file(f.pk, processing.NO_MODEL)
        return "failed"
    try:
        with recordings.local_copy(f.stored_name) as path:
            y = load_audio(path, sr=predictor.sr, max_duration_s=settings.UPLOAD_MAX_DURATION_S + 1)
        y = y[: int(round(take.samples * predictor.sr / RATE))]  # the recording may have grown since
        settled = tuple(growing.Settled.from_json(s) for s in take.settled)
        growth = growing.grow(predictor, y, settled, final=final)
        so_far = _so_far(growth.analysis) if growth.analysis else {}
    except MlcoreError as e:
        if not final:  # a passing problem with the take so far: the next chunk tries again
            logger.warning("live take %s: %s", take_id, e)
            return "later"
        processing.fail_file(f.pk, str(e))
        return "failed"
    with transaction.atomic():
        now = LiveTake.objects.select_for_update().select_related("file").get(pk=take_id)
        if (
            now.file.is_finished
            or now.analysed_samples > take.samples
            or (now.analysed_samples == take.samples and not final)
        ):
            return "stale"
        now.settled = [s.to_json() for s in growth.settled]
        now.analysed_samples = take.samples
        now.save(update_fields=["settled", "analysed_samples"])
        if final:
            processing.save_prediction(f, version, growth.analysis)
            return "done"
        # The result so far stays on the take: the file's Prediction (what history, exports and the API
        # read) is written once, when the take is complete.
        now.so_far = so_far
        now.save(update_fields=["so_far"])
        return "growing"


def _so_far(analysis) -> dict:
    """What the page draws while the person speaks: the timeline so far and its headline."""
    data = analysis.to_dict()
    return {"timeline": data["timeline"], "emotion": data["emotion"], "confidence": data["confidence"]}


def _open(user, key: uuid.UUID, name: str) -> LiveTake:
    """The take ``key`` of this user, locked; opened with its job, file and an empty recording name."""
    take = LiveTake.objects.select_for_update().select_related("file").filter(user=user, key=key).first()
    if take is not None:
        return take
    now = timezone.now()
    job = Job.objects.create(user=user, name=("Live: " + name)[: Job._meta.get_field("name").max_length])
    f = AudioFile.objects.create(
        job=job,
        user=user,
        original_name=uploads.display_name(name + ".wav"),
        stored_name=f"{now:%Y/%m}/{uuid.uuid4().hex}.wav",
        content_type="audio/wav",
        audio_s=0.0,
        status=AudioFile.Status.PROCESSING,
        queued_at=now,
        started_at=now,
    )
    job.refresh_status()
    return (
        LiveTake.objects.select_for_update()
        .select_related("file")
        .get(pk=LiveTake.objects.create(file=f, user=user, key=key).pk)
    )


def _append_waiting(take: LiveTake) -> None:
    """Append the chunks that are now in order to the recording (rewritten whole, so the stored object is
    never half an append); their own stored objects go once that is committed."""
    ready = []
    for chunk in take.waiting.order_by("seq"):
        if chunk.seq != take.next_seq + len(ready):
            break
        ready.append(chunk)
    if not ready:
        return
    f = take.file
    staging = recordings.staging_file(".wav")
    try:
        with open(staging, "wb") as out:
            out.write(b"\0" * HEADER)
            pcm = 0
            if take.samples:
                with recordings.local_copy(f.stored_name) as old:
                    pcm += _copy_pcm(old, out, limit=take.samples * 2)
            for chunk in ready:
                with recordings.local_copy(chunk.stored_name) as part:
                    pcm += _copy_pcm(part, out)
            out.seek(0)
            out.write(_header(pcm))
        sha256 = hashlib.sha256(staging.read_bytes()).hexdigest()
        recordings.keep(staging, f.stored_name)
    finally:
        staging.unlink(missing_ok=True)
    take.next_seq += len(ready)
    take.samples = pcm // 2
    take.save(update_fields=["next_seq", "samples"])
    AudioFile.objects.filter(pk=f.pk).update(
        size=HEADER + pcm, audio_s=round(take.samples / RATE, 3), sha256=sha256, started_at=timezone.now()
    )
    names = [chunk.stored_name for chunk in ready]
    LiveChunk.objects.filter(pk__in=[chunk.pk for chunk in ready]).delete()
    transaction.on_commit(lambda: recordings.remove(names))


def _check_pcm(stored_name: str) -> None:
    import soundfile as sf

    with recordings.local_copy(stored_name) as path:
        info = sf.info(str(path))
        if (info.samplerate, info.channels, info.subtype, info.format) != (RATE, 1, "PCM_16", "WAV"):
            raise ChunkRefused(NOT_PCM)
        if _data_offset(path) is None:
            raise ChunkRefused(NOT_PCM)


def _data_offset(path: Path) -> tuple[int, int] | None:
    """Where a WAV's sample data starts and how many bytes it holds (walking its chunks)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"data":
                return handle.tell(), size
            handle.seek(size + (size & 1), 1)


def _copy_pcm(path: Path, out, *, limit: int | None = None) -> int:
    """Copy a WAV's 16-bit samples (at most ``limit`` bytes) to ``out``; returns the bytes copied."""
    found = _data_offset(path)
    if found is None:
        raise ChunkRefused(NOT_PCM)
    offset, size = found
    left = size if limit is None else min(size, limit)
    left -= left % 2
    copied = 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        while left > 0:
            block = handle.read(min(left, 1 << 16))
            if not block:
                break
            out.write(block)
            left -= len(block)
            copied += len(block)
    return copied


def _header(pcm_bytes: int) -> bytes:
    """The 44-byte header of a 16 kHz mono 16-bit PCM WAV holding ``pcm_bytes`` of samples."""
    return b"".join(
        [
            b"RIFF",
            struct.pack("<I", 36 + pcm_bytes),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16),
            b"data",
            struct.pack("<I", pcm_bytes),
        ]
    )
