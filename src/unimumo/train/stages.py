"""Training stages: the `STAGES` registry of train specs, each stage's reference recipe, and the freeze plans.

A `Stage` is everything that differs between `unimumo-train --recipe NAME` runs, as torchtitan's TrainSpec:
its reference recipe (a function returning a `Recipe`), model builder, data builder (a `DataSource`),
objective factory (an `Objective`, train/objectives.py), freeze plan (the parameter groups it trains),
optimizer parameter groups, the code streams it models, whether its samples carry a task mixture, allowed
model presets, its own validation rules, and `starts_from`: the stage whose export it starts from. Those
links are the stage chain (`chain()`: stage1_motion -> stage2_joint -> caption), written only here; the
Slurm scripts, submitit and the demo read it (`unimumo-train --list-stages`). Adding a stage is one
`register(Stage(...))` entry plus its recipe function. `build_recipe(name, overrides)` is the one way to
get a validated recipe and `build_components(recipe)` the one way to get what a run trains: the trainer,
the tests and the benchmarks call it.

The model names the group of every parameter (`parameter_group(name)` -> "music" | "motion" |
"shared" | "captioning" | "text"); a stage trains a set of groups. Frozen parameters get
`requires_grad=False`, are never handed to the optimizer and so hold no optimizer state.
stage2_joint trains music, motion and shared modules. The captioning modules are not on the joint
forward path, so they would get no gradient, only weight decay; they stay as they are.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unimumo.tasks import STREAMS
from unimumo.train.data import SHARDS, DataSource
from unimumo.train.model_factory import (
    build_captioner,
    build_motion_vqvae,
    build_unimumo,
    check_model_config,
    check_motion_tokenizer,
)
from unimumo.train.motion_windows import MOTION_WINDOWS
from unimumo.train.objectives import CaptionObjective, LMObjective, MotionVQVAEObjective, Objective
from unimumo.train.recipes import Recipe, RecipeError, apply_deprecated, set_key, split_deprecated, validate


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters only, split into decayed matrices and undecayed vectors (biases, norms)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


@dataclass(frozen=True)
class Stage:
    name: str
    recipe: Callable[[], Recipe]  # the reference values; the recipe's name is the stage's
    trained_groups: frozenset[str] | None  # the freeze plan: parameter groups that train (None: every parameter)
    data: DataSource  # (stage, recipe, rank, world_size) -> this rank's micro-batch stream
    model: Callable[[Recipe, tuple | None], torch.nn.Module]  # (recipe, motion feature stats) -> model on the CPU
    objective: Callable[[Stage, Recipe, torch.device], Objective]  # -> batch plumbing: inputs, tokens, loss_terms
    presets: tuple[str, ...]  # allowed model.preset values
    starts_from: str | None = None  # the stage whose export this one starts from (init_from); None: the chain's root
    streams: tuple[str, ...] = ()  # code streams the forward pass models
    task_mixture: bool = False  # samples carry a task drawn from recipe.tasks; losses follow unimumo.tasks
    checks: tuple[Callable[[Recipe], None], ...] = ()  # the stage's own rules; each raises RecipeError
    # trains on top of pretrained weights it freezes: refuses to start without init_from (unless init.random)
    needs_pretrained: bool = False
    # (model after the freeze plan, weight decay) -> the optimizer's parameter groups
    param_groups: Callable[[torch.nn.Module, float], list[dict]] = optimizer_groups

    def __post_init__(self):
        problems = []
        if not isinstance(self.data, DataSource):
            problems.append(f"data {self.data!r} is not a data builder (a unimumo.train.data.DataSource)")
        if not set(self.streams) <= set(STREAMS):
            problems.append(f"streams {self.streams} must be among {STREAMS}")
        if self.task_mixture and not getattr(self.data, "task_mixture", False):
            problems.append("a task mixture needs shard data (the loader draws the tasks)")
        if not self.presets:
            problems.append("no model presets")
        if self.starts_from == self.name:
            problems.append("a stage cannot start from itself")
        if problems:
            raise ValueError(f"stage {self.name!r}: " + "; ".join(problems))

    def validate(self, recipe: Recipe) -> Recipe:
        """The stage's rules: model preset, data inputs, then `checks`. Raises RecipeError naming the key."""
        if recipe.model.preset is None and recipe.init_from is None:
            raise RecipeError(
                f"model.preset: {self.name} needs a preset ({', '.join(self.presets)}) when it does not "
                "start from a checkpoint (init_from), whose shape it would take"
            )
        if recipe.model.preset is not None and recipe.model.preset not in self.presets:
            raise RecipeError(
                f"model.preset: {recipe.model.preset!r} is not allowed for {self.name}; "
                f"choose one of {', '.join(self.presets)}"
            )
        self.data.check(recipe)
        # model.config's keys, sizes and values, and the window against the model's positions (LM stages)
        check_model_config(self.model, recipe, (lambda: self.data.window(recipe).steps) if self.streams else None)
        self.data.window(recipe)  # data.window_s / data.min_window_s are at least one step of the data
        if self.needs_pretrained and recipe.init_from is None and not recipe.init.random:
            raise RecipeError(
                f"init_from: {self.name} freezes everything but a few parameter groups, so on random weights it trains "
                "nothing useful; start it from a MusicGen directory or a UniMuMo export (--init-from DIR), or set "
                "init.random=true to train on random weights on purpose"
            )
        for check in self.checks:
            check(recipe)
        return recipe


