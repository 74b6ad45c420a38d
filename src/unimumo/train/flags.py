"""The one table from command-line flags, environment variables and Python keywords to recipe keys.

Each `Flag` row names a flag (`--shards`), the environment variable that sets it when the flag is not given
(`UNIMUMO_SHARDS`), the recipe key it sets (`data.shards`) and its help. `unimumo-train` and
`unimumo-submit` build their flags from the table (`add_flags`); `unimumo-train` also reads the variables
through it (`overrides_from`: a flag on the command line wins over its variable, `--set` over both, and
`UNIMUMO_OVERRIDES`, whitespace-separated `key=value` pairs, sits between the variables and the flags).
`unimumo.train.run` and `unimumo.launch.submit` map keyword arguments through it (`resolve_keywords`:
`shards=` is `data.shards`; any other keyword is a recipe key). Old spellings (`--musicgen`, `musicgen=`)
still work and warn that they are deprecated.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from unimumo.train.recipes import RecipeError, parse_assignment

OVERRIDES_ENV = "UNIMUMO_OVERRIDES"  # whitespace-separated key=value recipe overrides


@dataclass(frozen=True)
class Flag:
    flag: str  # --text-model; its Python keyword is text_model
    key: str  # the recipe key it sets
    env: str | None  # the environment variable unimumo-train reads when the flag is not given
    help: str
    kind: str = "value"  # "value" | "append" (repeatable) | "switch" (no value)
    type: Callable[[str], Any] = str
    metavar: str | None = None
    deprecated: tuple[str, ...] = ()  # old spellings of the flag, accepted with a warning

    @property
    def keyword(self) -> str:
        return _keyword(self.flag)


def _keyword(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


FLAGS: tuple[Flag, ...] = (
    Flag("--out", "out", "UNIMUMO_OUT", "run directory (checkpoints, export, metrics)"),
    Flag("--shards", "data.shards", "UNIMUMO_SHARDS", "shard directory with manifest.json (LM stages)"),
    Flag("--aist", "data.aist", "UNIMUMO_AIST", "raw AIST++ root (stages trained on raw motion windows)"),
    Flag(
        "--humanml3d",
        "data.humanml3d",
        "UNIMUMO_HUMANML3D",
        "raw HumanML3D root (stages trained on raw motion windows)",
    ),
    Flag(
        "--music4all",
        "data.music4all",
        "UNIMUMO_MUSIC4ALL",
        "raw Music4All root: the paired music of the motion VQ-VAE in the music code space",
    ),
    Flag(
        "--music-codec",
        "music_codec",
        "UNIMUMO_MUSIC_CODEC",
        "local transformers EncodecModel directory whose frozen encoder and codebooks the motion VQ-VAE uses with "
        "--set model.codebook=music",
    ),
    Flag(
        "--text-model",
        "text_model",
        "UNIMUMO_TEXT_MODEL",
        "local T5ForConditionalGeneration directory (text encoder, caption decoder); not needed with --init-from, "
        "whose export holds them",
    ),
    Flag(
        "--init-from",
        "init_from",
        "UNIMUMO_INIT_FROM",
        "checkpoint to start from: a UniMuMo export (the OUT/export of the stage this one starts from, see "
        "--list-stages) or a transformers MusicGen directory (MusicgenForConditionalGeneration or "
        "MusicgenForCausalLM), told apart by its config.json model_type",
        deprecated=("--musicgen",),
    ),
    Flag(
        "--allow-random-init",
        "init.allow_random",
        None,
        "weights that may start random with --init-from (fnmatch on parameter names, repeatable), e.g. "
        "'captioning_decoder.*' from a MusicGen dir without --text-model",
        kind="append",
        metavar="PATTERN",
    ),
    Flag(
        "--ds-config",
        "ds_config",
        "UNIMUMO_DS_CONFIG",
        "DeepSpeed config: a name in ds_configs/ (zero1, zero2, zero3, zero3_offload, cpu_zero0) or a JSON file",
    ),
    Flag("--resume", "resume", None, "continue from OUT/checkpoints/latest if present", kind="switch"),
    Flag(
        "--peak-flops",
        "log.peak_flops",
        "UNIMUMO_PEAK_FLOPS",
        "peak FLOP/s of one device for the MFU estimate (detected on known GPUs; e.g. 989e12 for an H100 in bf16)",
        type=float,
    ),
)


def _deprecation(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed; use {new}", FutureWarning, stacklevel=3)


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    required: tuple[str, ...] = (),
    environment: bool = True,
) -> None:
    """Add every flag of the table (`required`: flags that must be given; `environment`: name the variables)."""
    for row in FLAGS:
        help_text = row.help + (f" (env {row.env})" if environment and row.env else "")
        if row.kind == "switch":
            parser.add_argument(row.flag, action="store_true", default=None, help=help_text)
            continue
        action = "append" if row.kind == "append" else "store"
        parser.add_argument(
            row.flag, action=action, type=row.type, metavar=row.metavar, required=row.flag in required, help=help_text
        )
        for old in row.deprecated:
            parser.add_argument(
                old, dest=_keyword(old), type=row.type, metavar=row.metavar, help=f"deprecated spelling of {row.flag}"
            )


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The table's flags given on the command line, as Python keywords (deprecated spellings included)."""
    names = [row.keyword for row in FLAGS] + [_keyword(old) for row in FLAGS for old in row.deprecated]
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def resolve_keywords(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments -> recipe keys: a flag's keyword (`shards`, `text_model`) or an old spelling of one
    (`musicgen`, with a warning) becomes its recipe key; anything else is a recipe key already."""
    resolved: dict[str, Any] = {}
    by_keyword = {row.keyword: row for row in FLAGS}
    old = {_keyword(spelling): row for row in FLAGS for spelling in row.deprecated}
    for name, value in values.items():
        row = by_keyword.get(name) or old.get(name)
        if row is None:
            resolved[name] = value
            continue
        if name in old:
            if row.keyword in values:
                raise RecipeError(f"give {row.keyword} once: {row.keyword} or {name}, not both")
            _deprecation(f"{name} (--{name.replace('_', '-')})", f"{row.keyword} ({row.flag})")
        resolved[row.key] = value
    return resolved


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Recipe keys set by UNIMUMO_* variables: the table's variables, then UNIMUMO_OVERRIDES' assignments."""
    values: dict[str, Any] = {row.key: environ[row.env] for row in FLAGS if row.env and environ.get(row.env)}
    for assignment in environ.get(OVERRIDES_ENV, "").split():
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise RecipeError(f"{OVERRIDES_ENV}: expected whitespace-separated key=value pairs, got {assignment!r}")
        values[key] = value
    return values


def overrides_from(args: argparse.Namespace, environ: Mapping[str, str], assignments: list[str]) -> dict[str, Any]:
    """The recipe overrides of a command line: the environment, then the flags given, then `--set` assignments."""
    overrides = from_environment(environ)
    overrides.update(resolve_keywords(given(args)))
    for assignment in assignments:
        key, value = parse_assignment(assignment)
        overrides[key] = value
    return overrides
