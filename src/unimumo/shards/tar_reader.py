"""The one shard reader: `read_shard(url)` yields the raw samples of a shard tar, read by a fast member parser.

Python's `tarfile`, which webdataset's tar_file_iterator uses, spends about 0.15 ms per member of a
shard (TarWriter stores a float mtime, so every member carries a pax header as well); with seven
members per sample that alone capped a loader worker near 800 samples/s. `iter_tar_members` reads
the 512-byte headers directly and yields webdataset's member records ({"fname", "data", "__url__"}),
which webdataset's group_by_keys turns into samples. Structural corruption (a block that is not a
tar header, truncation anywhere, a missing end-of-archive block, a duplicated member) raises
TarFormatError naming the shard. Header checksums are not summed (that was half the reading time):
bit flips in a shard's content are what `unimumo-shards verify` (sha256 per shard) is for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from webdataset.tariterators import group_by_keys

from unimumo.errors import UniMuMoError

BLOCK = 512
REGULAR_TYPES = (b"0", b"\0", b"7")
MAX_MEMBER_BYTES = 1 << 30  # a shard member (one array) larger than this means a corrupted size field
POSIX_MAGIC = b"ustar\x00"  # ustar/pax headers; GNU headers ("ustar  ") have no name prefix field


class TarFormatError(UniMuMoError, ValueError):
    """A shard that is not a readable tar archive (the message names the shard)."""

    kind = "shard error"


def _field(header: bytes, start: int, end: int) -> bytes:
    return header[start:end].split(b"\0", 1)[0]


def _number(header: bytes, start: int, end: int, where: str) -> int:
    raw = header[start:end]
    if raw[0] & 0x80:  # GNU base-256 encoding of large numbers
        return int.from_bytes(raw[1:], "big")
    try:
        return int(raw.replace(b"\0", b" ").strip() or b"0", 8)
    except ValueError:
        raise TarFormatError(f"{where}: invalid number field {raw!r}") from None


def _pax_records(data: bytes, where: str) -> dict[str, str]:
    """Records "<length> <keyword>=<value>\\n" of a pax extended header."""
    records, position = {}, 0
    try:
        while position < len(data) and data[position]:
            space = data.index(b" ", position)
            length = int(data[position:space])
            if length <= space - position or position + length > len(data):
                raise ValueError(f"record length {length}")
            keyword, _, value = data[space + 1 : position + length - 1].partition(b"=")
            records[keyword.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
            position += length
        if "size" in records:
            int(records["size"])
    except ValueError as error:
        raise TarFormatError(f"{where}: malformed pax header ({error})") from None
    return records


def _read(stream: BinaryIO, size: int, where: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise TarFormatError(f"{where}: unexpected end of file ({len(data)} of {size} bytes)")
    return data


def iter_tar_members(stream: BinaryIO, url: str) -> Iterator[dict]:
    """Regular-file members of the tar read from `stream`, in archive order."""
    offset = 0
    overrides: dict[str, str] = {}
    while True:
        header = stream.read(BLOCK)
        where = f"{url} at byte {offset}"
        if len(header) != BLOCK:
            raise TarFormatError(f"{where}: unexpected end of file (no end-of-archive block: truncated?)")
        if not header.strip(b"\0"):  # end-of-archive block
            return
        if header[257:262] != b"ustar":
            raise TarFormatError(f"{where}: not a ustar/pax/gnu tar header (corrupted, or not a tar)")
        typeflag = header[156:157]
        size = int(overrides["size"]) if "size" in overrides else _number(header, 124, 136, where)
        if not 0 <= size <= MAX_MEMBER_BYTES:
            raise TarFormatError(f"{where}: member size {size} is implausible (corrupted header)")
        data = _read(stream, size, where)
        _read(stream, -size % BLOCK, where)
        offset += BLOCK + size + (-size % BLOCK)
        if typeflag == b"x":
            overrides.update(_pax_records(data, where))
        elif typeflag == b"L":
            overrides["path"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif typeflag == b"g":
            continue
        else:
            name = _field(header, 0, 100).decode("utf-8", "surrogateescape")  # as tarfile decodes names
            prefix = _field(header, 345, 500) if header[257:263] == POSIX_MAGIC else b""
            prefix = prefix.decode("utf-8", "surrogateescape")
            name = overrides.get("path", f"{prefix}/{name}" if prefix else name)
            overrides = {}
            if typeflag in REGULAR_TYPES:
                yield {"fname": name, "data": data, "__url__": url}


def read_shard(url: str) -> Iterator[dict]:
    """Raw samples {"__key__", "__url__", field: bytes} of one shard file, in archive order.

    `url` is a local file path, opened with open(): never through webdataset's gopen, which would run a
    `pipe:` name as a shell command or fetch a URL. A missing file raises FileNotFoundError; any other
    unreadable shard raises TarFormatError naming `url`.
    """
    try:
        with open(url, "rb", buffering=1 << 20) as stream:
            yield from group_by_keys(iter_tar_members(stream, url))
    except (TarFormatError, FileNotFoundError):
        raise
    except (OSError, ValueError) as error:  # an I/O error, or group_by_keys' duplicate member name
        raise TarFormatError(f"{url}: unreadable shard ({type(error).__name__}: {error})") from error
