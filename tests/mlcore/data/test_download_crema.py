"""CREMA-D download against a local fake of GitHub (tree API, LFS pointers, LFS media): resume, sha256
verification, reruns that keep verified clips, and failures that do not stop the other clips."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_download import Site, serve, wav_bytes

import mlcore.__main__ as cli
from mlcore.data import download_crema as dc
from mlcore.data.corpora import list_crema
from mlcore.data.download_crema import download_crema, parse_crema_actors, parse_lfs_pointer
from mlcore.errors import DownloadError

CLIPS = ["1001_DFA_ANG_XX.wav", "1001_IEO_HAP_HI.wav", "1002_TIE_SAD_LO.wav", "1003_MTI_NEU_XX.wav"]


def lfs_pointer(data: bytes) -> bytes:
    oid = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()


def publish(site: Site, clips: dict[str, bytes], *, odd_paths: tuple[str, ...] = ()) -> None:
    """Serve ``clips`` as GitHub does: tree at /files/tree.json, pointers under raw/, audio under media/."""
    tree = [{"path": "README.md", "type": "blob", "sha": "0" * 40}, {"path": "AudioWAV", "type": "tree"}]
    for path in [f"AudioWAV/{name}" for name in clips] + list(odd_paths):
        data = clips.get(path.removeprefix("AudioWAV/"), b"RIFF odd")
        pointer = lfs_pointer(data)
        site.files[path.replace("AudioWAV/", "raw/", 1)] = pointer
        site.files[path.replace("AudioWAV/", "media/", 1)] = data
        blob = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
        tree.append({"path": path, "type": "blob", "sha": blob})
    site.files["tree.json"] = json.dumps({"sha": "f" * 40, "tree": tree, "truncated": False}).encode()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as s:
        yield s


@pytest.fixture
def clips(rng) -> dict[str, bytes]:
    return {name: wav_bytes(rng) for name in CLIPS}


def _get(site: Site, dest: Path, **kwargs) -> dc.CremaSummary:
    kwargs.setdefault("progress", False)
    return download_crema(
        dest,
        tree_url=f"{site.url}/files/tree.json",
        pointer_url_base=f"{site.url}/files/raw",
        media_url_base=f"{site.url}/files/media",
        **kwargs,
    )


def _media_requests(site: Site) -> list[tuple[str, str | None]]:
    return sorted(r for r in site.requests if r[0].startswith("/files/media/"))


def test_full_download_writes_actor_folders_that_list_crema_reads(site, clips, tmp_path):
    publish(site, clips)
    dest = tmp_path / "crema-d"

    summary = _get(site, dest)

    assert summary == dc.CremaSummary(fetched=4, kept=0, refused=())
    for name, data in clips.items():
        assert (dest / name[:4] / name).read_bytes() == data
    rows = list_crema(dest)
    assert [(r.path.name, r.speaker, r.emotion) for r in rows] == [
        ("1001_DFA_ANG_XX.wav", "crema-d:1001", "angry"),
        ("1001_IEO_HAP_HI.wav", "crema-d:1001", "happy"),
        ("1002_TIE_SAD_LO.wav", "crema-d:1002", "sad"),
        ("1003_MTI_NEU_XX.wav", "crema-d:1003", "neutral"),
    ]
    assert not list(dest.rglob("*.part"))
    assert sorted(p for p, _ in site.requests) == sorted(
        ["/files/tree.json"] + [f"/files/raw/{n}" for n in CLIPS] + [f"/files/media/{n}" for n in CLIPS]
    )


def test_rerun_keeps_verified_clips_offline_and_refetches_only_a_damaged_one(site, clips, tmp_path):
    publish(site, clips)
    _get(site, tmp_path)
    site.requests.clear()

    assert _get(site, tmp_path) == dc.CremaSummary(fetched=0, kept=4, refused=())
    assert site.requests == []  # listing and pointers come from the cache, clips are checked on disk

    damaged = tmp_path / "1002" / CLIPS[2]
    data = bytearray(damaged.read_bytes())
    data[500] ^= 0xFF  # same size, different sha256
    damaged.write_bytes(bytes(data))
    assert _get(site, tmp_path) == dc.CremaSummary(fetched=1, kept=3, refused=())
    assert site.requests == [(f"/files/media/{CLIPS[2]}", None)]
    assert damaged.read_bytes() == clips[CLIPS[2]]


def test_partial_clip_is_resumed_with_a_range_request(site, clips, tmp_path, capsys):
    publish(site, clips)
    name = CLIPS[1]
    half = len(clips[name]) // 2
    (tmp_path / "1001").mkdir()
    (tmp_path / "1001" / f"{name}.part").write_bytes(clips[name][:half])

    _get(site, tmp_path, progress=True)

    assert (f"/files/media/{name}", f"bytes={half}-") in site.requests
    assert [r for r in _media_requests(site) if r[1] is not None] == [(f"/files/media/{name}", f"bytes={half}-")]
    assert (tmp_path / "1001" / name).read_bytes() == clips[name]
    assert not (tmp_path / "1001" / f"{name}.part").exists()
    bar = capsys.readouterr().err.rsplit("\r", 1)[-1]
    assert bar.startswith("CREMA-D: 100%") and "4/4" in bar and "37.7kB downloaded" in bar  # 4 clips of 9644 bytes


def test_broken_transfers_keep_their_parts_and_the_next_run_resumes_them(site, clips, tmp_path):
    publish(site, clips)
    site.cut_after = 4000  # the tree (~1 kB) and pointers arrive whole; every clip breaks at 4000 bytes

    with pytest.raises(DownloadError, match=r"4 of 4 CREMA-D clips failed") as failure:
        _get(site, tmp_path)
    assert "interrupted after 0.0 MB of 0.0 MB" in str(failure.value)
    assert str(failure.value).endswith(
        "Run the same command again to fetch the rest: verified clips are kept, partial ones resume."
    )
    assert sorted(p.stat().st_size for p in tmp_path.rglob("*.part")) == [4000] * 4
    assert not list(tmp_path.rglob("*.wav"))

    site.cut_after = None
    site.requests.clear()
    assert _get(site, tmp_path) == dc.CremaSummary(fetched=4, kept=0, refused=())
    assert site.requests and all(r == (r[0], "bytes=4000-") for r in site.requests)
    assert len(list_crema(tmp_path)) == 4


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("flipped-byte", r"has sha256 \w+… but its LFS pointer says \w+…\. It was deleted"),
        ("truncated", r"is 5000 bytes but its LFS pointer says 9644\. It was deleted"),
        ("no-audio", r"failed: HTTP 404 Not Found"),
        ("no-pointer", r"The LFS pointer of 1002_TIE_SAD_LO.wav is not available: HTTP 404"),
        ("pointer-not-listed", r"does not match the repository's listing"),
    ],
)
def test_a_bad_clip_is_refused_and_reported_while_the_others_finish(site, clips, tmp_path, damage, reason):
    publish(site, clips)
    bad = CLIPS[2]
    good_media = site.files[f"media/{bad}"]
    if damage == "flipped-byte":
        site.files[f"media/{bad}"] = good_media[:500] + bytes([good_media[500] ^ 0xFF]) + good_media[501:]
    elif damage == "truncated":
        site.files[f"media/{bad}"] = good_media[:5000]
    elif damage == "no-audio":
        del site.files[f"media/{bad}"]
    elif damage == "no-pointer":
        del site.files[f"raw/{bad}"]
    else:
        site.files[f"raw/{bad}"] = lfs_pointer(b"other audio")

    with pytest.raises(DownloadError) as failure:
        _get(site, tmp_path)

    message = str(failure.value)
    assert message.startswith(f"1 of 4 CREMA-D clips failed (the other 3 are verified in {tmp_path}):\n  {bad}: ")
    assert re.search(reason, message)
    assert "Run the same command again" in message
    assert not (tmp_path / "1002").exists() or not list((tmp_path / "1002").iterdir())
    assert sorted(r.path.name for r in list_crema(tmp_path)) == [CLIPS[0], CLIPS[1], CLIPS[3]]

    publish(site, clips)  # the server is fixed: a rerun fetches the one clip left
    site.requests.clear()
    assert _get(site, tmp_path) == dc.CremaSummary(fetched=1, kept=3, refused=())
    assert (tmp_path / "1002" / bad).read_bytes() == clips[bad]


def test_listed_paths_that_are_not_crema_clips_are_never_fetched_or_written(site, clips, tmp_path, capsys):
    odd = ("AudioWAV/notes.wav", "AudioWAV/9999_DFA_ANG_XX.wav", "AudioWAV/sub/1001_DFA_SAD_XX.wav")
    publish(site, {CLIPS[0]: clips[CLIPS[0]]}, odd_paths=odd)
    dest = tmp_path / "inner"

    summary = _get(site, dest)

    assert summary == dc.CremaSummary(fetched=1, kept=0, refused=odd)
    assert "not CREMA-D clip names, not downloaded: AudioWAV/notes.wav" in capsys.readouterr().err
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.wav")) == [f"1001/{CLIPS[0]}"]
    assert not any("notes" in p or "9999" in p or "sub/" in p for p, _ in site.requests)


def test_actors_option_fetches_only_those_actors(site, clips, tmp_path):
    publish(site, clips)
    assert _get(site, tmp_path, actors={1001, 1003}) == dc.CremaSummary(fetched=3, kept=0, refused=())
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["1001", "1003"]

    with pytest.raises(DownloadError, match="no clips for actors 1004, 1091"):
        _get(site, tmp_path, actors={1001, 1004, 1091})


def test_unreachable_listing_says_what_to_do(site, tmp_path):
    with pytest.raises(DownloadError, match=r"Cannot list CREMA-D's clips from .*HTTP 404 .*run the same command"):
        _get(site, tmp_path)
    with pytest.raises(DownloadError, match=r"Cannot list .*Check the network, then run the same command again"):
        download_crema(tmp_path, tree_url="http://127.0.0.1:9/tree", progress=False, timeout_s=5)


def test_actor_ranges_and_lfs_pointers_are_parsed_strictly():
    assert parse_crema_actors("1001-1003, 1091") == {1001, 1002, 1003, 1091}
    for bad in ["1-3", "1003-1001", "1001,", "1092", "abc"]:
        with pytest.raises(DownloadError, match="CREMA-D actors are 1001 to 1091"):
            parse_crema_actors(bad)
    data = b"hello"
    assert parse_lfs_pointer(lfs_pointer(data)) == dc.LfsPointer(oid=hashlib.sha256(data).hexdigest(), size=5)
    with pytest.raises(DownloadError, match="not a Git LFS pointer"):
        parse_lfs_pointer(b"RIFF\x00\x00WAVEfmt ")


def test_cli_downloads_crema_d_and_refuses_options_of_the_other_corpus(site, clips, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", {"download": cli.COMMANDS["download"]})
    monkeypatch.setattr(dc, "TREE_URL", f"{site.url}/files/tree.json")
    monkeypatch.setattr(dc, "POINTER_URL_BASE", f"{site.url}/files/raw")
    monkeypatch.setattr(dc, "MEDIA_URL_BASE", f"{site.url}/files/media")
    publish(site, clips)
    del site.files[f"media/{CLIPS[3]}"]
    dest = str(tmp_path / "crema")

    assert cli.main(["download", dest, "--corpus", "crema-d", "--quiet", "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of 4 CREMA-D clips failed") and f"{CLIPS[3]}: Downloading" in err

    assert cli.main(["download", dest, "--corpus", "crema-d", "--actors", "1001-1002", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"CREMA-D ready in {dest} (3 clips: 0 downloaded, 3 already there)" in out and "ODbL" in out

    assert cli.main(["download", dest, "--corpus", "crema-d", "--song"]) == 2
    assert "--song: RAVDESS options; leave them out with --corpus crema-d" in capsys.readouterr().err
    assert cli.main(["download", dest, "--actors", "1001"]) == 2
    assert "--actors is for CREMA-D" in capsys.readouterr().err
    assert cli.main(["download", dest, "--corpus", "crema-d", "--actors", "1001-99"]) == 2
    assert "CREMA-D actors are 1001 to 1091" in capsys.readouterr().err
