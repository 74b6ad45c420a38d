"""The data stream of a run, by the stage's data kind: the shard loader ("shards") or raw motion windows."""
from __future__ import annotations

from unimumo.train.recipes import Recipe
from unimumo.train.stages import Stage


def build_data(stage: Stage, recipe: Recipe, rank: int, world_size: int):
    """An infinite, resumable iterable of this rank's micro batches (has state_dict / load_state_dict)."""
    d = recipe.data
    if stage.data == "motion_windows":
        from unimumo.train.motion_windows import build_motion_windows

        return build_motion_windows(recipe, rank, world_size)
    from unimumo.loader.dataloader import build_loader

    return build_loader(
        d.shards, d.split, d.micro_batch, window=d.window, min_window=d.min_window, seed=recipe.seed, rank=rank, world_size=world_size,
        num_workers=d.num_workers, shuffle_buffer=d.shuffle_buffer, max_text_len=d.max_text_len,
        task_mixture=recipe.tasks.as_dict() if stage.task_mixture else None)
