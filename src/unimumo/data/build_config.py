"""BuildConfig: the arguments of `unimumo-shards build`, validated once at start-up."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from unimumo.data.pairing import check_source_weights
from unimumo.data.split_lists import check_list_files
from unimumo.rhythm import DEFAULT_BEAT_TRACKER, require_beat_tracker

SPLITS = ("train", "val", "test")
DEVICES = ("cpu", "cuda")

# Arguments that change what is built (the rest only change how fast or where). codec_batch and device
# fix which clips share a codec forward pass and on which kernels, i.e. the exact float arithmetic
# behind each code; `slice` selects the tracks. They are checked on --resume and by `merge`.
CONTENT_FIELDS = (
    "music4all",
    "aist",
    "humanml3d",
    "dancedb",
    "music_codec",
    "motion_tokenizer",
    "text_tokenizer",
    "split",
    "shard_size_mb",
    "pairs_per_track",
    "seed",
    "min_beat_seconds",
    "beat_tracker",
    "beat_checkpoint",
    "codec_batch",
    "device",
    "slice",
    "tile",
    "source_weights",
    "music_captions",
    "motion_captions",
    "split_files",
    "ignore_lists",
)
SLICE_PATTERN = re.compile(r"(\d+)/(\d+)")


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
    beat_tracker: str = DEFAULT_BEAT_TRACKER  # steady; essentia is optional (AGPL-3.0), see unimumo.rhythm
    beat_checkpoint: Path | None = None  # Beat This! weights for beat_tracker beat_this (unimumo.beat_this)
    device: str = "cpu"  # where the music codec runs
    codec_batch: int = 8  # tracks per codec forward pass (and the plan's chunk size, see shard_builder)
    slice: str | None = None  # "i/n": build only slice i of n of the split (written under out/slices/i-of-n)
    tile: bool = True  # repeat motions shorter than their track to fill it (pairing.fill_window)
    source_weights: dict[str, float] = field(default_factory=dict)  # motion draw weight per source (default 1)
    music_captions: Path | None = None  # caption file by Music4All id (data/captions.py: CSV, JSON lines, JSON)
    motion_captions: Path | None = None  # caption file by motion id
    dancedb: Path | None = None  # AMASS .npz takes anywhere under it (data/sources/dancedb.py)
    split_files: dict[str, str] = field(default_factory=dict)  # source -> this split's ids (data/split_lists.py)
    ignore_lists: dict[str, list[str]] = field(default_factory=dict)  # source -> lists of ids never used

    def split_file(self, source: str) -> Path | None:
        """The --split-file of `source` (None: the corpus's own split file)."""
        return Path(self.split_files[source]) if source in self.split_files else None

    @property
    def slice_index_count(self) -> tuple[int, int]:
        """(i, n) of --slice i/n; (0, 1) for a whole build."""
        if self.slice is None:
            return 0, 1
        index, count = SLICE_PATTERN.fullmatch(self.slice).groups()
        return int(index), int(count)

    @property
    def output_dir(self) -> Path:
        """Where this build writes: --out, or --out/slices/i-of-n for a slice."""
        if self.slice is None:
            return Path(self.out)
        index, count = self.slice_index_count
        return Path(self.out) / "slices" / f"{index}-of-{count}"

    def validate(self) -> BuildConfig:
        problems = []
        if self.split not in SPLITS:
            problems.append(f"--split must be one of {SPLITS}, got {self.split!r}")
        for name in ("music4all", "aist", "humanml3d", "dancedb", "music_codec", "motion_tokenizer"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_dir():
                problems.append(f"--{name.replace('_', '-')} {path}: directory not found")
        for name in ("music_captions", "motion_captions"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                problems.append(f"--{name.replace('_', '-')} {path}: file not found")
        if not Path(self.text_tokenizer).is_file():
            problems.append(f"--text-tokenizer {self.text_tokenizer}: file not found")
        if Path(self.out).exists() and not Path(self.out).is_dir():
            problems.append(f"--out {self.out}: exists and is not a directory")
        if self.aist is None and self.humanml3d is None and self.dancedb is None:
            problems.append("give at least one motion corpus (--aist, --humanml3d and/or --dancedb)")
        if self.workers < 1:
            problems.append(f"--workers must be >= 1, got {self.workers}")
        if self.shard_size_mb <= 0:
            problems.append(f"--shard-size-mb must be > 0, got {self.shard_size_mb}")
        if self.pairs_per_track < 1:
            problems.append(f"--pairs-per-track must be >= 1, got {self.pairs_per_track}")
        if not 0.0 <= self.max_failure_fraction <= 1.0:
            problems.append(f"--max-failure-fraction must be in [0, 1], got {self.max_failure_fraction}")
        if self.codec_batch < 1:
            problems.append(f"--codec-batch must be >= 1, got {self.codec_batch}")
        if self.device not in DEVICES:
            problems.append(f"--device must be one of {DEVICES}, got {self.device!r}")
        elif self.device == "cuda" and not torch.cuda.is_available():
            problems.append(
                f"--device cuda: no CUDA device is available here (torch {torch.__version__}, "
                f"built with CUDA {torch.version.cuda}); use --device cpu"
            )
        match = SLICE_PATTERN.fullmatch(self.slice) if self.slice is not None else None
        if self.slice is not None and (match is None or not 0 <= int(match[1]) < int(match[2])):
            problems.append(f"--slice must be i/n with 0 <= i < n (e.g. 0/4), got {self.slice!r}")
        problems += check_list_files({source: [path] for source, path in self.split_files.items()}, "--split-file")
        problems += check_list_files(self.ignore_lists, "--ignore-list")
        try:
            check_source_weights(self.source_weights)
        except ValueError as error:
            problems.append(str(error))
        try:
            require_beat_tracker(self.beat_tracker, self.beat_checkpoint)
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
