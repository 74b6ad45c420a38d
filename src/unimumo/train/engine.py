"""The DeepSpeed engine of a run: config assembly (recipe + ds_configs/ file), AdamW, lr schedule.

The JSON files in ds_configs/ hold only ZeRO and communication settings. Everything the recipe
owns (batch split, optimizer, clipping, precision) is written into the config here, so the global
batch is defined once (data.global_batch) and split as micro_batch x world_size x accumulation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from unimumo.train.recipes import OptimSpec, Recipe, RecipeError, global_batch_split


def _ds_config_dir() -> Path:
    """The installed copy (unimumo/ds_configs, a wheel install), else the repository's ds_configs/ (a checkout
    or an editable install)."""
    installed = Path(__file__).resolve().parents[1] / "ds_configs"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[3] / "ds_configs"


DS_CONFIG_DIR = _ds_config_dir()
RECIPE_OWNED_KEYS = (
    "train_batch_size",
    "train_micro_batch_size_per_gpu",
    "gradient_accumulation_steps",
    "optimizer",
    "scheduler",
    "gradient_clipping",
    "bf16",
    "fp16",
)


def resolve_ds_config(name_or_path: str) -> Path:
    """A name in ds_configs/ (`zero3`) or a path to a JSON file."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = DS_CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in DS_CONFIG_DIR.glob("*.json"))
        raise RecipeError(f"ds_config: {name_or_path!r} is neither a JSON file nor one of {', '.join(known)}")
    return path


def resolve_precision(recipe: Recipe, device: torch.device) -> str:
    """bf16 on GPU and fp32 on CPU unless the recipe says otherwise (bf16 on CPU is slow but allowed)."""
    if recipe.precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return recipe.precision


def accumulation_for(recipe: Recipe, world_size: int) -> int:
    """global_batch_split, with the world sizes and micro batches that would work when this one does not."""
    try:
        return global_batch_split(recipe, world_size)
    except RecipeError as error:
        d = recipe.data
        worlds = [n for n in range(1, d.global_batch // d.micro_batch + 1) if d.global_batch % (d.micro_batch * n) == 0]
        micros = [m for m in range(1, d.global_batch // world_size + 1) if d.global_batch % (m * world_size) == 0]
        raise RecipeError(
            f"{error}. With data.global_batch={d.global_batch}: world sizes {worlds} work with "
            f"data.micro_batch={d.micro_batch}; with {world_size} ranks data.micro_batch can be "
            f"{micros or 'nothing (global_batch < world size)'}"
        ) from None


def build_ds_config(recipe: Recipe, world_size: int, device: torch.device, load_universal: bool = False) -> dict:
    """The full DeepSpeed config of a run (`load_universal`: it will load a universal checkpoint)."""
    path = resolve_ds_config(recipe.ds_config)
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RecipeError(f"ds_config: {path} is not valid JSON ({err})") from None
    clash = [key for key in RECIPE_OWNED_KEYS if key in config]
    if clash:
        raise RecipeError(
            f"ds_config: {path} sets {clash}; these come from the recipe "
            f"(data.global_batch, data.micro_batch, optim.*, precision) - remove them from the file"
        )
    accumulation = accumulation_for(recipe, world_size)
    offload = bool(config.get("zero_optimization", {}).get("offload_optimizer"))
    o = recipe.optim
    config.update(
        train_batch_size=recipe.data.global_batch,
        train_micro_batch_size_per_gpu=recipe.data.micro_batch,
        gradient_accumulation_steps=accumulation,
        gradient_clipping=o.grad_clip,
        optimizer={
            "type": "AdamW",
            "params": {
                "lr": o.lr,
                "betas": list(o.betas),
                "eps": o.eps,
                "weight_decay": o.weight_decay,
                "torch_adam": not offload,
            },
        },
        steps_per_print=10**12,
    )
    config["bf16"] = {"enabled": resolve_precision(recipe, device) == "bf16"}
    if load_universal:
        config["checkpoint"] = {**config.get("checkpoint", {}), "load_universal": True}
    return config


def lr_lambda(recipe: Recipe):
    """Linear warmup to the peak lr, then cosine / linear decay to min_lr_ratio (or constant)."""
    s, total = recipe.schedule, recipe.steps

    def factor(step: int) -> float:
        if step < s.warmup_steps:
            return (step + 1) / (s.warmup_steps + 1)
        if s.decay == "constant":
            return 1.0
        progress = min(1.0, (step - s.warmup_steps) / max(1, total - s.warmup_steps))
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if s.decay == "cosine" else 1.0 - progress
        return s.min_lr_ratio + (1 - s.min_lr_ratio) * shape

    return factor


def make_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(recipe))


def follow_recipe_optim(scheduler: torch.optim.lr_scheduler.LambdaLR, optim: OptimSpec) -> list[str]:
    """After a resume: the recipe's optimizer settings and lr schedule govern from the first resumed step on;
    returns one line per setting the recipe changed against the checkpoint (for the log).

    The restored state holds the checkpoint's base lrs, its lr at the checkpoint's step and each parameter group's
    betas, eps and weight decay, which would silently keep what the recipe has changed (the schedule's shape is
    not saved: it always follows the recipe). The lr is recomputed as LambdaLR computes it (base x lambda(step)),
    so for an unchanged recipe every value is the uninterrupted run's. Weight decay goes to the groups that decay
    (nonzero in the checkpoint; the stage's other groups never decay)."""
    groups = scheduler.optimizer.param_groups
    changes = []
    saved = max(scheduler.base_lrs)
    if saved != optim.lr:
        changes.append(f"optim.lr {saved:g} -> {optim.lr:g} (the schedule's new peak)")
        scheduler.base_lrs = [optim.lr * (base / saved) for base in scheduler.base_lrs]
    for group, base, factor in zip(groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
        group["initial_lr"], group["lr"] = base, base * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in groups]
    decayed = [group for group in groups if group["weight_decay"] != 0]
    if not decayed and optim.weight_decay != 0:
        changes.append(f"optim.weight_decay {optim.weight_decay:g} not applied: the checkpoint decays no group")
    for name, value, targets in (
        ("betas", tuple(optim.betas), groups),
        ("eps", optim.eps, groups),
        ("weight_decay", optim.weight_decay, decayed),
    ):
        old = {tuple(group[name]) if name == "betas" else group[name] for group in targets}
        if old and old != {value}:
            changes.append(f"optim.{name} {', '.join(map(str, sorted(old)))} -> {value}")
            for group in targets:
                group[name] = value
    return changes


def initialize(
    model: torch.nn.Module,
    param_groups: list[dict],
    recipe: Recipe,
    world_size: int,
    device: torch.device,
    load_universal: bool = False,
):
    """deepspeed.initialize over `param_groups` (the stage's, trainable parameters only) -> (engine, ds_config)."""
    import deepspeed

    config = build_ds_config(recipe, world_size, device, load_universal)
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        model_parameters=param_groups,
        config=config,
        lr_scheduler=lambda optimizer: make_scheduler(recipe, optimizer),
    )
    if world_size == 1 and engine.zero_optimization_stage() == 0:
        engine.enable_backward_allreduce = False  # one process: nothing to reduce, skip flattening every gradient
    return engine, config
