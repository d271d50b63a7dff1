"""What one upload request may still store: files, unpacked bytes, seconds of audio (per request and per
user over the last 24 hours).

Counted after unpacking, in the order the files arrive: a file (or zip member) that would pass a limit
fails alone with a sentence naming the limit, and the files before it proceed.  A refused file costs
nothing; an accepted one is charged when it is stored (bytes) and once probed (seconds).

The daily allowance is read early (so a request past it stores nothing) and settled again by
``settle_daily`` in the transaction that records the files, under a row lock on the user: of two
uploads sent at once, the second waits for the first and sees its charge.  Charges live in their own
ledger (``AudioCharge``), so deleting a job never gives its analysis back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

DAY = timedelta(hours=24)


def daily_audio_used_s(user) -> float:
    """Seconds of audio charged to the user in the last 24 hours (deleted jobs included)."""
    from predictions.models import AudioCharge

    since = timezone.now() - DAY
    total = AudioCharge.objects.filter(user=user, charged_at__gte=since).aggregate(s=Sum("audio_s"))["s"]
    return float(total or 0.0)


def settle_daily(user, seconds: list[float | None]) -> list[str]:
    """Charge the accepted files of one request (``None``: refused already) against the daily allowance,
    under a row lock on the user; the reason each one that no longer fits is refused ('' when charged).

    Call it inside the transaction that records the files, so the check and the charge commit together.
    """
    from predictions.models import AudioCharge

    get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk").first()
    now = timezone.now()
    AudioCharge.objects.filter(user=user, charged_at__lt=now - DAY).delete()  # the ledger stays one day long
    limit = float(settings.UPLOAD_MAX_DAILY_AUDIO_S)
    used = daily_audio_used_s(user)
    reasons, charged = [], 0.0
    for s in seconds:
        if s is None:
            reasons.append("")
        elif limit > 0 and used + charged + s > limit:
            reasons.append(daily_refusal(limit, used + charged, s))
        else:
            charged += s
            reasons.append("")
    if charged:
        AudioCharge.objects.create(user=user, charged_at=now, audio_s=charged)
    return reasons


def daily_refusal(limit: float, used: float, seconds: float) -> str:
    return (
        f"Not analysed: you may upload {format_audio(limit)} of audio in 24 hours and have uploaded "
        f"{format_audio(used)}; this file is {format_audio(seconds)}. The allowance frees up as your earlier "
        "uploads become 24 hours old; upload it then."
    )


def format_audio(seconds: float) -> str:
    """'45 s', '12.5 min', '3.2 h': short and never rounding a limit into a lie about the next unit."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min".replace(".0 min", " min")
    return f"{seconds / 3600:.1f} h".replace(".0 h", " h")


@dataclass
class Allowance:
    max_files: int
    max_bytes: int
    max_request_audio_s: float
    max_daily_audio_s: float  # 0: no daily limit
    used_today_s: float = 0.0
    files: int = 0
    bytes: int = 0
    audio_s: float = 0.0

    @classmethod
    def for_request(cls, user=None) -> Allowance:
        daily = float(settings.UPLOAD_MAX_DAILY_AUDIO_S)
        return cls(
            max_files=settings.UPLOAD_MAX_FILES,
            max_bytes=settings.UPLOAD_MAX_REQUEST_BYTES,
            max_request_audio_s=float(settings.UPLOAD_MAX_REQUEST_AUDIO_S),
            max_daily_audio_s=daily,
            used_today_s=daily_audio_used_s(user) if (user is not None and daily > 0) else 0.0,
        )

    @property
    def files_left(self) -> int:
        return max(0, self.max_files - self.files)

    @property
    def bytes_left(self) -> int:
        return max(0, self.max_bytes - self.bytes)

    def file_refusal(self) -> str:
        """Why one more file cannot be taken ('' when it can); counts it when it can."""
        if self.files >= self.max_files:
            return (
                f"Not analysed: one upload may hold at most {self.max_files} files (zip members count), and "
                "this upload already had that many. Upload this file in another upload."
            )
        self.files += 1
        return ""

    def too_many_members(self, count: int) -> str:
        return (
            f"The zip archive holds {count} files; with the other files of this upload that is more than the "
            f"{self.max_files} files one upload may hold. Split it into smaller archives."
        )

    def bytes_refusal(self) -> str:
        return (
            f"Not analysed: the files of one upload may unpack to at most {self.max_bytes / 2**20:g} MB in all, "
            "and this upload reached that. Upload this file in another upload."
        )

    def charge_bytes(self, n: int) -> None:
        self.bytes += n

    def audio_refusal(self, seconds: float) -> str:
        """Why a file of ``seconds`` cannot be taken ('' when it can); charges it when it can."""
        if self.audio_s + seconds > self.max_request_audio_s:
            return (
                f"Not analysed: one upload may hold at most {format_audio(self.max_request_audio_s)} of audio; "
                f"this file ({format_audio(seconds)}) would bring it to {format_audio(self.audio_s + seconds)}. "
                "Upload it in another upload."
            )
        if self.max_daily_audio_s > 0 and self.used_today_s + self.audio_s + seconds > self.max_daily_audio_s:
            return daily_refusal(self.max_daily_audio_s, self.used_today_s + self.audio_s, seconds)
        self.audio_s += seconds
        return ""
