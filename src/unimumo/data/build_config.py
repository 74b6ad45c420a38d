"""BuildConfig: the arguments of `unimumo-shards build`, validated once at start-up."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from unimumo.rhythm import BEAT_TRACKERS, require_beat_tracker

SPLITS = ("train", "val", "test")

# arguments that change what is built (the rest only change how fast or where)
CONTENT_FIELDS = ("music4all", "aist", "humanml3d", "music_codec", "motion_tokenizer", "text_tokenizer", "split",
                  "shard_size_mb", "pairs_per_track", "seed", "min_beat_seconds", "beat_tracker")


@dataclass
class BuildConfig:
    music4all: Path
    aist: Path | None
    music_codec: Path
    motion_tokenizer: Path
    text_tokenizer: Path
    out: Path
    split: str
    humanml3d: Path | None = None
    workers: int = 1
    shard_size_mb: float = 256.0
    pairs_per_track: int = 5
    seed: int = 0
    resume: bool = False
    max_failure_fraction: float = 0.05
    min_beat_seconds: float = 10.0
    beat_tracker: str = BEAT_TRACKERS[0]  # librosa; essentia is optional (AGPL-3.0), see unimumo.rhythm

    def validate(self) -> "BuildConfig":
        problems = []
        if self.split not in SPLITS:
            problems.append(f"--split must be one of {SPLITS}, got {self.split!r}")
        for name in ("music4all", "aist", "humanml3d", "music_codec", "motion_tokenizer"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_dir():
                problems.append(f"--{name.replace('_', '-')} {path}: directory not found")
        if not Path(self.text_tokenizer).is_file():
            problems.append(f"--text-tokenizer {self.text_tokenizer}: file not found")
        if Path(self.out).exists() and not Path(self.out).is_dir():
            problems.append(f"--out {self.out}: exists and is not a directory")
        if self.aist is None and self.humanml3d is None:
            problems.append("give at least one motion corpus (--aist and/or --humanml3d)")
        if self.workers < 1:
            problems.append(f"--workers must be >= 1, got {self.workers}")
        if self.shard_size_mb <= 0:
            problems.append(f"--shard-size-mb must be > 0, got {self.shard_size_mb}")
        if self.pairs_per_track < 1:
            problems.append(f"--pairs-per-track must be >= 1, got {self.pairs_per_track}")
        if not 0.0 <= self.max_failure_fraction <= 1.0:
            problems.append(f"--max-failure-fraction must be in [0, 1], got {self.max_failure_fraction}")
        try:
            require_beat_tracker(self.beat_tracker)
        except ValueError as error:
            problems.append(f"--beat-tracker: {error}")
        if problems:
            raise ValueError("invalid build arguments:\n  " + "\n  ".join(problems))
        return self

    def as_json(self) -> dict:
        return {name: (str(value) if isinstance(value, Path) else value) for name, value in asdict(self).items()}

    def content_args(self) -> dict:
        args = self.as_json()
        return {name: args[name] for name in CONTENT_FIELDS}
