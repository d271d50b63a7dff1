"""RAVDESS on disk: parse clip names, list clips, and split *by actor*.

A RAVDESS name is ``MM-VV-EE-II-SS-RR-AA.(wav|flac)``: modality, vocal channel (01 speech,
02 song), emotion (01..08 in ``labels.EMOTIONS`` order), intensity, statement, repetition and actor
(01..24; odd male, even female).

RAVDESS holds two sentences spoken by 24 voices, so a clip-level split puts the same voice saying the
same words on both sides and measures voice recognition, not emotion.  This module therefore only
offers speaker-independent splits (sets of actors); augmentation happens after the split, on
training actors only (see ``mlcore.data.augment``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlcore.errors import DatasetError
from mlcore.labels import EMOTIONS

N_ACTORS = 24
AUDIO_SUFFIXES = frozenset({".wav", ".flac"})
SPEECH, SONG = 1, 2

_NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.(wav|flac)$", re.IGNORECASE)
_NAME_HELP = "expected MM-VV-EE-II-SS-RR-AA.wav or .flac, e.g. 03-01-05-02-01-01-12.wav"
# Inclusive ranges of each numeric field, in name order.
_FIELD_RANGES: tuple[tuple[str, int, int], ...] = (
    ("modality", 1, 3),
    ("vocal channel", 1, 2),
    ("emotion", 1, len(EMOTIONS)),
    ("intensity", 1, 2),
    ("statement", 1, 2),
    ("repetition", 1, 2),
    ("actor", 1, N_ACTORS),
)
_ACTOR_DIR_RE = re.compile(r"^Actor_(\d{2})$")


@dataclass(frozen=True)
class Clip:
    """One RAVDESS recording.  ``emotion_index`` is the 0-based index into ``EMOTIONS``."""

    path: Path
    modality: int
    vocal_channel: int
    emotion: str
    emotion_index: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def is_song(self) -> bool:
        return self.vocal_channel == SONG

    @property
    def sex(self) -> str:
        """``"male"`` for odd actors, ``"female"`` for even ones (RAVDESS convention)."""
        return "male" if self.actor % 2 else "female"


def parse_name(name: str | Path) -> Clip:
    """Parse a RAVDESS file name (or a path ending in one) into a ``Clip`` whose ``path`` is ``name``.

    Raises ``DatasetError`` naming the file and the field that is wrong.
    """
    path = Path(name)
    match = _NAME_RE.match(path.name)
    if match is None:
        raise DatasetError(f"{path.name!r} is not a RAVDESS clip name; {_NAME_HELP}.")
    values = [int(g) for g in match.groups()[:7]]
    for (field, lo, hi), value in zip(_FIELD_RANGES, values, strict=True):
        if not lo <= value <= hi:
            raise DatasetError(f"{path.name!r}: {field} {value:02d} is outside {lo:02d}..{hi:02d}; {_NAME_HELP}.")
    modality, vocal_channel, emotion, intensity, statement, repetition, actor = values
    return Clip(
        path=path,
        modality=modality,
        vocal_channel=vocal_channel,
        emotion=EMOTIONS[emotion - 1],
        emotion_index=emotion - 1,
        intensity=intensity,
        statement=statement,
        repetition=repetition,
        actor=actor,
    )


def list_clips(
    root: str | Path,
    *,
    actors: set[int] | None = None,
    vocal_channels: set[int] | None = None,
) -> list[Clip]:
    """Every RAVDESS clip under ``root`` (searched recursively), sorted by actor then file name.

    ``root`` may be the ``Actor_XX`` folders' parent or any folder above it (an unpacked Zenodo
    archive, or speech and song unpacked side by side).  ``__MACOSX`` folders and hidden files are
    ignored; any other ``.wav``/``.flac`` must carry a RAVDESS name, agree with its ``Actor_XX``
    folder, and appear only once.  ``actors``/``vocal_channels`` keep only those actors and channels
    (1 speech, 2 song); every requested actor must have at least one clip.

    Raises ``DatasetError`` when the folder is missing, holds no clips, or holds misnamed files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"Dataset folder {root} does not exist; run `python -m mlcore download {root}` or pass the folder "
            "that holds the Actor_XX folders."
        )
    found: dict[str, Clip] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or ignored_path(path.relative_to(root)) or not path.is_file():
            continue
        clip = parse_name(path)
        _check_actor_folder(clip)
        # The same recording in two places (a .wav and its .flac copy) would be counted twice.
        if path.stem in found:
            raise DatasetError(f"Clip {path.stem} appears twice: {found[path.stem].path} and {path}; keep one copy.")
        found[path.stem] = clip
    if not found:
        raise DatasetError(
            f"No RAVDESS clips found under {root}; run `python -m mlcore download {root}` or point at the folder "
            "holding Actor_XX/*.wav or *.flac."
        )
    in_channels = [c for c in found.values() if vocal_channels is None or c.vocal_channel in vocal_channels]
    clips = [c for c in in_channels if actors is None or c.actor in actors]
    available = {c.actor for c in in_channels}
    missing = sorted(set(actors or ()) - available)
    if not clips or missing:
        raise DatasetError(
            f"No clips for {_describe_filter(set(missing) if missing else actors, vocal_channels)} under {root}; "
            f"actors available: {format_actors(available) or 'none'}."
        )
    return sorted(clips, key=lambda c: (c.actor, c.path.name))


