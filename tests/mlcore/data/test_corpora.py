"""Several corpora as one list of rows: both naming schemes, listing folders, and folds by speaker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from audio_factory import voiced, write

from mlcore.data import corpora
from mlcore.data.corpora import (
    CREMA_D,
    RAVDESS,
    SHARED_EMOTIONS,
    Row,
    corpus_dir,
    list_corpus,
    list_crema,
    list_ravdess,
    parse_crema_name,
    speaker_folds,
)
from mlcore.data.datasets import parse_name
from mlcore.errors import DatasetError
from mlcore.labels import EMOTIONS


def _clip(path: Path, rng: np.random.Generator) -> Path:
    """A real, tiny audio file: listing must not care, but loading it later should work."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path, voiced(rng, seconds=0.1, sr=16000), sr=16000)


# --- names ---------------------------------------------------------------------------------------


def test_ravdess_and_crema_names_give_rows_with_corpus_qualified_speakers(tmp_path, rng):
    ravdess = parse_name("03-01-05-02-01-02-12.wav")
    assert (ravdess.emotion, ravdess.actor) == ("angry", 12)
    crema = parse_crema_name("1012_DFA_ANG_XX.wav")
    assert crema == Row(Path("1012_DFA_ANG_XX.wav"), "angry", "crema-d:1012", CREMA_D)
    assert crema.label == EMOTIONS.index("angry")
    _clip(tmp_path / "Actor_12" / "03-01-05-02-01-02-12.wav", rng)
    (row,) = list_ravdess(tmp_path)
    assert (row.emotion, row.speaker, row.corpus) == ("angry", "ravdess:12", RAVDESS)
    # Actor 12 of one corpus is never the same voice as a speaker of the other.
    assert row.speaker != crema.speaker


@pytest.mark.parametrize(
    ("name", "emotion", "speaker"),
    [
        ("1001_IEO_HAP_HI.wav", "happy", "crema-d:1001"),
        ("1091_WSI_NEU_XX.flac", "neutral", "crema-d:1091"),
        ("1050_TSI_dis_lo.FLAC", "disgust", "crema-d:1050"),
        ("1033_ITS_FEA_MD.wav", "fearful", "crema-d:1033"),
        ("1040_IOM_SAD_X.wav", "sad", "crema-d:1040"),
    ],
)
def test_crema_names_parse(name, emotion, speaker):
    row = parse_crema_name(Path("/data/crema-d/x") / name)
    assert (row.emotion, row.speaker, row.corpus) == (emotion, speaker, CREMA_D)
    assert row.path.name == name


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("1000_DFA_ANG_XX.wav", "actor 1000 is outside 1001..1091"),
        ("1092_DFA_ANG_XX.wav", "actor 1092"),
        ("1001_ABC_ANG_XX.wav", "ABC is not one of the 12 CREMA-D sentences"),
        ("1001_DFA_SUR_XX.wav", "emotion SUR is not one of ANG, DIS, FEA, HAP, NEU, SAD"),
        ("1001_DFA_ANG_ZZ.wav", "intensity ZZ"),
        ("1001_DFA_ANG_XX.mp3", "not a CREMA-D clip name"),
        ("03-01-05-02-01-02-12.wav", "not a CREMA-D clip name"),
        ("1001-DFA-ANG-XX.wav", "not a CREMA-D clip name"),
    ],
)
def test_bad_crema_names_are_refused_naming_the_field(name, complaint):
    with pytest.raises(DatasetError, match=complaint) as caught:
        parse_crema_name(name)
    assert name in str(caught.value)


def test_crema_has_six_of_the_eight_emotions():
    assert set(corpora.CREMA_EMOTIONS.values()) == set(SHARED_EMOTIONS)
    assert set(EMOTIONS) - set(SHARED_EMOTIONS) == {"calm", "surprised"}
    assert SHARED_EMOTIONS == tuple(e for e in EMOTIONS if e in SHARED_EMOTIONS)  # EMOTIONS order


