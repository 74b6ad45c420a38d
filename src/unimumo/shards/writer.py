"""Size-bounded WebDataset tar writer with atomic shards and per-shard completion records.

Shards are `OUT/{split}-{index:06d}.tar`. Each is written under a temporary name and renamed when
complete; only then is its record `OUT/.build/{split}/{index:06d}.json` written (sample count,
sha256, the half-open range of planned tracks it covers, the failures and skips of those tracks).
A shard with a record is final; resume continues after the last one. Tar members carry a fixed
mtime, so the same samples give byte-identical shards.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from webdataset import TarWriter

from unimumo.shards.format import sample_nbytes
from unimumo.shards.manifest import check_shard_name
from unimumo.utils.fingerprint import fingerprint_file
from unimumo.utils.io import atomic_open, atomic_write_json

TAR_OVERHEAD_PER_MEMBER = 1024  # header + padding, bytes


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def records_dir(out: Path, split: str) -> Path:
    return out / ".build" / split


@dataclass
class ShardRecord:
    name: str
    split: str
    index: int
    count: int = 0
    bytes: int = 0
    sha256: str = ""
    track_start: int = 0
    track_end: int = 0
    keys: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {id, file, reason, detail} of tracks without samples


def read_records(out: Path, split: str) -> list[ShardRecord]:
    """Completed shard records of `split`, in index order, up to the first gap or damaged shard."""
    records = []
    for index in itertools.count():
        path = records_dir(out, split) / f"{index:06d}.json"
        if not path.is_file():
            break
        try:
            record = ShardRecord(**json.loads(path.read_text()))
        except (ValueError, TypeError) as error:  # bad JSON or unknown fields: never guess, name the file
            raise ValueError(f"{path}: unreadable shard record ({type(error).__name__}: {error})") from error
        check_shard_name(record.name, path)  # a record names a file in `out`, nothing else
        tar = out / record.name
        if not tar.is_file() or fingerprint_file(tar) != record.sha256:
            break
        records.append(record)
    return records


class ShardWriter:
    """Append track results; shards roll over at track boundaries once they would exceed `max_bytes`."""

    def __init__(self, out: Path, split: str, max_bytes: int, next_index: int = 0, next_track: int = 0):
        self.out, self.split, self.max_bytes = out, split, max_bytes
        self.next_index, self.next_track = next_index, next_track
        self.finished: list[ShardRecord] = []
        self._record: ShardRecord | None = None
        self._stack: contextlib.ExitStack | None = None
        self._tar: TarWriter | None = None

    def add_track(self, samples: list[dict], failures: list[dict], skipped: dict | None) -> None:
        incoming = sum(sample_nbytes(s) + TAR_OVERHEAD_PER_MEMBER * (len(s) - 1) for s in samples)
        if (
            samples
            and self._record is not None
            and self._record.count
            and self._record.bytes + incoming > self.max_bytes
        ):
            self.close_shard()
        if self._record is None:
            self._open_shard()
        for sample in samples:
            self._tar.write(sample)
            self._record.keys.append(sample["__key__"])
        self._record.count += len(samples)
        self._record.bytes += incoming
        self._record.failures.extend(failures)
        if skipped:
            self._record.skipped.append(skipped)
        self.next_track += 1
        self._record.track_end = self.next_track

    def _open_shard(self) -> None:
        name = shard_name(self.split, self.next_index)
        self._record = ShardRecord(
            name=name, split=self.split, index=self.next_index, track_start=self.next_track, track_end=self.next_track
        )
        self._stack = contextlib.ExitStack()
        handle = self._stack.enter_context(atomic_open(self.out / name, "wb"))
        self._tar = self._stack.enter_context(contextlib.closing(TarWriter(handle, mtime=0.0)))

    def close_shard(self) -> None:
        """Finish the open shard: close and rename the tar, then write its record."""
        if self._record is None:
            return
        self._stack.close()
        record, self._record, self._stack, self._tar = self._record, None, None, None
        path = self.out / record.name
        record.bytes = path.stat().st_size
        record.sha256 = fingerprint_file(path)
        atomic_write_json(records_dir(self.out, self.split) / f"{record.index:06d}.json", asdict(record))
        self.finished.append(record)
        self.next_index += 1

    def abort(self) -> None:
        """Drop the open (incomplete) shard: its temporary file is removed, nothing is renamed."""
        if self._stack is not None:
            self._stack.__exit__(RuntimeError, RuntimeError("build aborted"), None)
            self._record = self._stack = self._tar = None
