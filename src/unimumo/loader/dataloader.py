"""The training loader: `build_loader(...)` -> `ShardLoader`, an iterable of batches from WebDataset shards.

Batches follow the Loader contract in docs/interfaces.md. The work is done in
`shard_stream.ShardStreamDataset` (one stream per DataLoader worker); this module runs the
workers, merges their batches in a fixed round-robin order (stream 0, 1, ..., skipping streams
that have ended), keeps the per-stream positions and the statistics, and resumes from them.

Determinism: for a given seed, rank, world_size, num_workers, batch size and shard set the batch
sequence is fixed. Because the merge order is enforced here (not left to the DataLoader),
`load_state_dict(state_dict())` continues with exactly the batch that would have come next.

Re-sharding: `load_elastic_state(states)` takes the states of every rank of a run with another
world size, worker count or batch size. Guarantee: each shard's current epoch continues exactly
once - the samples the old run consumed in it are not read again and every other sample of it is
read once (by the rank that now owns the shard), before any sample of a later epoch; later epochs
follow the new split. Which rank sees a sample, and in which order, depends on the topology.

Broken data never stops training: a missing or unreadable shard is skipped with a
`ShardSkippedWarning` and counted; a sample that cannot be decoded is skipped and counted;
a sample shorter than the window's `min_steps` code steps is dropped and counted. Shorter samples down
to that minimum are padded to the window and masked (`code_mask`, see windows.py); `stats` reports the
padded share of the code steps delivered (`padded_fraction`).
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from torch.utils.data import DataLoader

from unimumo.constants import CODE_RATE
from unimumo.loader.shard_stream import Remainder, ShardStreamDataset, merge_ranges, shard_name, split_by_node
from unimumo.loader.windows import Window, WindowSpec, task_weights_from_mixture
from unimumo.shards.manifest import Manifest

STATE_FORMAT = 2
TOPOLOGY = ("rank", "world_size", "num_workers", "batch_size")  # what load_elastic_state lets change
STAT_OF_EVENT = {
    "missing_shard": "missing_shards_skipped",
    "corrupt_shard": "corrupt_shards_skipped",
    "corrupt_sample": "corrupt_samples_skipped",
    "short_sample": "short_samples_dropped",
    "empty_stream": "empty_streams",
}


class ShardSkippedWarning(UserWarning):
    """Data was skipped (missing/corrupt shard or sample, samples shorter than the window's min_steps)."""


def _upgrade_state(state: dict) -> dict:
    """A loader state of format 1 (window and min_window as two numbers of code steps) in format 2 (a `Window`)."""
    if state.get("format") != 1:
        return state
    config = {name: value for name, value in state["config"].items() if name not in ("window", "min_window")}
    config["window"] = {"steps": state["config"]["window"], "min_steps": state["config"]["min_window"]}
    return {**state, "format": STATE_FORMAT, "config": config}


def _min_window(config: dict) -> str:
    steps = config["window"]["min_steps"]
    return f"min_window={steps} code steps ({steps / CODE_RATE:g} s)"


def _fresh_stats() -> dict:
    return {
        "batches_seen": 0,
        "samples_seen": 0,
        "code_steps": 0,
        "padded_code_steps": 0,
        **{name: 0 for name in STAT_OF_EVENT.values()},
    }


class ShardLoader:
    """Iterable of batches; infinite when `epochs` is None. Iterating again continues where it stopped
    (a finite loader that has finished starts again from its first batch)."""

    def __init__(self, dataset: ShardStreamDataset, num_workers: int, config: dict, source: str):
        self._dataset = dataset
        self._num_workers = num_workers
        self._config = config
        self._source = source
        self._num_streams = dataset.num_streams
        self._stats = _fresh_stats()
        self._reset_positions()

    def _reset_positions(self) -> None:
        self._dataset.remainder = None
        self._positions = [[0, 0] for _ in range(self._num_streams)]
        self._ended = [False] * self._num_streams
        self._next_stream = 0

    @property
    def stats(self) -> dict:
        """The counters (saved with the state) plus `padded_fraction`: padded / delivered code steps."""
        return {**self._stats, "padded_fraction": self._stats["padded_code_steps"] / max(1, self._stats["code_steps"])}

    def state_dict(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "config": dict(self._config),
            "positions": [list(p) for p in self._positions],
            "ended": list(self._ended),
            "next_stream": self._next_stream,
            "stats": dict(self._stats),
            "remainder": self._remainder_state(),
        }

    def _remainder_state(self) -> dict | None:
        """The remainder pass of a re-sharded epoch while a stream still has it ahead (this rank's shards)."""
        remainder = self._dataset.remainder
        if remainder is None or all(epoch > remainder.epoch for epoch, _ in self._positions):
            return None
        shards = {name: [epoch, [list(r) for r in ranges]] for name, (epoch, ranges) in remainder.shards.items()}
        return {"epoch": remainder.epoch, "shards": shards}

    def _check_config(self, state: dict, ignore: tuple[str, ...] = ()) -> None:
        state = _upgrade_state(state)
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"loader state has format {state.get('format')!r}, expected {STATE_FORMAT}")
        saved = state["config"]
        differences = [
            f"{name}: saved {saved.get(name)!r}, now {self._config[name]!r}"
            for name in self._config
            if name not in ignore and saved.get(name) != self._config[name]
        ]
        if differences:
            raise ValueError(
                "cannot resume the loader, its settings changed since the state was saved ("
                + "; ".join(differences)
                + ")"
            )

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state` (this rank's, same settings) stopped."""
        self._check_config(state)
        self._positions = [list(p) for p in state["positions"]]
        self._ended = list(state["ended"])
        self._next_stream = int(state["next_stream"])
        self._stats = {**_fresh_stats(), **state["stats"]}
        saved = state.get("remainder")
        self._dataset.remainder = Remainder(saved["epoch"], dict(saved["shards"])) if saved else None

    def load_elastic_state(self, states: list[dict]) -> None:
        """Continue the epoch that the states of ALL ranks of a run with another topology stopped in
        (see the module docstring for the guarantee). Replays the raw records of the old streams that
        held this rank's shards."""
        for state in states:
            self._check_config(state, ignore=TOPOLOGY)
        old_world = len(states)
        if sorted(s["config"]["rank"] for s in states) != list(range(old_world)) or any(
            s["config"]["world_size"] != old_world for s in states
        ):
            raise ValueError(f"load_elastic_state needs the states of all {old_world} ranks of one run, in any order")
        shard_paths = [str(p) for p in self._dataset.shards]
        mine = {shard_name(p) for p in split_by_node(shard_paths, self._config["rank"], self._config["world_size"])}
        epoch = max(position[0] for state in states for position in state["positions"])
        shards: dict[str, tuple[int, list[list[int]]]] = {}
        for state in states:
            config = state["config"]
            old = self._dataset.with_topology(config["rank"], old_world, len(state["positions"]))
            saved = state.get("remainder")
            old.remainder = Remainder(saved["epoch"], dict(saved["shards"])) if saved else None
            for stream, (position, ended) in enumerate(zip(state["positions"], state["ended"])):
                held = {shard_name(p) for p in old.stream_shards(stream, position[0])}
                if held & mine:
                    shards.update(
                        {
                            name: value
                            for name, value in old.consumed(stream, tuple(position), ended).items()
                            if name in mine
                        }
                    )
        self._dataset.remainder = Remainder(epoch, {name: (e, merge_ranges(r)) for name, (e, r) in shards.items()})
        self._positions = [[epoch, 0] for _ in range(self._num_streams)]
        self._ended = [False] * self._num_streams
        self._next_stream = 0
        same_rank = [s for s in states if s["config"]["rank"] == self._config["rank"]]
        self._stats = {**_fresh_stats(), **(same_rank[0]["stats"] if same_rank else {})}

    def _batch_source(self) -> Iterator[dict]:
        self._dataset.start_positions = [tuple(p) for p in self._positions]
        if self._num_workers == 0:
            return iter(self._dataset)
        return iter(DataLoader(self._dataset, batch_size=None, num_workers=self._num_workers, prefetch_factor=4))

    def _record(self, events: list) -> None:
        for kind, where, detail in events:
            self._stats[STAT_OF_EVENT[kind]] += 1
            if kind == "short_sample":  # one message for all of them (warnings shows it once)
                message = f"{self._source}: dropping samples shorter than {_min_window(self._config)}"
            else:
                message = f"skipped {kind.replace('_', ' ')} in {where}: {detail}"
            warnings.warn(message, ShardSkippedWarning, stacklevel=3)

    def __iter__(self) -> Iterator[dict]:
        if all(self._ended):
            self._reset_positions()
        source = self._batch_source()
        pending: dict[int, deque] = {stream: deque() for stream in range(self._num_streams)}
        while not all(self._ended):
            stream = self._next_stream
            if self._ended[stream]:
                self._next_stream = (stream + 1) % self._num_streams
                continue
            while not pending[stream]:
                try:
                    item = next(source)
                except StopIteration:
                    raise RuntimeError(f"{self._source}: stream {stream} stopped without its end marker") from None
                pending[item["_stream"]].append(item)
            batch = pending[stream].popleft()
            self._record(batch.pop("_events"))
            self._positions[stream] = list(batch.pop("_position"))
            self._next_stream = (stream + 1) % self._num_streams
            del batch["_stream"]
            if batch.pop("_end", False):
                self._ended[stream] = True
                continue
            self._stats["batches_seen"] += 1
            self._stats["samples_seen"] += len(batch["keys"])
            self._stats["code_steps"] += batch["code_mask"].numel()
            self._stats["padded_code_steps"] += int((~batch["code_mask"]).sum())
            yield batch
        if self._config["epochs"] is None:
            raise RuntimeError(
                f"{self._source}: no readable samples of at least {_min_window(self._config)} (stats: {self._stats})"
            )


def build_loader(
    shards: str | Path,
    split: str,
    batch_size: int,
    *,
    window: Window,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    shuffle_buffer: int = 256,
    task_mixture: dict[str, float] | None = None,
    max_text_len: int = 64,
    epochs: int | None = None,
) -> ShardLoader:
    """Loader over the `split` shards listed in `shards`/manifest.json (a shard directory or the manifest).

    - Shards are split by node (rank r of world_size takes every world_size-th manifest entry) and then
      by DataLoader worker; each shard is read by exactly one (rank, worker). Ranks may get different
      sample counts; with `epochs=None` (training) every rank simply cycles its own shards.
    - `window.steps` code steps are cropped at one random offset from both music and motion (the recipe's
      data.window_s, converted by `Window.from_seconds` at 50 codes/s). Shorter samples are padded at the end
      and masked (`code_mask`); samples shorter than `window.min_steps` are dropped and counted
      (`stats["short_samples_dropped"]`).
    - `shuffle_buffer` samples are mixed per worker, and each worker reads its shards in a new order
      every epoch; `shuffle_buffer <= 1` keeps manifest order.
    - `task_mixture` maps TASKS names to weights (default: all "text2music_motion"); one tag is drawn
      per sample. Text ids are cut to `max_text_len`, padded with 0, and masked.
    - Batches are full except, with finite `epochs`, the last batch of each worker.
    """
    if min(batch_size, max_text_len) < 1 or num_workers < 0 or shuffle_buffer < 0:
        raise ValueError(
            f"need batch_size, max_text_len >= 1 and num_workers, shuffle_buffer >= 0; got "
            f"batch_size={batch_size}, max_text_len={max_text_len}, "
            f"num_workers={num_workers}, shuffle_buffer={shuffle_buffer}"
        )
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be None (infinite) or >= 1, got {epochs}")
    manifest = Manifest.load(shards)
    source = str(manifest.path)
    shard_paths = manifest.split_paths(split)
    if len(shard_paths) < world_size:
        raise ValueError(
            f"{source}: split {split!r} has {len(shard_paths)} shards, fewer than world_size={world_size}; "
            "rebuild with smaller --shard-size-mb so every rank gets at least one"
        )
    num_streams = max(1, num_workers)
    per_rank = len(shard_paths[rank::world_size])
    if per_rank < num_streams:
        warnings.warn(
            f"{source}: rank {rank} has {per_rank} shards of split {split!r} for {num_streams} workers; "
            f"{num_streams - per_rank} workers will stay idle",
            ShardSkippedWarning,
            stacklevel=2,
        )
    spec = WindowSpec(window, max_text_len, task_weights_from_mixture(task_mixture), seed)
    dataset = ShardStreamDataset(
        shard_paths,
        rank=rank,
        world_size=world_size,
        num_streams=num_streams,
        batch_size=batch_size,
        shuffle_buffer=shuffle_buffer,
        spec=spec,
        epochs=epochs,
    )
    config = {
        "split": split,
        "shards": [Path(p).name for p in shard_paths],
        "batch_size": batch_size,
        "window": {"steps": window.steps, "min_steps": window.min_steps},
        "seed": seed,
        "rank": rank,
        "world_size": world_size,
        "num_workers": num_workers,
        "shuffle_buffer": shuffle_buffer,
        "task_weights": list(spec.task_weights),
        "max_text_len": max_text_len,
        "epochs": epochs,
    }
    return ShardLoader(dataset, num_workers, config, source)