STAGES: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    """Add `stage` to STAGES (its recipe function must return a recipe of the stage's name; the stage it
    starts from must be registered before it, so the registry's order is the chain's)."""
    if stage.name in STAGES:
        raise ValueError(f"stage {stage.name!r} is registered already")
    if stage.starts_from is not None and stage.starts_from not in STAGES:
        raise ValueError(f"stage {stage.name!r} starts from {stage.starts_from!r}, which is not registered (before it)")
    named = stage.recipe().name
    if named != stage.name:
        raise ValueError(f"stage {stage.name!r}: its recipe function returns a recipe named {named!r}")
    STAGES[stage.name] = stage
    return stage


# ----------------------------------------------------------------------------- the stages

LM_PRESETS = ("tiny", "small")  # UniMuMoConfig presets; small is the MusicGen-small shape


def motion_vqvae() -> Recipe:
    """The motion VQ-VAE on raw motion windows (model.codebook=music: on music-motion pairs, in the music code
    space of --music-codec)."""
    recipe = Recipe(name="motion_vqvae")
    recipe.model.preset = "base"
    recipe.optim.lr = 2e-4
    recipe.optim.weight_decay = 0.0
    recipe.data.window_s = 1.28  # 128 motion frames at the VQ-VAE's frame rate (100 Hz)
    recipe.data.global_batch, recipe.data.micro_batch = 256, 32
    return recipe


def stage1_motion() -> Recipe:
    """Stage 1: the motion stream learns from motion text alone, on top of a pretrained MusicGen (init_from)."""
    recipe = Recipe(name="stage1_motion")
    recipe.optim.lr = 1e-5
    recipe.loss.music_weight, recipe.loss.motion_weight = 0.0, 1.0
    return recipe


def stage2_joint() -> Recipe:
    """Stage 2: music and motion together over the task mixture (the Recipe defaults)."""
    return Recipe(name="stage2_joint")


def caption() -> Recipe:
    """Captioning: the caption decoder learns to describe music and motion codes (from stage 2's export)."""
    recipe = Recipe(name="caption")
    recipe.optim.lr = 1e-4
    return recipe


def _motion_loss_trains(recipe: Recipe) -> None:
    if not recipe.loss.motion_weight > 0:
        raise RecipeError(f"loss.motion_weight: {recipe.name} trains on motion only, must be > 0")


def _some_stream_loss_trains(recipe: Recipe) -> None:
    if not recipe.loss.music_weight + recipe.loss.motion_weight > 0:
        raise RecipeError(f"loss.music_weight + loss.motion_weight: must be > 0 for {recipe.name}")


register(
    Stage(
        name="motion_vqvae",
        recipe=motion_vqvae,
        # the independent VQ-VAE is one group ("all"); the music-codebook one trains "motion", its codec encoder is
        # frozen
        trained_groups=frozenset({"all", "motion"}),
        data=MOTION_WINDOWS,
        model=build_motion_vqvae,
        objective=MotionVQVAEObjective,
        presets=("tiny", "base"),
    )
)
register(
    Stage(
        name="stage1_motion",
        recipe=stage1_motion,
        trained_groups=frozenset({"motion"}),
        streams=("motion",),
        data=SHARDS,
        model=build_unimumo,
        objective=LMObjective,
        presets=LM_PRESETS,
        checks=(_motion_loss_trains, check_motion_tokenizer),
        needs_pretrained=True,
    )
)
register(
    Stage(
        name="stage2_joint",
        recipe=stage2_joint,
        trained_groups=frozenset({"music", "motion", "shared"}),
        streams=("music", "motion"),
        task_mixture=True,
        data=SHARDS,
        model=build_unimumo,
        objective=LMObjective,
        presets=LM_PRESETS,
        starts_from="stage1_motion",
        checks=(_some_stream_loss_trains, check_motion_tokenizer),
    )
)
register(
    Stage(
        name="caption",
        recipe=caption,
        trained_groups=frozenset({"captioning"}),
        streams=("music", "motion"),  # captioned in turn (loss.caption_modality=alternate)
        data=SHARDS,
        model=build_captioner,
        objective=CaptionObjective,
        presets=LM_PRESETS,
        starts_from="stage2_joint",
        checks=(check_motion_tokenizer,),
    )
)

# ----------------------------------------------------------------------------- the stage chain


def chain() -> list[Stage]:
    """The stages linked by `starts_from`, in order (each after the stage it starts from):
    stage1_motion -> stage2_joint -> caption. A stage that starts from none and that none starts from
    (motion_vqvae, a tokenizer) is not part of it."""
    started_from = {stage.starts_from for stage in STAGES.values()}
    return [stage for stage in STAGES.values() if stage.starts_from is not None or stage.name in started_from]


