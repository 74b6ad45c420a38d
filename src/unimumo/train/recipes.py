"""Training recipes: every hyper-parameter of a run as dataclasses, dotted-key overrides and validation.

A recipe is data. Each stage's reference recipe is a function registered with the stage
(unimumo.train.stages, whose `build_recipe(name, overrides)` is the entry point); `set_key` applies
a dotted-key override (`optim.lr=1e-4` from the command line, or keyword arguments from Python) and
`validate` checks the values every stage shares, with errors that name the key and the allowed values.

Lengths carry their unit in their name: the training window is `data.window_s` seconds, converted once
into a `Window` of steps by the stage's data (`DataSpec.window_at(rate)`: code steps at 50 codes/s for
the LM stages, motion frames at the VQ-VAE's frame rate for motion_vqvae). The old step-count keys
`data.window` / `data.min_window` are deprecated aliases (`DEPRECATED_WINDOW_KEYS`), converted at the stage's rate.

The recipe is the one source of the training loss weights (`loss.music_weight`, `loss.motion_weight`).
The LM config keeps a copy because an exported model's forward loss weighs the streams with it;
train/model_factory.py writes it once when the model is built, and `model.config` may not set it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unimumo.errors import UniMuMoError
from unimumo.loader.windows import Window
from unimumo.tasks import TASKS
from unimumo.utils.log import get_logger

logger = get_logger(__name__)


class RecipeError(UniMuMoError, ValueError):
    """A recipe key is unknown, has the wrong type or an out-of-range value."""

    kind = "recipe error"


def _choices(*values: str) -> dict:
    return {"choices": values}


@dataclass
class ModelSpec:
    # the stage's model presets (Stage.presets): LM tiny | small (MusicGen-small), motion VQ-VAE tiny | base.
    # None: the shape of init_from (build_recipe sets it so when init_from is given and the preset is not).
    preset: str | None = "small"
    config: dict = field(default_factory=dict)  # overrides passed to the model config's preset()
    activation_checkpointing: bool = False
    # motion_vqvae: its own codebooks (independent) or the frozen codebooks of the music codec (music, the published
    # tokenizer: reads music_codec and trains on music-motion pairs)
    codebook: str = field(default="independent", metadata=_choices("independent", "music"))


@dataclass
class OptimSpec:
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0


@dataclass
class ScheduleSpec:
    warmup_steps: int = 1000
    decay: str = field(default="cosine", metadata=_choices("cosine", "linear", "constant"))
    min_lr_ratio: float = 0.1  # lr at the last step, as a fraction of the peak


def default_num_workers(environ: Mapping[str, str] = os.environ) -> int:
    """Loader workers per rank: the CPUs Slurm gives a task (SLURM_CPUS_PER_TASK) but one for the training
    process, else 4; at least 1."""
    cpus = environ.get("SLURM_CPUS_PER_TASK", "")
    return max(1, int(cpus) - 1) if cpus.isdigit() else 4


@dataclass
class DataSpec:
    shards: str | None = None  # shard directory (stages whose data is "shards")
    aist: str | None = None  # raw AIST++ root (stages whose data is "motion_windows")
    humanml3d: str | None = None  # raw HumanML3D root (stages whose data is "motion_windows")
    music4all: str | None = None  # raw Music4All root: the music of motion_vqvae's pairs (model.codebook=music)
    split: str = "train"
    global_batch: int = 64  # samples per optimizer step, over all ranks and accumulation steps
    micro_batch: int = 8  # samples per rank per forward pass
    window_s: float = 10.0  # seconds per training window (500 code steps per modality at 50 codes/s)
    min_window_s: float = 1.0  # shards: shorter samples are dropped; longer ones under window_s are padded and masked
    max_text_len: int = 64
    shuffle_buffer: int = 256
    num_workers: int = field(default_factory=default_num_workers)  # loader processes per rank

    def window_at(self, rate: float) -> Window:
        """The window in steps at `rate` steps per second (the stage's data: code steps at 50 codes/s, or motion
        frames at the VQ-VAE's frame rate); RecipeError when a length is under one step."""
        try:
            return Window.from_seconds(self.window_s, self.min_window_s, rate)
        except ValueError:
            raise RecipeError(
                f"data.window_s / data.min_window_s: {self.window_s:g} s / {self.min_window_s:g} s are "
                f"under one step at {rate:g} steps per second; give longer windows"
            ) from None


@dataclass
class InitSpec:
    """Where the weights come from besides init_from."""

    random: bool = False  # a stage that needs pretrained weights (Stage.needs_pretrained) may start random
    allow_random: tuple[str, ...] = ()  # fnmatch patterns of weights that may start random with init_from


@dataclass
class TaskMixture:
    """Proportions of the tasks (unimumo.tasks) in stages that train a task mixture; one task per sample."""

    text2music_motion: float = 0.6
    music2motion: float = 0.2
    motion2music: float = 0.2

    def as_dict(self) -> dict[str, float]:
        return {task: getattr(self, task) for task in TASKS}


@dataclass
class LossSpec:
    music_weight: float = 0.85
    motion_weight: float = 0.15
    caption_modality: str = field(default="alternate", metadata=_choices("music", "motion", "alternate"))


@dataclass
class CheckpointSpec:
    every: int = 1000  # steps between checkpoints (one is always written at the end)
    keep: int = 3  # most recent complete checkpoints kept


@dataclass
class ValidationSpec:
    """The held-out pass (unimumo.train.validation): loss on the `split` data, best/ export, early stop."""

    every: int = 0  # steps between validation passes (and one at the last step); 0 = no validation
    batches: int = 8  # micro batches per rank per pass (the split is read again from its start when shorter)
    split: str = "val"  # shard split (shard stages) or raw-corpus split (motion_vqvae) held out from training
    early_stop_patience: int = 0  # passes without a lower validation loss before the run stops; 0 = never


@dataclass
class LogSpec:
    every: int = 10  # steps between metric lines
    tensorboard: bool = True
    progress_bar: bool = True
    peak_flops: float | None = None  # per device, for MFU; detected on known GPUs when unset


@dataclass
class Recipe:
    name: str  # the stage: a key of unimumo.train.stages.STAGES
    out: str | None = None  # run directory
    steps: int = 100_000
    seed: int = 0
    text_model: str | None = None  # local T5ForConditionalGeneration directory
    music_codec: str | None = None  # local transformers EncodecModel directory (motion_vqvae with model.codebook=music)
    # a UniMuMo export (stage2 from stage1, caption from stage2) or a transformers MusicGen directory (stage1)
    init_from: str | None = None
    resume: bool = False
    ds_config: str = "zero2"  # a name in ds_configs/ or a path to a DeepSpeed JSON file
    precision: str = field(default="auto", metadata=_choices("auto", "fp32", "bf16"))
    max_nonfinite_steps: int = 5  # consecutive skipped steps before the run stops
    init: InitSpec = field(default_factory=InitSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    data: DataSpec = field(default_factory=DataSpec)
    tasks: TaskMixture = field(default_factory=TaskMixture)
    loss: LossSpec = field(default_factory=LossSpec)
    checkpoint: CheckpointSpec = field(default_factory=CheckpointSpec)
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    log: LogSpec = field(default_factory=LogSpec)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- overrides


def _field_map(obj) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj)}


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert `value` (a CLI string or a Python value) to the annotated type, or raise naming `key`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except RecipeError as err:
                errors.append(str(err))
        raise RecipeError(errors[0] if errors else f"{key}: cannot be None")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise RecipeError(f"{key}: expected a boolean (true/false), got {value!r}")
    if annotation in (int, float):
        try:
            number = annotation(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or (annotation is int and isinstance(value, float) and not value.is_integer()):
            raise RecipeError(f"{key}: expected {annotation.__name__}, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, (str, Path)):
            raise RecipeError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # tuple[T, ...]: any length
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{key}: expected comma-separated values, got {value!r}")
        return tuple(_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise RecipeError(f"{key}: expected {len(args)} comma-separated values, got {value!r}")
        return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
    if annotation is dict or origin is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise RecipeError(f"{key}: expected a JSON object, got {value!r} ({err})") from None
        if not isinstance(value, Mapping):
            raise RecipeError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    raise RecipeError(f"{key}: unsupported field type {annotation!r}")


def _parse_literal(text: str) -> Any:
    """Best-effort typing of a free-form value (model.config.* entries): JSON first, else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def set_key(recipe: Recipe, key: str, value: Any) -> None:
    """Set a dotted key (`optim.lr`, `model.config.num_layers`) on `recipe`, converting the value."""
    parts = key.replace("__", ".").split(".")
    if ".".join(parts) in DEPRECATED_WINDOW_KEYS:
        raise RecipeError(
            f"{key}: deprecated (a step count); give {DEPRECATED_WINDOW_KEYS['.'.join(parts)]} in "
            "seconds, or pass the old key to build_recipe, which converts it at the stage's rate"
        )
    node: Any = recipe
    for i, part in enumerate(parts):
        if isinstance(node, dict):  # free-form mapping (model.config): the rest of the key is a dict path
            target = node
            for sub in parts[i:-1]:
                target = target.setdefault(sub, {})
            target[parts[-1]] = _parse_literal(value) if isinstance(value, str) else value
            return
        fields = _field_map(node)
        if part not in fields:
            prefix = ".".join(parts[:i])
            allowed = ", ".join(f"{prefix + '.' if prefix else ''}{name}" for name in fields)
            raise RecipeError(f"unknown recipe key {key!r}; allowed keys here: {allowed}")
        hints = typing.get_type_hints(type(node))
        if i == len(parts) - 1:
            current = getattr(node, part)
            if dataclasses.is_dataclass(current):
                if not isinstance(value, Mapping):
                    raise RecipeError(f"{key}: is a section; set its keys ({key}.<name>=...) or pass a mapping")
                for sub, sub_value in value.items():
                    set_key(recipe, f"{key}.{sub}", sub_value)
                return
            setattr(node, part, _coerce(key, value, hints[part]))
            return
        node = getattr(node, part)


# Deprecated keys -> their replacement. The old keys counted steps of the stage's windows (code steps at 50 codes/s for
# the LM stages, motion frames at the VQ-VAE's frame rate for motion_vqvae); the new ones are seconds.
DEPRECATED_WINDOW_KEYS = {"data.window": "data.window_s", "data.min_window": "data.min_window_s"}


def split_deprecated(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the current keys, the deprecated window keys) of dotted-key `overrides`."""
    current, deprecated = {}, {}
    for key, value in overrides.items():
        (deprecated if key.replace("__", ".") in DEPRECATED_WINDOW_KEYS else current)[key] = value
    for key in deprecated:
        new = DEPRECATED_WINDOW_KEYS[key.replace("__", ".")]
        if new in current or new.replace(".", "__") in current:
            raise RecipeError(f"{key} and {new}: give only {new} (seconds); {key} is its deprecated alias")
    return current, deprecated


def apply_deprecated(recipe: Recipe, deprecated: Mapping[str, Any], rate: float) -> None:
    """Set each deprecated window key's replacement: its step count at `rate` steps per second (the stage's data),
    in seconds; a warning says what to use instead."""
    for key, value in deprecated.items():
        old = key.replace("__", ".")
        new = DEPRECATED_WINDOW_KEYS[old]
        steps = _coerce(old, value, int)
        set_key(recipe, new, steps / rate)
        logger.warning(
            "%s=%d is deprecated (a step count, %g per second for %s): use %s=%g (seconds)",
            old,
            steps,
            rate,
            recipe.name,
            new,
            steps / rate,
        )


def parse_assignment(text: str) -> tuple[str, str]:
    """Split a CLI `key=value` assignment."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set expects key=value, got {text!r}")
    return key.strip(), value.strip()


# ----------------------------------------------------------------------------- validation


def _check_choices(obj, prefix: str) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _check_choices(value, key + ".")
        elif "choices" in f.metadata and value not in f.metadata["choices"]:
            raise RecipeError(f"{key}: {value!r} is not allowed; choose one of {', '.join(f.metadata['choices'])}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RecipeError(message)


def _check_finite(value: Any, key: str) -> None:
    """Every number in the recipe (model.config's included) is finite: inf or nan is never a usable value."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _check_finite(getattr(value, f.name), f"{key}{f.name}" if not key else f"{key}.{f.name}")
    elif isinstance(value, Mapping):
        for name, item in value.items():
            _check_finite(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(item, f"{key}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{key}: must be a finite number, got {value}")


def validate(recipe: Recipe) -> Recipe:
    """Check the values every stage shares, before anything heavy starts; raises RecipeError naming the key.

    The stage's own rules (model presets, data inputs, loss weights, model.config against the model's config
    class and the window against its positions) are `Stage.validate`.
    """
    _check_choices(recipe, "")
    _check_finite(recipe, "")
    _require(recipe.out is not None, "out: the run directory is required (--out DIR)")
    _require(recipe.steps > 0, f"steps: must be > 0, got {recipe.steps}")
    _require(recipe.max_nonfinite_steps >= 1, "max_nonfinite_steps: must be >= 1")
    o, s, d, c, lg = recipe.optim, recipe.schedule, recipe.data, recipe.checkpoint, recipe.log
    _require(o.lr > 0, f"optim.lr: must be > 0, got {o.lr}")
    _require(all(0 <= b < 1 for b in o.betas), f"optim.betas: each must be in [0, 1), got {o.betas}")
    _require(o.eps > 0, f"optim.eps: must be > 0, got {o.eps}")
    _require(o.weight_decay >= 0, f"optim.weight_decay: must be >= 0, got {o.weight_decay}")
    _require(o.grad_clip >= 0, f"optim.grad_clip: must be >= 0 (0 disables clipping), got {o.grad_clip}")
    _require(s.warmup_steps >= 0, f"schedule.warmup_steps: must be >= 0, got {s.warmup_steps}")
    _require(0 <= s.min_lr_ratio <= 1, f"schedule.min_lr_ratio: must be in [0, 1], got {s.min_lr_ratio}")
    _require(d.micro_batch >= 1, f"data.micro_batch: must be >= 1, got {d.micro_batch}")
    _require(
        d.global_batch >= d.micro_batch,
        f"data.global_batch ({d.global_batch}) must be >= data.micro_batch ({d.micro_batch})",
    )
    _require(d.window_s > 0, f"data.window_s: must be > 0 seconds, got {d.window_s}")
    _require(d.min_window_s > 0, f"data.min_window_s: must be > 0 seconds, got {d.min_window_s}")
    _require(d.max_text_len >= 1, f"data.max_text_len: must be >= 1, got {d.max_text_len}")
    _require(d.num_workers >= 0, f"data.num_workers: must be >= 0, got {d.num_workers}")
    _require(c.every >= 1, f"checkpoint.every: must be >= 1, got {c.every}")
    _require(c.keep >= 1, f"checkpoint.keep: must be >= 1, got {c.keep}")
    _require(lg.every >= 1, f"log.every: must be >= 1, got {lg.every}")
    _require(lg.peak_flops is None or lg.peak_flops > 0, "log.peak_flops: must be > 0 when set")
    val = recipe.validation
    _require(val.every >= 0, f"validation.every: must be >= 0 (0 = no validation), got {val.every}")
    _require(val.batches >= 1, f"validation.batches: must be >= 1, got {val.batches}")
    _require(bool(val.split.strip()), "validation.split: must name a split (e.g. val)")
    _require(
        val.early_stop_patience >= 0,
        f"validation.early_stop_patience: must be >= 0 (0 = never stop early), got {val.early_stop_patience}",
    )
    _require(
        val.early_stop_patience == 0 or val.every > 0,
        "validation.early_stop_patience: early stopping needs validation passes; set validation.every > 0",
    )
    _require(
        val.every == 0 or val.split != recipe.data.split,
        f"validation.split: {val.split!r} is the training split (data.split); validate on held-out data (val)",
    )
    mixture = recipe.tasks.as_dict()
    _require(
        all(v >= 0 for v in mixture.values()) and sum(mixture.values()) > 0,
        f"tasks: proportions must be >= 0 with a positive sum, got {mixture}",
    )
    _require(
        recipe.loss.music_weight >= 0 and recipe.loss.motion_weight >= 0,
        "loss.music_weight / loss.motion_weight: must be >= 0",
    )
    for key in ("music_loss_weight", "motion_loss_weight"):
        _require(
            key not in recipe.model.config,
            f"model.config.{key}: the loss weights are recipe values; set loss.music_weight / loss.motion_weight",
        )
    return recipe


def global_batch_split(recipe: Recipe, world_size: int) -> int:
    """Gradient accumulation steps so that micro_batch x world_size x accumulation == global_batch."""
    d = recipe.data
    per_step = d.micro_batch * world_size
    if d.global_batch % per_step:
        raise RecipeError(
            f"data.global_batch ({d.global_batch}) must be a multiple of data.micro_batch ({d.micro_batch}) "
            f"x world size ({world_size}) = {per_step}; change data.global_batch or data.micro_batch"
        )
    return d.global_batch // per_step
