"""One sample stream of the loader: a (rank, worker) slice of the shards, read, shuffled, windowed, batched.

Each DataLoader worker runs one stream (stream id = worker id; a loader without workers has one
stream). The manifest's shard list is split by node (rank) and then by worker, so every shard
belongs to exactly one stream; each epoch a stream reads its shards in a new shuffled order. The
assignment is fixed, so a stream whose epoch yields no usable sample holds only unusable shards
and is ended instead of looping forever.

A stream's position is (epoch, offset): the number of samples of that epoch's shuffled order it
has consumed. Resuming replays the epoch's raw tar records (no decoding) up to the offset, which
restores the shuffle buffer exactly.

Re-sharding (another world size or worker count): `consumed(stream, position)` replays a stream to
name the samples (shard, index in the tar) it consumed in its current epoch. A dataset given such a
`Remainder` first runs a remainder pass (epoch `Remainder.epoch`) over its new shards that reads
only the samples not yet consumed in their shard's current epoch, then continues with epoch + 1. Every batch carries
its stream id, the position after it and
the events (skipped shards/samples) that happened since the previous batch of the stream; a stream
ends with an end marker. Samples are batched across epoch boundaries, so all batches are full
except the last one of a finite run.
"""

from __future__ import annotations

import copy
import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from torch.utils.data import IterableDataset, get_worker_info
from webdataset.filters import shuffle

from unimumo.loader.windows import WindowSpec, collate_windows, make_window
from unimumo.shards.format import SampleError
from unimumo.shards.tar_reader import read_shard
from unimumo.utils.seeding import derive_seed

Event = tuple[str, str, str]  # (kind, where, detail)
ALL = 2**62  # end of the range that marks every sample of a shard as consumed


@dataclass
class Remainder:
    """What is left of the interrupted epoch: shard name -> (that shard's epoch, consumed index ranges)."""

    epoch: int  # the epoch number of the remainder pass (later epochs follow it)
    shards: dict[str, tuple[int, list[list[int]]]] = field(default_factory=dict)

    def consumed(self, shard: str, index: int) -> bool:
        ranges = self.shards.get(shard, (0, []))[1]
        at = bisect_right(ranges, [index, ALL]) - 1
        return at >= 0 and ranges[at][0] <= index < ranges[at][1]


def to_ranges(indices: set[int]) -> list[list[int]]:
    """Sorted [start, end) ranges covering `indices`."""
    return merge_ranges([[i, i + 1] for i in indices])