# --- listing a folder ----------------------------------------------------------------------------


def test_list_crema_reads_a_folder_of_clips_sorted_by_speaker(tmp_path, rng):
    for name in (
        "1002/1002_TIE_SAD_XX.wav",
        "1001/1001_IEO_ANG_HI.wav",
        "1001/1001_DFA_NEU_XX.wav",
        "1003_WSI_HAP_XX.wav",
    ):
        _clip(tmp_path / name, rng)
    _clip(tmp_path / "__MACOSX" / "1001" / "1001_DFA_NEU_XX.wav", rng)  # macOS debris is ignored
    (tmp_path / "README.md").write_text("not audio")
    rows = list_crema(tmp_path)
    assert [(r.path.name, r.emotion, r.speaker) for r in rows] == [
        ("1001_DFA_NEU_XX.wav", "neutral", "crema-d:1001"),
        ("1001_IEO_ANG_HI.wav", "angry", "crema-d:1001"),
        ("1002_TIE_SAD_XX.wav", "sad", "crema-d:1002"),
        ("1003_WSI_HAP_XX.wav", "happy", "crema-d:1003"),
    ]
    assert all(r.path.is_file() for r in rows)
    assert [r.speaker for r in list_crema(tmp_path, actors={1002})] == ["crema-d:1002"]
    assert list_corpus(CREMA_D, tmp_path) == rows


def test_list_crema_refuses_a_clip_stored_twice(tmp_path, rng):
    _clip(tmp_path / "a" / "1001_DFA_NEU_XX.wav", rng)
    _clip(tmp_path / "b" / "1001_DFA_NEU_XX.flac", rng)
    with pytest.raises(DatasetError, match="appears twice"):
        list_crema(tmp_path)


def test_list_crema_refuses_a_misnamed_clip(tmp_path, rng):
    _clip(tmp_path / "1001_DFA_NEU_XX.wav", rng)
    _clip(tmp_path / "take 2.wav", rng)
    with pytest.raises(DatasetError, match="'take 2.wav' is not a CREMA-D clip name"):
        list_crema(tmp_path)


def test_list_crema_says_what_is_missing(tmp_path, rng):
    with pytest.raises(DatasetError, match="does not exist.*--corpus crema-d"):
        list_crema(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="any CREMA-D clip"):
        list_crema(tmp_path)
    _clip(tmp_path / "1001_DFA_NEU_XX.wav", rng)
    with pytest.raises(DatasetError, match="actors 1004"):
        list_crema(tmp_path, actors={1001, 1004})


def test_list_ravdess_keeps_speech_and_leaves_song_out(tmp_path, rng):
    _clip(tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav", rng)
    _clip(tmp_path / "Actor_01" / "03-02-03-01-01-01-01.wav", rng)  # sung
    _clip(tmp_path / "Actor_02" / "03-01-08-02-02-01-02.flac", rng)
    rows = list_ravdess(tmp_path)
    assert [(r.emotion, r.speaker) for r in rows] == [("neutral", "ravdess:01"), ("surprised", "ravdess:02")]


def test_an_unknown_corpus_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="Unknown corpus 'iemocap'"):
        list_corpus("iemocap", tmp_path)


def test_corpus_folders_come_from_the_environment_or_beside_the_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("SERWEB_CREMA_D_DIR", raising=False)
    repo = Path(__file__).resolve().parents[3]
    assert corpus_dir(CREMA_D).resolve() == (repo.parent / "shared" / "data" / "crema-d").resolve()
    monkeypatch.setenv("SERWEB_CREMA_D_DIR", str(tmp_path))
    assert corpus_dir(CREMA_D) == tmp_path


# --- folds by speaker ----------------------------------------------------------------------------


