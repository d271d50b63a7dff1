"""Several emotion corpora as one list of (path, emotion, speaker, corpus) rows, split by speaker.

- RAVDESS (``mlcore.data.datasets``): 24 actors, 8 emotions, speech and song.
- CREMA-D: 91 actors, 6 emotions (no calm, no surprised), names ``AAAA_SSS_EEE_LL.wav|flac``.
- EmotionTTS Korean (``emotiontts-ko``): 15 speakers, 4 emotions, names ``SPEAKER_NNNNN_EMOTION.flac``.
  **Evaluation only** (``EVAL_ONLY``): the one look at a language outside training; never trained or tuned on.

Speakers are named ``corpus:id`` (``ravdess:07``, ``crema-d:1042``) so two corpora never share one.
Every split here is by speaker: a voice is on one side only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlcore.data import datasets
from mlcore.errors import DatasetError
from mlcore.labels import EMOTIONS

RAVDESS, CREMA_D, KOREAN = "ravdess", "crema-d", "emotiontts-ko"
CORPORA = (RAVDESS, CREMA_D)
EVAL_ONLY = (KOREAN,)
ENV_DIRS = {RAVDESS: "SERWEB_RAVDESS_DIR", CREMA_D: "SERWEB_CREMA_D_DIR", KOREAN: "SERWEB_EMOTIONTTS_KO_DIR"}
# Beside the checkout, where the project's machines keep them (relative to the repository root).
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIRS = {
    RAVDESS: _REPO / "../shared/data/ravdess-speech",
    CREMA_D: _REPO / "../shared/data/crema-d",
    KOREAN: _REPO / "../shared/data/emotiontts-ko",
}
KOREAN_EMOTIONS = ("neutral", "happy", "angry", "sad")
_KOREAN_RE = re.compile(r"^([a-z]{3})_(\d{5})_(neutral|happy|angry|sad)\.(wav|flac)$")

CREMA_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
CREMA_SENTENCES = frozenset({"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"})
CREMA_LEVELS = frozenset({"LO", "MD", "HI", "XX", "X"})
_CREMA_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})\.(wav|flac)$", re.IGNORECASE)
_CREMA_HELP = "expected AAAA_SSS_EEE_LL.wav or .flac, e.g. 1001_DFA_ANG_XX.wav"
CREMA_ACTORS = range(1001, 1092)
# Emotions every corpus has: what leave-one-corpus-out scores.
SHARED_EMOTIONS = tuple(e for e in EMOTIONS if e in CREMA_EMOTIONS.values())


@dataclass(frozen=True)
class Row:
    """One labelled recording.  ``speaker`` is unique across corpora (``corpus:id``)."""

    path: Path
    emotion: str
    speaker: str
    corpus: str

    @property
    def label(self) -> int:
        return EMOTIONS.index(self.emotion)


def parse_crema_name(name: str | Path) -> Row:
    """Parse a CREMA-D file name (or a path ending in one).  Raises ``DatasetError`` naming the bad field."""
    path = Path(name)
    match = _CREMA_RE.match(path.name)
    if match is None:
        raise DatasetError(f"{path.name!r} is not a CREMA-D clip name; {_CREMA_HELP}.")
    actor, sentence, emotion, level = (g.upper() for g in match.groups()[:4])
    if int(actor) not in CREMA_ACTORS:
        raise DatasetError(f"{path.name!r}: actor {actor} is outside 1001..1091; {_CREMA_HELP}.")
    if sentence not in CREMA_SENTENCES:
        raise DatasetError(f"{path.name!r}: {sentence} is not one of the 12 CREMA-D sentences; {_CREMA_HELP}.")
    if emotion not in CREMA_EMOTIONS:
        raise DatasetError(f"{path.name!r}: emotion {emotion} is not one of {', '.join(sorted(CREMA_EMOTIONS))}.")
    if level not in CREMA_LEVELS:
        raise DatasetError(f"{path.name!r}: intensity {level} is not LO, MD, HI or XX; {_CREMA_HELP}.")
    return Row(path=path, emotion=CREMA_EMOTIONS[emotion], speaker=f"{CREMA_D}:{actor}", corpus=CREMA_D)


def list_crema(root: str | Path, *, actors: set[int] | None = None) -> list[Row]:
    """Every CREMA-D clip under ``root`` (recursively), sorted by speaker then name.

    Raises ``DatasetError`` when the folder is missing or empty, a clip appears twice, a name is not
    a CREMA-D name, or a requested actor has no clip.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"CREMA-D folder {root} does not exist; run `python -m mlcore download {root} --corpus crema-d` "
            "or pass the folder holding the clips."
        )
    found: dict[str, Row] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in datasets.AUDIO_SUFFIXES or datasets.ignored_path(path.relative_to(root)):
            continue
        if not path.is_file():
            continue
        row = parse_crema_name(path)
        if path.stem in found:
            raise DatasetError(f"Clip {path.stem} appears twice: {found[path.stem].path} and {path}; keep one copy.")
        found[path.stem] = row
    rows = [r for r in found.values() if actors is None or int(r.speaker.split(":")[1]) in actors]
    missing = sorted(set(actors or ()) - {int(r.speaker.split(":")[1]) for r in rows})
    if not rows or missing:
        what = f"actors {', '.join(map(str, missing))}" if missing else "any CREMA-D clip"
        raise DatasetError(f"No clips for {what} under {root}.")
    return sorted(rows, key=lambda r: (r.speaker, r.path.name))


