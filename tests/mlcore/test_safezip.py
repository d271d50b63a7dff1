"""mlcore.safezip: the one set of rules every serweb unpacker uses."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from zip_factory import quoted_overlap_zip, shared_kernel_zip

from mlcore.safezip import SafeZip, ZipLimits, ZipRefusal, ZipSafetyError, unsafe_path_reason


def plain_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "C:/x", "c:x", "..\\x", ""])
def test_paths_leaving_the_destination_are_unsafe(name):
    assert "unsafe path" in unsafe_path_reason(name)


@pytest.mark.parametrize("name", ["a.wav", "dir/b.wav", "..hidden/c.wav"])
def test_ordinary_relative_paths_are_safe(name):
    assert unsafe_path_reason(name) == ""


def test_an_honest_archive_extracts_and_overlaps_nothing(tmp_path):
    data = plain_zip({"a/one.bin": os.urandom(5000), "two.bin": b"x" * 10})
    with SafeZip(io.BytesIO(data)) as archive:
        written = archive.extract_all(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == ["a/one.bin", "two.bin"]


@pytest.mark.parametrize(
    "build",
    [lambda d: shared_kernel_zip("a.bin", d, 20), lambda d: quoted_overlap_zip([f"m{i}.bin" for i in range(20)], d)],
)
def test_entries_sharing_compressed_data_refuse_the_archive(build):
    with pytest.raises(ZipSafetyError, match="entries overlap") as refused:
        SafeZip(io.BytesIO(build(os.urandom(50_000))))
    assert refused.value.code is ZipRefusal.OVERLAP


def test_actual_bytes_are_counted_against_the_total_whatever_the_headers_say(tmp_path):
    data = plain_zip({f"{i}.bin": os.urandom(4000) for i in range(5)})
    with SafeZip(io.BytesIO(data), ZipLimits(max_total_bytes=10_000)) as archive:
        with pytest.raises(ZipSafetyError, match="unpacks to more than") as refused:
            archive.extract_all(tmp_path)
    assert refused.value.code is ZipRefusal.TOTAL_TOO_BIG


def test_a_member_compressed_beyond_the_ratio_is_a_problem():
    data = plain_zip({"bomb.bin": b"\0" * (3 * 2**20), "ok.bin": os.urandom(100)})
    with SafeZip(io.BytesIO(data)) as archive:
        problems = {i.filename: archive.problem(i) for i in archive.files()}
    assert problems["bomb.bin"].code is ZipRefusal.RATIO and "zip bomb" in str(problems["bomb.bin"])
    assert problems["ok.bin"] is None


@pytest.mark.parametrize(
    ("name", "code"), [("../evil.wav", ZipRefusal.UNSAFE_PATH), ("/abs.wav", ZipRefusal.UNSAFE_PATH)]
)
def test_a_refused_member_refuses_the_archive_with_its_rule(tmp_path, name, code):
    data = plain_zip({"ok.wav": b"x" * 10, name: b"y" * 10})
    with SafeZip(io.BytesIO(data)) as archive:
        with pytest.raises(ZipSafetyError, match="unsafe path") as refused:
            archive.extract_all(tmp_path)
    assert refused.value.code is code and not any(tmp_path.iterdir())
