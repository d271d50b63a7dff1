"""The one rule for safe zip members, shared by corpus archives, model bundles and uploads."""

from __future__ import annotations

import zipfile

import pytest

from mlcore.data.zips import member_path, unsafe_member


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-01-01-01-01-01.wav"),
        ("bundle\\config.json", "bundle/config.json"),  # made on Windows
        ("a/./b.wav", "a/b.wav"),
    ],
)
def test_a_relative_member_unpacks_under_its_own_path(name: str, expected: str) -> None:
    assert str(member_path(name)) == expected


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "\\evil.wav", "C:evil.wav", "c:/x.wav", "../up.wav", "a/../../b", "a\\..\\..\\b", " "]
)
def test_an_absolute_climbing_or_empty_member_is_refused(name: str) -> None:
    assert member_path(name) is None
    assert "unsafe path" in unsafe_member(zipfile.ZipInfo(name))


def test_a_symbolic_link_is_refused_and_a_plain_file_is_not() -> None:
    link = zipfile.ZipInfo("voice.wav")
    link.external_attr = (0o120777) << 16
    plain = zipfile.ZipInfo("voice.wav")
    plain.external_attr = (0o100644) << 16

    assert unsafe_member(link) == "a symbolic link, not a file"
    assert unsafe_member(plain) == ""
