"""RAVDESS download against a local HTTP server: resume, verification and safe unpacking."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced

import mlcore.__main__ as cli
from mlcore.data.download_ravdess import SONG_ARCHIVE, SPEECH_ARCHIVE, download_ravdess
from mlcore.errors import DownloadError

CLIPS = ["03-01-01-01-01-01-01.wav", "03-01-05-02-01-02-01.wav", "03-01-08-01-02-01-01.wav"]


@dataclass
class Site:
    """What the fake server (Zenodo, GitHub) serves and how it misbehaves; it records every request it gets."""

    files: dict[str, bytes] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    cut_after: int | None = None  # promise the full length, then hang up after this many body bytes
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    @property
    def file_requests(self) -> list[tuple[str, str | None]]:
        return [r for r in self.requests if r[0].startswith("/files/")]


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):
        site = self.server.site
        path = self.path.split("?")[0]
        site.requests.append((self.path, self.headers.get("Range")))
        if path == "/api/records/1188976":
            body = json.dumps(
                {"files": [{"key": k, "checksum": f"md5:{v}", "size": 1} for k, v in site.checksums.items()]}
            ).encode()
            return self._send(200, body, {"Content-Type": "application/json"})
        name = path.removeprefix("/files/")
        if name not in site.files:
            return self._send(404, b"not found")
        data = site.files[name]
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not site.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            return self._send(206, data[start:], headers)
        self._send(200, data)

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        cut = self.server.site.cut_after
        self.wfile.write(body if cut is None or code >= 400 else body[:cut])
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def serve() -> Iterator[Site]:
    """A local HTTP server in a thread, serving ``Site.files`` under ``/files/`` (Range supported)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.site = Site(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as s:
        yield s


def wav_bytes(rng: np.random.Generator) -> bytes:
    """A 0.6 s speech-like 8 kHz 16-bit WAV file's bytes (9644 bytes)."""
    buf = io.BytesIO()
    sf.write(buf, voiced(rng, seconds=0.6, sr=8000), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def speech_zip(rng) -> bytes:
    members = {f"Actor_01/{name}": wav_bytes(rng) for name in CLIPS}
    members["__MACOSX/Actor_01/._03-01-01-01-01-01-01.wav"] = b"\x00\x05\x16\x07 resource fork"
    # Incompressible padding so the archive is big enough to cut and resume in the middle.
    members["Actor_01/padding.bin"] = rng.bytes(300_000)
    return _zip(members)


def _get(site: Site, dest: Path, **kwargs) -> list[Path]:
    kwargs.setdefault("names", [SPEECH_ARCHIVE])
    kwargs.setdefault("api_url", f"{site.url}/api/records/1188976")
    return download_ravdess(dest, url_base=f"{site.url}/files", progress=False, **kwargs)


def test_full_download_verifies_md5_from_the_api_unpacks_and_then_is_a_no_op(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    site.checksums[SPEECH_ARCHIVE] = hashlib.md5(speech_zip).hexdigest()
    dest = tmp_path / "ravdess"

    folders = _get(site, dest)

    assert folders == [dest / "Actor_01"]
    assert sorted(p.name for p in (dest / "Actor_01").glob("*.wav")) == sorted(CLIPS)
    y, sr = sf.read(dest / "Actor_01" / CLIPS[0])
    assert sr == 8000 and y.size == 4800
    assert not (dest / "__MACOSX").exists()
    assert not (dest / SPEECH_ARCHIVE).exists() and not (dest / f"{SPEECH_ARCHIVE}.part").exists()
    assert [p for p, _ in site.requests] == ["/api/records/1188976", f"/files/{SPEECH_ARCHIVE}?download=1"]

    site.requests.clear()
    assert _get(site, dest) == folders
    assert site.requests == []


def test_keep_archives_leaves_the_verified_zip(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    _get(site, tmp_path, keep_archives=True, api_url=None)
    assert (tmp_path / SPEECH_ARCHIVE).read_bytes() == speech_zip


def test_partial_download_is_resumed_with_a_range_request(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    half = len(speech_zip) // 2
    (tmp_path / f"{SPEECH_ARCHIVE}.part").write_bytes(speech_zip[:half])

    _get(site, tmp_path, keep_archives=True, api_url=None)

    assert site.file_requests == [(f"/files/{SPEECH_ARCHIVE}?download=1", f"bytes={half}-")]
    assert (tmp_path / SPEECH_ARCHIVE).read_bytes() == speech_zip
    assert len(list((tmp_path / "Actor_01").glob("*.wav"))) == 3


def test_server_ignoring_range_makes_the_download_start_over(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    site.ignore_range = True
    # Wrong bytes in the .part: appending the full file to them would give a corrupt zip.
    (tmp_path / f"{SPEECH_ARCHIVE}.part").write_bytes(b"x" * 1000)

    _get(site, tmp_path, keep_archives=True, api_url=None)

    assert site.file_requests[0][1] == "bytes=1000-"
    assert (tmp_path / SPEECH_ARCHIVE).read_bytes() == speech_zip


def test_complete_part_file_answered_416_is_finished_without_refetching(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    (tmp_path / f"{SPEECH_ARCHIVE}.part").write_bytes(speech_zip)
    _get(site, tmp_path, api_url=None)
    assert site.file_requests == [(f"/files/{SPEECH_ARCHIVE}?download=1", f"bytes={len(speech_zip)}-")]
    assert (tmp_path / "Actor_01" / CLIPS[0]).is_file()


def test_broken_transfer_keeps_the_part_and_the_next_run_resumes_it(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    site.cut_after = 100_000
    part = tmp_path / f"{SPEECH_ARCHIVE}.part"

    with pytest.raises(DownloadError, match=r"interrupted after 0\.1 MB of 0\.\d MB; run the same command again"):
        _get(site, tmp_path, api_url=None)
    assert part.read_bytes() == speech_zip[:100_000]
    assert not (tmp_path / "Actor_01").exists()

    site.cut_after = None
    _get(site, tmp_path, api_url=None)
    assert site.file_requests[-1][1] == "bytes=100000-"
    assert len(list((tmp_path / "Actor_01").glob("*.wav"))) == 3
    assert not part.exists()


def test_unreachable_server_says_to_retry(tmp_path):
    with pytest.raises(DownloadError, match="Cannot reach .* run the same command again"):
        download_ravdess(
            tmp_path, names=[SPEECH_ARCHIVE], url_base="http://127.0.0.1:9/files", api_url=None, timeout_s=5
        )


@pytest.mark.parametrize("damage", ["crc", "not-a-zip"])
def test_corrupt_archive_is_refused_and_deleted(site, rng, tmp_path, damage):
    data = bytearray(_zip({f"Actor_01/{CLIPS[0]}": wav_bytes(rng)}, compression=zipfile.ZIP_STORED))
    if damage == "crc":
        data[200] ^= 0xFF  # inside the stored WAV samples: the zip opens but the member fails its CRC
        expected = "corrupt .*fails its CRC"
    else:
        data = bytearray(b"<html>Service unavailable</html>")
        expected = "not a valid zip"
    site.files[SPEECH_ARCHIVE] = bytes(data)

    with pytest.raises(DownloadError, match=expected + ".*deleted; run the same command again"):
        _get(site, tmp_path, api_url=None)

    assert not (tmp_path / SPEECH_ARCHIVE).exists() and not (tmp_path / f"{SPEECH_ARCHIVE}.part").exists()
    assert not (tmp_path / "Actor_01").exists()


def test_md5_mismatch_is_refused_whether_given_or_from_the_api(site, speech_zip, tmp_path):
    site.files[SPEECH_ARCHIVE] = speech_zip
    with pytest.raises(DownloadError, match="has md5 .* but 0{32} was expected"):
        _get(site, tmp_path / "given", md5={SPEECH_ARCHIVE: "0" * 32}, api_url=None)
    assert not (tmp_path / "given" / SPEECH_ARCHIVE).exists()

    site.checksums[SPEECH_ARCHIVE] = "f" * 32
    with pytest.raises(DownloadError, match="but f{32} was expected"):
        _get(site, tmp_path / "api")
    assert not (tmp_path / "api" / "Actor_01").exists()


@pytest.mark.parametrize("evil", ["../evil.txt", "Actor_01/../../evil.txt", "/tmp/evil.txt"])
def test_archive_with_paths_escaping_dest_is_refused_before_writing_anything(site, rng, tmp_path, evil):
    site.files[SPEECH_ARCHIVE] = _zip({f"Actor_01/{CLIPS[0]}": wav_bytes(rng), evil: b"owned"})
    dest = tmp_path / "inner" / "dest"

    with pytest.raises(DownloadError, match="unsafe path"):
        _get(site, dest, api_url=None)

    assert not (dest / "Actor_01").exists()
    assert not (tmp_path / "inner" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (dest / f".{SPEECH_ARCHIVE}.unpacked").exists()
    assert not (dest / SPEECH_ARCHIVE).exists()


def test_cli_downloads_speech_and_song_and_reports_errors(site, speech_zip, rng, tmp_path, monkeypatch, capsys):
    # Only the download subcommand: the other subcommands' modules are not this test's concern.
    monkeypatch.setattr(cli, "COMMANDS", {"download": cli.COMMANDS["download"]})
    song_zip = _zip({"Actor_01/03-02-03-01-01-01-01.wav": wav_bytes(rng)})
    site.files.update({SPEECH_ARCHIVE: speech_zip, SONG_ARCHIVE: song_zip})
    site.checksums.update({SPEECH_ARCHIVE: hashlib.md5(speech_zip).hexdigest()})
    args = ["--url-base", f"{site.url}/files", "--api-url", f"{site.url}/api/records/1188976", "--quiet"]

    assert cli.main(["download", str(tmp_path), "--song", "--md5", f"{SONG_ARCHIVE}=" + "1" * 32, *args]) == 2
    assert "error: Audio_Song_Actors_01-24.zip has md5" in capsys.readouterr().err

    assert cli.main(["download", str(tmp_path), "--song", *args]) == 0
    assert f"RAVDESS ready in {tmp_path}" in capsys.readouterr().out
    assert len(list((tmp_path / "Actor_01").glob("03-01-*.wav"))) == 3
    assert (tmp_path / "Actor_01" / "03-02-03-01-01-01-01.wav").is_file()

    assert cli.main(["download", str(tmp_path / "x"), "--song", "--md5", "a" * 32, *args]) == 2
    assert "say which archive it is for" in capsys.readouterr().err
