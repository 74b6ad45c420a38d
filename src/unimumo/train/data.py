"""Data builders: what a stage trains on, as a callable the stage names (`Stage.data`).

A `DataSource` builds one rank's stream of micro batches, `source(stage, recipe, rank, world_size)`: an
infinite, resumable iterable with `state_dict` / `load_state_dict` (and `load_elastic_state` when it can be
re-sharded over another number of ranks). It also checks that the recipe names its inputs. `SHARDS` is the
shard loader (unimumo.loader); `MOTION_WINDOWS` (train/motion_windows.py) reads raw motion for the VQ-VAE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unimumo.constants import CODE_RATE
from unimumo.loader.windows import Window
from unimumo.train.recipes import Recipe, RecipeError


def _code_rate(recipe: Recipe) -> float:
    return CODE_RATE


@dataclass(frozen=True)
class DataSource:
    name: str  # what the data is, in messages
    build: Callable[[Any, Recipe, int, int], Any]  # (stage, recipe, rank, world_size) -> this rank's stream
    check: Callable[[Recipe], None]  # raises RecipeError naming the input key the recipe lacks
    task_mixture: bool = False  # can draw each sample's task (Stage.task_mixture needs it)
    # steps per second of its windows: data.window_s counts code steps (shards) or motion frames (raw motion) at it
    window_rate: Callable[[Recipe], float] = _code_rate

    def __call__(self, stage, recipe: Recipe, rank: int, world_size: int):
        return self.build(stage, recipe, rank, world_size)

    def window(self, recipe: Recipe) -> Window:
        """The recipe's window (data.window_s, data.min_window_s) in this data's steps; RecipeError under one step."""
        return recipe.data.window_at(self.window_rate(recipe))


def _shard_stream(stage, recipe: Recipe, rank: int, world_size: int):
    from unimumo.loader.dataloader import build_loader

    d = recipe.data
    return build_loader(
        d.shards,
        d.split,
        d.micro_batch,
        window=stage.data.window(recipe),
        seed=recipe.seed,
        rank=rank,
        world_size=world_size,
        num_workers=d.num_workers,
        shuffle_buffer=d.shuffle_buffer,
        max_text_len=d.max_text_len,
        task_mixture=recipe.tasks.as_dict() if stage.task_mixture else None,
    )


def _needs_shards(recipe: Recipe) -> None:
    if recipe.data.shards is None:
        raise RecipeError(f"data.shards: recipe {recipe.name} needs a shard directory (--shards DIR)")


SHARDS = DataSource("shard", _shard_stream, _needs_shards, task_mixture=True)