def parse_actors(text: str) -> set[int]:
    """``"17-20"`` -> {17, 18, 19, 20}; ``"1,3,5-7"`` -> {1, 3, 5, 6, 7}.  Actors are 1..24.

    Raises ``DatasetError`` for anything else (empty parts, reversed ranges, out-of-range actors).
    """
    actors: set[int] = set()
    parts = [p.strip() for p in text.split(",")]
    for part in parts:
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if match is None:
            raise DatasetError(f"Cannot read actors {text!r}: {part!r} is not a number or a range like 17-20.")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) else lo
        if lo > hi:
            raise DatasetError(f"Cannot read actors {text!r}: the range {part!r} runs backwards; write {hi}-{lo}.")
        if lo < 1 or hi > N_ACTORS:
            raise DatasetError(f"Cannot read actors {text!r}: RAVDESS actors are numbered 1 to {N_ACTORS}.")
        actors.update(range(lo, hi + 1))
    return actors


def format_actors(actors: set[int]) -> str:
    """Inverse of ``parse_actors``: {1, 2, 3, 7} -> ``"1-3,7"``."""
    runs: list[list[int]] = []
    for a in sorted(actors):
        if runs and a == runs[-1][1] + 1:
            runs[-1][1] = a
        else:
            runs.append([a, a])
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs)


def actor_folds(actors: set[int] | list[int], *, n_folds: int = 5) -> list[set[int]]:
    """Split ``actors`` into ``n_folds`` disjoint folds of contiguous actor numbers (sorted order).

    Fold sizes differ by at most one, the earlier folds taking the extra actors; actors 1..20 in 5
    folds give {1..4}, {5..8}, ..., {17..20}.  Because RAVDESS numbers male actors odd and female
    actors even, a block of two or more consecutive actor numbers always holds both sexes, so every
    fold of consecutive actors tests on male and female voices.  The split is deterministic: the same
    actors always give the same folds, so cross-validation runs are comparable.
    """
    ordered = sorted(set(actors))
    if n_folds < 2:
        raise DatasetError(f"Cross-validation needs at least 2 folds, got {n_folds}.")
    if n_folds > len(ordered):
        raise DatasetError(f"Cannot split {len(ordered)} actors into {n_folds} folds; use at most {len(ordered)}.")
    size, extra = divmod(len(ordered), n_folds)
    folds: list[set[int]] = []
    start = 0
    for i in range(n_folds):
        end = start + size + (1 if i < extra else 0)
        folds.append(set(ordered[start:end]))
        start = end
    return folds


def ignored_path(rel: Path) -> bool:
    """Whether a path inside a corpus folder is skipped: macOS zips carry ``__MACOSX/`` and ``._name``
    resource forks that look like audio but are not, and hidden files are not clips."""
    return any(part == "__MACOSX" or part.startswith(".") for part in rel.parts)


def _check_actor_folder(clip: Clip) -> None:
    match = _ACTOR_DIR_RE.match(clip.path.parent.name)
    if match and int(match.group(1)) != clip.actor:
        raise DatasetError(
            f"{clip.path} names actor {clip.actor:02d} but lies in {clip.path.parent.name}; move it to "
            f"Actor_{clip.actor:02d}."
        )


def _describe_filter(actors: set[int] | None, vocal_channels: set[int] | None) -> str:
    parts = []
    if actors is not None:
        parts.append(f"actors {format_actors(actors) or '(none)'}")
    if vocal_channels is not None:
        names = {SPEECH: "speech", SONG: "song"}
        parts.append("vocal channel " + "/".join(names.get(v, str(v)) for v in sorted(vocal_channels)))
    return " and ".join(parts) or "any filter"
