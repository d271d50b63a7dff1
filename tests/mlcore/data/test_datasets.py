"""RAVDESS names, clip listing and actor-only splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mlcore.data.datasets import Clip, actor_folds, format_actors, list_clips, parse_actors, parse_name
from mlcore.errors import DatasetError
from mlcore.labels import EMOTIONS


def _touch(root: Path, name: str, *, folder: str | None = None) -> Path:
    """An empty stand-in for a clip: listing only reads names, never audio."""
    actor = int(name.split("-")[6][:2])
    path = root / (folder or f"Actor_{actor:02d}") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_speech_name_parses_every_field():
    clip = parse_name("03-01-05-02-01-02-12.wav")
    assert clip == Clip(
        path=Path("03-01-05-02-01-02-12.wav"),
        modality=3,
        vocal_channel=1,
        emotion="angry",
        emotion_index=4,
        intensity=2,
        statement=1,
        repetition=2,
        actor=12,
    )
    assert clip.sex == "female" and not clip.is_song


def test_song_flac_name_with_upper_case_extension_parses():
    clip = parse_name(Path("/data/Actor_07/03-02-08-01-02-01-07.FLAC"))
    assert clip.is_song and clip.emotion == "surprised" and clip.emotion_index == len(EMOTIONS) - 1
    assert clip.actor == 7 and clip.sex == "male"
    assert clip.path == Path("/data/Actor_07/03-02-08-01-02-01-07.FLAC")


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("03-01-05-02-01-02.wav", "not a RAVDESS clip name"),
        ("03-01-05-02-01-02-12.mp3", "not a RAVDESS clip name"),
        ("3-1-5-2-1-2-12.wav", "not a RAVDESS clip name"),
        ("03-01-09-01-01-01-01.wav", "emotion 09"),
        ("03-01-00-01-01-01-01.wav", "emotion 00"),
        ("03-03-01-01-01-01-01.wav", "vocal channel 03"),
        ("03-01-01-01-01-01-25.wav", "actor 25"),
        ("03-01-01-03-01-01-01.wav", "intensity 03"),
    ],
)
def test_bad_names_are_refused_with_the_offending_field(name, complaint):
    with pytest.raises(DatasetError, match=complaint) as info:
        parse_name(name)
    assert name in str(info.value)


def test_list_clips_finds_nested_actor_folders_sorted_by_actor(tmp_path):
    _touch(tmp_path / "Audio_Speech_Actors_01-24", "03-01-03-01-01-01-02.wav")
    _touch(tmp_path / "Audio_Speech_Actors_01-24", "03-01-01-01-01-01-10.wav")
    _touch(tmp_path / "Audio_Song_Actors_01-24", "03-02-04-02-02-02-01.flac")
    _touch(tmp_path, "03-01-02-01-01-01-01.WAV")
    (tmp_path / "Actor_01" / "notes.txt").write_text("not audio")
    _touch(tmp_path / "__MACOSX", "03-01-02-01-01-01-03.wav")  # resource fork, ignored

    clips = list_clips(tmp_path)

    assert [(c.actor, c.path.name) for c in clips] == [
        (1, "03-01-02-01-01-01-01.WAV"),
        (1, "03-02-04-02-02-02-01.flac"),
        (2, "03-01-03-01-01-01-02.wav"),
        (10, "03-01-01-01-01-01-10.wav"),
    ]


def test_list_clips_filters_by_actor_and_vocal_channel(tmp_path):
    for name in ["03-01-01-01-01-01-01.wav", "03-02-01-01-01-01-01.wav", "03-01-01-01-01-01-02.wav"]:
        _touch(tmp_path, name)
    assert [c.path.name for c in list_clips(tmp_path, actors={1})] == [
        "03-01-01-01-01-01-01.wav",
        "03-02-01-01-01-01-01.wav",
    ]
    assert {c.actor for c in list_clips(tmp_path, vocal_channels={1})} == {1, 2}
    assert [c.path.name for c in list_clips(tmp_path, vocal_channels={2})] == ["03-02-01-01-01-01-01.wav"]


def test_list_clips_refuses_a_requested_actor_without_clips(tmp_path):
    _touch(tmp_path, "03-01-01-01-01-01-01.wav")
    _touch(tmp_path, "03-02-01-01-01-01-02.wav")
    with pytest.raises(DatasetError, match=r"actors 3.*actors available: 1-2"):
        list_clips(tmp_path, actors={1, 3})
    with pytest.raises(DatasetError, match=r"actors 1 and vocal channel song.*actors available: 2\.$"):
        list_clips(tmp_path, actors={1}, vocal_channels={2})


def test_list_clips_refuses_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*mlcore download"):
        list_clips(tmp_path / "nowhere")
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="No RAVDESS clips found"):
        list_clips(tmp_path)


def test_list_clips_refuses_misnamed_misplaced_and_duplicate_clips(tmp_path):
    bad = tmp_path / "bad"
    _touch(bad, "03-01-01-01-01-01-01.wav")
    (bad / "Actor_01" / "take2.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="'take2.wav' is not a RAVDESS clip name"):
        list_clips(bad)

    misplaced = tmp_path / "misplaced"
    _touch(misplaced, "03-01-01-01-01-01-04.wav", folder="Actor_05")
    with pytest.raises(DatasetError, match="names actor 04 but lies in Actor_05"):
        list_clips(misplaced)

    twice = tmp_path / "twice"
    _touch(twice, "03-01-01-01-01-01-01.wav")
    _touch(twice, "03-01-01-01-01-01-01.flac")
    with pytest.raises(DatasetError, match="appears twice"):
        list_clips(twice)


@pytest.mark.parametrize(
    ("text", "actors"),
    [
        ("17-20", {17, 18, 19, 20}),
        ("1,3,5-7", {1, 3, 5, 6, 7}),
        (" 2 , 4 - 5 ", {2, 4, 5}),
        ("24", {24}),
    ],
)
def test_parse_actors_reads_lists_and_ranges(text, actors):
    assert parse_actors(text) == actors
    assert parse_actors(format_actors(actors)) == actors


@pytest.mark.parametrize("text", ["", "1,,2", "a-b", "20-17", "0-3", "23-25", "1.5"])
def test_parse_actors_refuses_nonsense(text):
    with pytest.raises(DatasetError, match="Cannot read actors"):
        parse_actors(text)


def test_actor_folds_are_contiguous_blocks_of_both_sexes():
    folds = actor_folds(set(range(1, 21)), n_folds=5)
    assert folds == [set(range(s, s + 4)) for s in (1, 5, 9, 13, 17)]
    for fold in folds:
        assert {a % 2 for a in fold} == {0, 1}


@pytest.mark.parametrize(("actors", "n_folds"), [(range(1, 25), 5), (range(1, 21), 3), ([2, 9, 4, 11, 6, 13, 8], 2)])
def test_actor_folds_are_disjoint_balanced_and_cover_every_actor(actors, n_folds):
    folds = actor_folds(list(actors), n_folds=n_folds)
    assert len(folds) == n_folds
    assert sorted(a for fold in folds for a in fold) == sorted(actors)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    assert actor_folds(list(actors), n_folds=n_folds) == folds


def test_actor_folds_refuse_impossible_splits():
    with pytest.raises(DatasetError, match="at least 2 folds"):
        actor_folds({1, 2, 3}, n_folds=1)
    with pytest.raises(DatasetError, match="Cannot split 3 actors into 4 folds"):
        actor_folds({1, 2, 3}, n_folds=4)


@pytest.mark.dataset
def test_shared_ravdess_speech_has_1200_clips_60_per_actor(ravdess_dir):
    clips = list_clips(ravdess_dir)
    assert len(clips) == 1200
    assert Counter(c.actor for c in clips) == {a: 60 for a in range(1, 21)}
    per_emotion = Counter(c.emotion for c in clips)
    assert per_emotion == {e: (80 if e == "neutral" else 160) for e in EMOTIONS}
    assert {c.vocal_channel for c in clips} == {1}
    assert Counter((c.emotion, c.intensity) for c in clips)[("neutral", 2)] == 0
