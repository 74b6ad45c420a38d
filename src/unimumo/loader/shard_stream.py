"""One sample stream of the loader: a (rank, worker) slice of the shards, read, shuffled, windowed, batched.

Each DataLoader worker runs one stream (stream id = worker id; a loader without workers has one
stream). The manifest's shard list is split by node (rank) and then by worker, so every shard
belongs to exactly one stream; each epoch a stream reads its shards in a new shuffled order. The
assignment is fixed, so a stream whose epoch yields no usable sample holds only unusable shards
and is ended instead of looping forever.

A stream's position is (epoch, offset): the number of samples of that epoch's shuffled order it
has consumed. Resuming replays the epoch's raw tar records (no decoding) up to the offset, which
restores the shuffle buffer exactly. Every batch carries its stream id, the position after it and
the events (skipped shards/samples) that happened since the previous batch of the stream; a stream
ends with an end marker. Samples are batched across epoch boundaries, so all batches are full
except the last one of a finite run.
"""
from __future__ import annotations

import random
from itertools import islice
from typing import Iterator, Sequence

from torch.utils.data import IterableDataset, get_worker_info
from webdataset.filters import shuffle

from unimumo.loader.windows import WindowSpec, collate_windows, make_window
from unimumo.shards.format import SampleError
from unimumo.shards.tar_reader import read_shard
from unimumo.utils.seeding import derive_seed

Event = tuple[str, str, str]  # (kind, where, detail)


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

    def stream_shards(self, stream: int, epoch: int) -> list[str]:
        shards = split_by_worker(split_by_node(self.shards, self.rank, self.world_size), stream, self.num_streams)
        if self.shuffle_buffer > 1:
            random.Random(derive_seed(self.spec.seed, "shard-order", epoch, self.rank, stream)).shuffle(shards)
        return shards

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        return self._batches(info.id if info is not None else 0)

    def _raw_samples(self, stream: int, epoch: int, events: list[Event]) -> Iterator[dict]:
        for url in self.stream_shards(stream, epoch):
            try:
                yield from read_shard(url)
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

    def _window(self, raw: dict, epoch: int, events: list[Event]) -> dict | None:
        try:
            window = make_window(raw, self.spec, epoch)
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
            if skip == 0 and produced == 0:  # nothing usable: end the stream rather than loop forever
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