def list_stages() -> str:
    """One line per registered stage, `NAME STARTS_FROM` (`-` for none), in registration order (a stage
    after the one it starts from): what `unimumo-train --list-stages` prints for the launchers."""
    return "".join(f"{stage.name} {stage.starts_from or '-'}\n" for stage in STAGES.values())


# ----------------------------------------------------------------------------- recipes of a stage


def build_recipe(name: str, overrides: Mapping[str, Any] | None = None, *, check: bool = True) -> Recipe:
    """The reference recipe of stage `name` with `overrides` (dotted keys) applied, validated."""
    if name not in STAGES:
        raise RecipeError(f"recipe: {name!r} is not allowed; choose one of {', '.join(STAGES)}")
    stage = STAGES[name]
    recipe = stage.recipe()
    overrides, deprecated = split_deprecated(overrides or {})
    for key, value in overrides.items():
        if key == "name" and value != name:
            raise RecipeError(f"name: the recipe is {name!r}; it cannot be overridden to {value!r}")
        set_key(recipe, key, value)
    sets_preset = any(
        key in ("model.preset", "model__preset")
        or (key == "model" and isinstance(value, Mapping) and "preset" in value)
        for key, value in overrides.items()
    )
    if recipe.init_from is not None and not sets_preset:
        recipe.model.preset = None  # the checkpoint's shape; a preset given explicitly must agree with it
    if deprecated:  # step counts of the stage's data, once its model keys are set
        apply_deprecated(recipe, deprecated, stage.data.window_rate(recipe))
    return stage.validate(validate(recipe)) if check else recipe


def recipe_from_dict(data: Mapping[str, Any]) -> Recipe:
    """Rebuild a recipe saved with `Recipe.to_dict()` (checkpoints, run directories)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping) and key != "config":
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    walk("", data)
    name = flat.pop("name")
    return build_recipe(name, flat, check=False)


# ----------------------------------------------------------------------------- freeze plans


@dataclass(frozen=True)
class GroupCount:
    group: str
    tensors: int
    params: int
    trainable: bool


def group_of(model: torch.nn.Module, name: str) -> str:
    return model.parameter_group(name) if hasattr(model, "parameter_group") else "all"


def apply_freeze_plan(model: torch.nn.Module, stage: Stage) -> list[GroupCount]:
    """Set requires_grad per the stage's plan; return per-group counts. Raises if nothing would train."""
    trained = stage.trained_groups
    counts: OrderedDict[str, list[int]] = OrderedDict()
    for name, param in model.named_parameters():
        group = group_of(model, name)
        train = trained is None or group in trained
        param.requires_grad_(train)
        tensors_params = counts.setdefault(group, [0, 0])
        tensors_params[0] += 1
        tensors_params[1] += param.numel()
    rows = [GroupCount(group, n, p, trained is None or group in trained) for group, (n, p) in counts.items()]
    if not any(row.trainable for row in rows):
        raise ValueError(
            f"stage {stage.name!r} trains groups {sorted(trained or [])} but the model has none of them "
            f"(its groups: {[row.group for row in rows]})"
        )
    return rows


def trainable_table(rows: list[GroupCount]) -> str:
    """A printable table: one line per parameter group, then the totals."""
    lines = [f"{'group':<12} {'tensors':>8} {'parameters':>14}  status"]
    for row in rows:
        lines.append(f"{row.group:<12} {row.tensors:>8} {row.params:>14,}  {'TRAIN' if row.trainable else 'frozen'}")
    trainable = sum(r.params for r in rows if r.trainable)
    total = sum(r.params for r in rows)
    lines.append(
        f"{'total':<12} {sum(r.tensors for r in rows):>8} {total:>14,}  "
        f"{trainable:,} trainable ({100.0 * trainable / max(total, 1):.2f}%)"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- what a run trains


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Components:
    """What `build_components` returns: everything a training loop needs besides the optimizer itself."""

    stage: Stage
    data: Any  # this rank's micro-batch stream (state_dict / load_state_dict)
    model: torch.nn.Module  # on the CPU, freeze plan applied
    freeze: list[GroupCount]  # per parameter group: tensors, parameters, trained or frozen
    param_groups: list[dict]  # the optimizer's parameter groups (trainable parameters only)
    objective: Objective


def build_components(
    recipe: Recipe, rank: int = 0, world_size: int = 1, device: torch.device | str = "cpu"
) -> Components:
    """The stage's data stream for `rank` of `world_size`, its model (seeded with recipe.seed, identical on every
    rank, freeze plan and activation checkpointing applied), the optimizer groups and the objective on `device`."""
    stage = STAGES[recipe.name]
    data = stage.data(stage, recipe, rank, world_size)
    seed_all(recipe.seed)  # identical initial weights on every rank
    model = stage.model(recipe, getattr(data, "feature_stats", None))
    freeze = apply_freeze_plan(model, stage)
    if recipe.model.activation_checkpointing:
        model.gradient_checkpointing_enable()
    return Components(
        stage=stage,
        data=data,
        model=model,
        freeze=freeze,
        param_groups=stage.param_groups(model, recipe.optim.weight_decay),
        objective=stage.objective(stage, recipe, torch.device(device)),
    )
