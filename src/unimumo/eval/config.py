"""Evaluation as data: one frozen config per benchmark command, validated once before anything runs.

`config_from_args(cls, args)` takes the command line's values for the config's fields (argparse dests of the
same names), builds the config and validates it; a runner then takes the config, never argparse.
`--print-config` prints `describe(config)` (every value, as JSON) and exits.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from unimumo.eval.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from unimumo.eval.system_outputs import EvalInputError


class EvalConfigError(EvalInputError):
    """A configuration value is out of range or inconsistent."""

    kind = "config error"


def _positive(config, *names: str) -> list[str]:
    return [f"{name} must be > 0, got {getattr(config, name)!r}" for name in names
            if not (isinstance(getattr(config, name), (int, float)) and getattr(config, name) > 0)]


@dataclass(frozen=True)
class ScoreMusicConfig:
    """`unimumo-eval score-music`: Beats Coverage / Hit of generated music files against reference files."""

    generated: str
    reference: str
    out: str
    dance: str | None = None  # joints paired with the generated files (BAS of the music against the dance)
    fps: float = 60.0  # frame rate of the --dance joints

    def problems(self) -> list[str]:
        return _positive(self, "fps")


@dataclass(frozen=True)
class ScoreDanceConfig:
    """`unimumo-eval score-dance`: a directory of any system's joints against the AIST++ ground truth."""

    generated: str
    out: str
    aist: str
    fps: float = 60.0  # frame rate of the generated joints
    music: str | None = None  # the music each file dances to, paired by sorted name (BAS); none: no BAS
    split: str = "test"
    protocol: str = DEFAULT_PROTOCOL
    motion_fps: float = 60.0  # the rate the metrics see (ground truth and generated resampled to it)

    def problems(self) -> list[str]:
        problems = _positive(self, "fps", "motion_fps")
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        return problems


def validate(config) -> None:
    """Raise EvalConfigError listing every problem of `config` (its `problems()`)."""
    problems = config.problems()
    if problems:
        raise EvalConfigError(f"{type(config).__name__}: " + "; ".join(problems))


def config_from_args(cls, args: argparse.Namespace):
    """The validated config `cls` from the argparse values of its fields (missing ones keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    config = cls(**values)
    validate(config)
    return config


def describe(config) -> str:
    """Every value of `config` as indented JSON (`--print-config`)."""
    values = {name: str(value) if isinstance(value, Path) else value
              for name, value in dataclasses.asdict(config).items()}
    return json.dumps({"config": type(config).__name__, **values}, indent=2)