def merge_ranges(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def shard_name(url: str) -> str:
    return Path(url).name


def split_by_node(shards: Sequence[str], rank: int, world_size: int) -> list[str]:
    """The shards of one rank (webdataset's split_by_node, with an explicit rank instead of the global one)."""
    return list(islice(shards, rank, None, world_size))


def split_by_worker(shards: Sequence[str], worker: int, num_workers: int) -> list[str]:
    """The shards of one DataLoader worker within a rank (webdataset's split_by_worker, explicit ids)."""
    return list(islice(shards, worker, None, num_workers))


class ShardStreamDataset(IterableDataset):
    """Iterable of tagged batches for the stream of the current worker (see module docstring)."""

    def __init__(
        self,
        shards: Sequence[str],
        *,
        rank: int,
        world_size: int,
        num_streams: int,
        batch_size: int,
        shuffle_buffer: int,
        spec: WindowSpec,
        epochs: int | None,
    ):
        self.shards = list(shards)
        self.rank, self.world_size, self.num_streams = rank, world_size, num_streams
        self.batch_size, self.shuffle_buffer, self.spec, self.epochs = batch_size, shuffle_buffer, spec, epochs
        self.start_positions: list[tuple[int, int]] = [(0, 0)] * num_streams
        self.remainder: Remainder | None = None

    def with_topology(self, rank: int, world_size: int, num_streams: int) -> ShardStreamDataset:
        """The same dataset as read by `rank` of `world_size` with `num_streams` streams (no remainder)."""
        other = copy.copy(self)
        other.rank, other.world_size, other.num_streams = rank, world_size, num_streams
        other.start_positions, other.remainder = [(0, 0)] * num_streams, None
        return other

    def stream_shards(self, stream: int, epoch: int) -> list[str]:
        shards = split_by_worker(split_by_node(self.shards, self.rank, self.world_size), stream, self.num_streams)
        if self.shuffle_buffer > 1:
            random.Random(derive_seed(self.spec.seed, "shard-order", epoch, self.rank, stream)).shuffle(shards)
        return shards

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        return self._batches(info.id if info is not None else 0)

    def _in_remainder(self, epoch: int) -> bool:
        return self.remainder is not None and epoch == self.remainder.epoch

    def _raw_samples(self, stream: int, epoch: int, events: list[Event]) -> Iterator[dict]:
        remainder = self.remainder if self._in_remainder(epoch) else None
        for url in self.stream_shards(stream, epoch):
            name = shard_name(url)
            try:
                for index, raw in enumerate(read_shard(url)):
                    if remainder is not None and remainder.consumed(name, index):
                        continue
                    raw["__sample__"] = (name, index)
                    yield raw
            except FileNotFoundError as error:
                events.append(("missing_shard", url, str(error)))
            except Exception as error:  # any unreadable tar: skip it, never stop training
                events.append(("corrupt_shard", url, f"{type(error).__name__}: {error}"))

    def _shuffled(self, stream: int, epoch: int, events: list[Event]) -> Iterator[dict]:
        samples = self._raw_samples(stream, epoch, events)
        if self.shuffle_buffer <= 1:
            return samples
        rng = random.Random(derive_seed(self.spec.seed, "sample-order", epoch, self.rank, stream))
        return shuffle(self.shuffle_buffer, self.shuffle_buffer, rng=rng)(samples)

    def consumed(self, stream: int, position: tuple[int, int], ended: bool) -> dict[str, tuple[int, list[list[int]]]]:
        """shard name -> (its current epoch, consumed index ranges) for each shard of `stream` at `position`
        (replays the raw records; an ended stream has consumed everything)."""
        epoch, offset = position
        names = [shard_name(url) for url in self.stream_shards(stream, epoch)]
        if ended:
            return {name: (epoch, [[0, ALL]]) for name in names}
        seen: dict[str, set[int]] = {name: set() for name in names}
        for raw in islice(self._shuffled(stream, epoch, []), offset):
            name, index = raw["__sample__"]
            seen[name].add(index)
        before = self.remainder.shards if self._in_remainder(epoch) else {}
        out = {}
        for name in names:
            shard_epoch, ranges = before.get(name, (epoch, []))
            out[name] = (shard_epoch, merge_ranges(ranges + to_ranges(seen[name])))
        return out

    def _shard_epoch(self, raw: dict, epoch: int) -> int:
        if self._in_remainder(epoch):
            return self.remainder.shards.get(raw["__sample__"][0], (epoch, []))[0]
        return epoch

    def _window(self, raw: dict, epoch: int, events: list[Event]) -> dict | None:
        try:
            window = make_window(raw, self.spec, self._shard_epoch(raw, epoch))
        except SampleError as error:
            events.append(("corrupt_sample", raw.get("__url__", "?"), str(error)))
            return None
        if window is None:
            events.append(("short_sample", raw.get("__url__", "?"), raw["__key__"]))
        return window

    def _batches(self, stream: int) -> Iterator[dict]:
        epoch, skip = self.start_positions[stream]
        pending: list[dict] = []
        events: list[Event] = []
        while self.epochs is None or epoch < self.epochs:
            consumed = produced = 0
            for raw in self._shuffled(stream, epoch, events):
                consumed += 1
                if consumed <= skip:  # replaying what was consumed before the resume point
                    if consumed == skip:
                        events.clear()  # those events were already reported with earlier batches
                    continue
                window = self._window(raw, epoch, events)
                if window is not None:
                    pending.append(window)
                    produced += 1
                if len(pending) == self.batch_size:
                    yield self._tagged(stream, self._collate(pending), (epoch, consumed), events)
                    pending = []
            if (
                skip == 0 and produced == 0 and not self._in_remainder(epoch)
            ):  # nothing usable: end the stream rather than loop forever
                events.append(("empty_stream", f"rank {self.rank} stream {stream}", f"epoch {epoch}: no usable sample"))
                break
            epoch, skip = epoch + 1, 0
        if pending:
            yield self._tagged(stream, self._collate(pending), (epoch, 0), events)
        yield self._tagged(stream, {"_end": True}, (epoch, 0), events)

    def _collate(self, windows: list[dict]) -> dict:
        return collate_windows(windows, self.spec.max_text_len)

    @staticmethod
    def _tagged(stream: int, batch: dict, position: tuple[int, int], events: list[Event]) -> dict:
        batch.update(_stream=stream, _position=position, _events=list(events))
        events.clear()
        return batch