def list_ravdess(root: str | Path, *, actors: set[int] | None = None) -> list[Row]:
    """RAVDESS speech clips as rows (song clips are left out: they are sung, not spoken)."""
    clips = datasets.list_clips(root, actors=actors, vocal_channels={datasets.SPEECH})
    return [Row(path=c.path, emotion=c.emotion, speaker=f"{RAVDESS}:{c.actor:02d}", corpus=RAVDESS) for c in clips]


def list_korean(root: str | Path) -> list[Row]:
    """The EmotionTTS Korean sample as rows (evaluation only), sorted by speaker then name."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"EmotionTTS Korean folder {root} does not exist; set {ENV_DIRS[KOREAN]}.")
    rows = []
    for path in sorted(root.rglob("*.*")):
        match = _KOREAN_RE.match(path.name)
        if match and path.is_file():
            rows.append(Row(path=path, emotion=match.group(3), speaker=f"{KOREAN}:{match.group(1)}", corpus=KOREAN))
    if not rows:
        raise DatasetError(f"No EmotionTTS Korean clips (SPEAKER_NNNNN_EMOTION.flac) under {root}.")
    return rows


def list_corpus(corpus: str, root: str | Path) -> list[Row]:
    """Rows of ``corpus`` (one of ``CORPORA`` or ``EVAL_ONLY``) under ``root``."""
    if corpus == RAVDESS:
        return list_ravdess(root)
    if corpus == CREMA_D:
        return list_crema(root)
    if corpus == KOREAN:
        return list_korean(root)
    raise DatasetError(f"Unknown corpus {corpus!r}; choose one of {', '.join(CORPORA + EVAL_ONLY)}.")


def corpus_dir(corpus: str) -> Path:
    """The folder of ``corpus``: its environment variable, else the default beside the checkout."""
    return Path(os.environ.get(ENV_DIRS[corpus]) or DEFAULT_DIRS[corpus])


def speakers(rows: Iterable[Row]) -> list[str]:
    return sorted({r.speaker for r in rows})


def speaker_folds(rows: Sequence[Row], *, n_folds: int = 5) -> list[set[str]]:
    """``n_folds`` disjoint sets of speakers; each corpus's speakers are split into folds on their own
    (contiguous ids, as ``datasets.actor_folds``), so every fold tests every corpus."""
    folds: list[set[str]] = [set() for _ in range(n_folds)]
    for corpus in sorted({r.corpus for r in rows}):
        ids = speakers(r for r in rows if r.corpus == corpus)
        if len(ids) < n_folds:
            raise DatasetError(f"{corpus} has {len(ids)} speakers; cannot split them into {n_folds} folds.")
        size, extra = divmod(len(ids), n_folds)
        start = 0
        for i in range(n_folds):
            end = start + size + (1 if i < extra else 0)
            folds[i].update(ids[start:end])
            start = end
    return folds


def parse_speakers(text: str) -> set[str]:
    """``"ravdess:17-20,crema-d:1041-1050"`` -> the speaker names (``ravdess:17`` ... ``crema-d:1050``)."""
    out: set[str] = set()
    for part in text.split(","):
        corpus, _, span = part.strip().partition(":")
        if corpus not in CORPORA + EVAL_ONLY or not span:
            raise DatasetError(f"{part.strip()!r} is not CORPUS:FIRST-LAST, e.g. ravdess:17-20 or crema-d:1041-1050.")
        lo, _, hi = span.partition("-")
        width = 2 if corpus == RAVDESS else 4
        out.update(f"{corpus}:{i:0{width}d}" for i in range(int(lo), int(hi or lo) + 1))
    return out