def _rows(corpus: str, speakers: range, per_speaker: int = 3) -> list[Row]:
    return [
        Row(Path(f"{corpus}-{s}-{i}.wav"), "angry", f"{corpus}:{s}", corpus)
        for s in speakers
        for i in range(per_speaker)
    ]


def test_speaker_folds_keep_every_speaker_in_exactly_one_fold_and_every_corpus_in_every_fold():
    rows = _rows(RAVDESS, range(1, 25)) + _rows(CREMA_D, range(1001, 1092))
    folds = speaker_folds(rows, n_folds=5)
    assert len(folds) == 5
    seen = Counter(s for fold in folds for s in fold)
    assert set(seen) == {r.speaker for r in rows}
    assert set(seen.values()) == {1}
    for fold in folds:
        assert {s.split(":")[0] for s in fold} == {RAVDESS, CREMA_D}
        # Each corpus is split as evenly as it divides: 24 -> 4 or 5, 91 -> 18 or 19.
        assert sum(s.startswith("ravdess:") for s in fold) in (4, 5)
        assert sum(s.startswith("crema-d:") for s in fold) in (18, 19)


def test_speaker_folds_refuse_a_corpus_with_fewer_speakers_than_folds():
    rows = _rows(RAVDESS, range(1, 25)) + _rows(CREMA_D, range(1001, 1004))
    with pytest.raises(DatasetError, match="crema-d has 3 speakers; cannot split them into 5 folds"):
        speaker_folds(rows, n_folds=5)


# --- the real corpora ----------------------------------------------------------------------------


def test_the_crema_d_folder_holds_4081_clips_of_50_speakers(crema_dir):
    rows = list_crema(crema_dir)
    assert len(rows) == 4081
    speakers = Counter(r.speaker for r in rows)
    assert len(speakers) == 50
    assert set(speakers) == {f"crema-d:{a}" for a in range(1001, 1051)}
    assert set(Counter(r.emotion for r in rows)) == set(SHARED_EMOTIONS)
    assert min(speakers.values()) >= 70  # 82 per actor, a few missing in the corpus itself


def test_the_ravdess_folder_gives_60_speech_rows_per_actor(ravdess_dir):
    rows = list_ravdess(ravdess_dir)
    per_speaker = Counter(r.speaker for r in rows)
    assert set(per_speaker.values()) == {60}
    assert Counter(r.emotion for r in rows)["neutral"] == 4 * len(per_speaker)  # neutral has no strong intensity
    assert {r.emotion for r in rows} == set(EMOTIONS)


def test_real_folds_over_both_corpora_never_share_a_speaker(ravdess_dir, crema_dir):
    rows = list_ravdess(ravdess_dir) + list_crema(crema_dir)
    folds = speaker_folds(rows, n_folds=5)
    for i, a in enumerate(folds):
        for b in folds[i + 1 :]:
            assert not a & b
    assert sum(len(f) for f in folds) == len({r.speaker for r in rows})


def test_speaker_ranges_name_speakers_of_each_corpus():
    assert corpora.parse_speakers("ravdess:17-18,crema-d:1041") == {"ravdess:17", "ravdess:18", "crema-d:1041"}
    with pytest.raises(DatasetError, match="CORPUS:FIRST-LAST"):
        corpora.parse_speakers("voxceleb:1-3")


def test_the_korean_set_is_for_evaluation_only_and_parsed_by_name(tmp_path):
    assert corpora.KOREAN in corpora.EVAL_ONLY and corpora.KOREAN not in corpora.CORPORA
    (tmp_path / "ema").mkdir()
    for name in ("ema_00001_neutral.flac", "ema_00301_sad.flac", "notes.txt"):
        (tmp_path / "ema" / name).write_bytes(b"")
    rows = corpora.list_korean(tmp_path)
    assert [(r.emotion, r.speaker, r.corpus) for r in rows] == [
        ("neutral", "emotiontts-ko:ema", "emotiontts-ko"),
        ("sad", "emotiontts-ko:ema", "emotiontts-ko"),
    ]
