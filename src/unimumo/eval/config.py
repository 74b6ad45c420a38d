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

from unimumo.eval.aist_inputs import SEGMENT_SECONDS, SLICE_SECONDS
from unimumo.eval.musiccaps import AIST_PROB, MOTION_PROMPTS
from unimumo.eval.musiccaps import SECONDS as MUSICCAPS_SECONDS
from unimumo.eval.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from unimumo.eval.system_outputs import UP_AXES, EvalInputError
from unimumo.models.tokenizer_record import TOKENIZER_NAMES, TOKENIZERS_FILE, read_tokenizer_record


class EvalConfigError(EvalInputError):
    """A configuration value is out of range or inconsistent."""

    kind = "config error"


def _positive(config, *names: str) -> list[str]:
    return [
        f"{name} must be > 0, got {getattr(config, name)!r}"
        for name in names
        if not (isinstance(getattr(config, name), (int, float)) and getattr(config, name) > 0)
    ]


QUALITY_METRICS = ("fad", "kl", "clap")  # music quality: FAD (VGGish), KL (PANNs), CLAP score
QUALITY_MODELS = {"fad": ("vggish",), "kl": ("panns",), "clap": ("clap", "clap_text_model")}  # metric -> fields


def quality_metrics(text: str) -> tuple[str, ...]:
    """The music-quality metrics named in a comma-separated list (unknown names kept, for `quality_problems`)."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def quality_problems(config) -> list[str]:
    """`config.metrics` names known metrics, each with its evaluation checkpoints given."""
    names = quality_metrics(config.metrics)
    problems = [
        f"unknown metric {name!r} in metrics (choose from {', '.join(QUALITY_METRICS)})"
        for name in names
        if name not in QUALITY_METRICS
    ]
    for name in names:
        for field in QUALITY_MODELS.get(name, ()):
            if not getattr(config, field):
                problems.append(f"metric {name} needs --{field.replace('_', '-')}")
    return problems


@dataclass(frozen=True)
class ScoreMusicConfig:
    """`unimumo-eval score-music`: Beats Coverage / Hit of generated music files against reference files."""

    generated: str
    reference: str
    out: str
    dance: str | None = None  # joints paired with the generated files (BAS of the music against the dance)
    fps: float = 60.0  # frame rate of the --dance joints
    metrics: str = ""  # music-quality metrics too, comma-separated (fad, kl, clap); files then paired by name stem
    captions: str | None = None  # MusicCaps-format CSV (ytid, caption): CLAP's text of each file, by name stem
    vggish: str | None = None  # evaluation checkpoints, local files (see QualityModels)
    panns: str | None = None
    clap: str | None = None
    clap_text_model: str | None = None
    device: str = "cpu"  # where the evaluation models run

    def problems(self) -> list[str]:
        problems = _positive(self, "fps") + quality_problems(self)
        if "clap" in quality_metrics(self.metrics) and not self.captions:
            problems.append("metric clap needs --captions CSV (the text of each generated file, by name stem)")
        return problems


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
    up_axis: str = "y"  # the generated joints' up axis (EDGE writes z up)

    def problems(self) -> list[str]:
        problems = _positive(self, "fps", "motion_fps")
        if self.up_axis not in UP_AXES:
            problems.append(f"up_axis must be one of {', '.join(UP_AXES)}, got {self.up_axis!r}")
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        return problems


def tokenizer_problems(config, names: tuple[str, ...] = TOKENIZER_NAMES) -> list[str]:
    """A benchmark on published inputs needs the tokenizers `names`: given, recorded in --shards' manifest, or
    recorded by the export (`config.model`/unimumo_tokenizers.json)."""
    missing = [name for name in names if not getattr(config, name)]
    if config.shards is not None or not missing:
        return []
    recorded = read_tokenizer_record(config.model) if config.model else {}
    missing = [name for name in missing if name not in recorded]
    if not missing:
        return []
    return [
        f"without --shards the tokenizers must be given or recorded by the export "
        f"({Path(config.model) / TOKENIZERS_FILE} records no {', '.join(missing)}): "
        + ", ".join(f"--{name.replace('_', '-')}" for name in missing)
    ]


def _tokenizer_problems(config) -> list[str]:
    """A generation benchmark on published inputs: its renders and its tokenizers (`tokenizer_problems`)."""
    problems = [f"render must be >= 0, got {config.render}"] if getattr(config, "render", 0) < 0 else []
    return problems + tokenizer_problems(config)


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings of a generation benchmark; the defaults are the UniMuMo authors' test scripts' values."""

    guidance_scale: float = 3.0
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    seed: int = 42  # chunk i is sampled with seed + i (the authors seed once and generate one clip after another)
    batch_size: int = 16

    def problems(self) -> list[str]:
        problems = _positive(self, "temperature", "batch_size")
        if self.top_k < 0 or not 0.0 <= self.top_p <= 1.0:
            problems.append(f"top_k must be >= 0 and top_p in [0, 1], got {self.top_k} and {self.top_p}")
        return problems


@dataclass(frozen=True)
class AistMusic2MotionConfig(GenerationSettings):
    """`unimumo-eval music2motion --aist DIR --aist-music DIR`: the published music-to-dance benchmark's inputs."""

    model: str = ""
    out: str = ""
    aist: str = ""  # AIST++ root: motions/, splits/crossmodal_SPLIT.txt, ignore_list.txt (slices and ground truth)
    aist_music: str = ""  # the AIST++ music, one file per music id (mBR0.wav, ...)
    split: str = "test"
    seconds: float = 5.0  # generated length; EDGE's slices are 5 s long
    protocol: str = DEFAULT_PROTOCOL
    motion_fps: float = 60.0
    device: str = "cpu"
    render: int = 4
    shards: str | None = None  # only to find the tokenizers its manifest records (default: the export's record)
    beat_checkpoint: str | None = None  # --protocol corrected on beat_this shards: where their weights are now
    music_codec: str | None = None
    motion_tokenizer: str | None = None
    text_tokenizer: str | None = None

    def problems(self) -> list[str]:
        problems = super().problems() + _positive(self, "seconds", "motion_fps")
        problems += [
            f"{name} is required" for name in ("model", "out", "aist", "aist_music") if not getattr(self, name)
        ]
        if self.seconds > SLICE_SECONDS:
            problems.append(
                f"seconds must be <= {SLICE_SECONDS:g} (EDGE's slices are {SLICE_SECONDS:g} s), got {self.seconds}"
            )
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        return problems + _tokenizer_problems(self)


@dataclass(frozen=True)
class AistMotion2MusicConfig(GenerationSettings):
    """`unimumo-eval motion2music --aist DIR --aist-music DIR --segments FILE`: the published dance-to-music
    benchmark's inputs (D2M-GAN's 2 s AIST++ test segments)."""

    model: str = ""
    out: str = ""
    aist: str = ""
    aist_music: str = ""
    segments: str = ""  # D2M-GAN's dataset/aist_motion_test_segment.txt
    seconds: float = SEGMENT_SECONDS
    device: str = "cpu"
    shards: str | None = None
    music_codec: str | None = None
    motion_tokenizer: str | None = None
    text_tokenizer: str | None = None

    def problems(self) -> list[str]:
        problems = super().problems() + _positive(self, "seconds")
        problems += [
            f"{name} is required"
            for name in ("model", "out", "aist", "aist_music", "segments")
            if not getattr(self, name)
        ]
        if self.seconds > SEGMENT_SECONDS:
            problems.append(
                f"seconds must be <= {SEGMENT_SECONDS:g} (D2M-GAN's segments are {SEGMENT_SECONDS:g} s), "
                f"got {self.seconds}"
            )
        return problems + _tokenizer_problems(self)


@dataclass(frozen=True)
class MusicCapsConfig(GenerationSettings):
    """`unimumo-eval text2music --musiccaps CSV --musiccaps-audio DIR`: text -> music (and dance) on MusicCaps as
    the UniMuMo authors ran it (`unimumo.eval.musiccaps`), scored with FAD, KL and CLAP against the reference clips;
    with --aist, the dance metrics of the motion stream against the AIST++ --split motion."""

    model: str = ""
    out: str = ""
    musiccaps: str = ""  # musiccaps-public.csv
    musiccaps_audio: str = ""  # the reference clips, named by ytid
    metrics: str = ",".join(QUALITY_METRICS)
    vggish: str | None = None
    panns: str | None = None
    clap: str | None = None
    clap_text_model: str | None = None
    motion_prompt: str = "authors"  # authors: the genre prompt (p = aist_prob) or a HumanML3D caption; none: empty
    aist_prob: float = AIST_PROB
    humanml3d_texts: str | None = None  # HumanML3D texts/ (the captions drawn with p = 1 - aist_prob)
    seconds: float = MUSICCAPS_SECONDS
    max_text_tokens: int = 512  # upstream feeds whole captions (T5's 512); shard benchmarks cut at 64
    aist: str | None = None  # AIST++ root: the motion stream's dance metrics (left out without it)
    split: str = "test"
    protocol: str = DEFAULT_PROTOCOL
    motion_fps: float = 60.0
    device: str = "cpu"
    render: int = 4
    shards: str | None = None  # only to find the tokenizers its manifest records
    beat_checkpoint: str | None = None  # --protocol corrected on beat_this shards: where their weights are now
    music_codec: str | None = None
    motion_tokenizer: str | None = None
    text_tokenizer: str | None = None

    def problems(self) -> list[str]:
        problems = super().problems() + _positive(self, "seconds", "motion_fps", "max_text_tokens")
        required = ("model", "out", "musiccaps", "musiccaps_audio")
        problems += [f"{name} is required" for name in required if not getattr(self, name)] + quality_problems(self)
        if self.motion_prompt not in MOTION_PROMPTS:
            problems.append(f"motion_prompt must be one of {', '.join(MOTION_PROMPTS)}, got {self.motion_prompt!r}")
        if not 0.0 <= self.aist_prob <= 1.0:
            problems.append(f"aist_prob must be in [0, 1], got {self.aist_prob}")
        elif self.motion_prompt == "authors" and self.aist_prob < 1.0 and not self.humanml3d_texts:
            problems.append(
                "the authors' motion prompt draws HumanML3D captions (p = 1 - aist_prob): give --humanml3d-texts DIR "
                "(HumanML3D's texts/), or --aist-prob 1 for genre prompts only, or --motion-prompt none"
            )
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        return problems + _tokenizer_problems(self)


@dataclass(frozen=True)
class PaperConfig:
    """`unimumo-eval paper`: every published benchmark whose inputs are given, with the authors' settings, and one
    `paper_tables.md` beside the published numbers."""

    model: str
    out: str
    aist: str  # AIST++ root
    aist_music: str  # AIST++ music by music id
    segments: str | None = None  # D2M-GAN's segment list: the dance-to-music table (left out without it)
    musicqa: str | None = None  # MU-LLaMA's EvalMusicQA.txt: the music-captioning table (left out without it)
    musicqa_audio: str | None = None
    humanml3d: str | None = None  # HumanML3D root: the motion-captioning table (left out without it)
    bert_model: str | None = None  # captioning's BERTScore model (local roberta-large)
    nltk_data: str | None = None  # WordNet for METEOR
    t2m_evaluator: str | None = None  # the text-motion evaluator's pieces (motion captioning's R-precision)
    glove: str | None = None
    spacy_model: str | None = None
    device: str = "cpu"
    batch_size: int = 16
    render: int = 4  # wav / joints / BVH / GIF of the first N music -> dance slices and text -> music clips
    shards: str | None = None
    music_codec: str | None = None
    motion_tokenizer: str | None = None
    text_tokenizer: str | None = None
    musiccaps: str | None = None  # musiccaps-public.csv: the text-to-music table (left out without it)
    musiccaps_audio: str | None = None
    vggish: str | None = None
    panns: str | None = None
    clap: str | None = None
    clap_text_model: str | None = None
    humanml3d_texts: str | None = None

    def problems(self) -> list[str]:
        problems = _positive(self, "batch_size") + _tokenizer_problems(self)
        if self.musiccaps or self.musiccaps_audio:
            problems += [f"text2music: {problem}" for problem in paper_musiccaps(self, self.out).problems()]
        return problems


def paper_musiccaps(config: PaperConfig, out: str) -> MusicCapsConfig:
    """The text-to-music benchmark of `unimumo-eval paper`: the authors' settings, the paper's inputs and models."""
    shared = ("model", "device", "batch_size", "render", "shards", "music_codec", "motion_tokenizer", "text_tokenizer")
    quality = ("vggish", "panns", "clap", "clap_text_model", "humanml3d_texts")
    values = {name: getattr(config, name) for name in shared + quality}
    return MusicCapsConfig(
        **values, musiccaps=config.musiccaps or "", musiccaps_audio=config.musiccaps_audio or "", out=out
    )


@dataclass(frozen=True)
class ShardEvalConfig:
    """What every shard benchmark shares (`unimumo-eval COMMAND --shards DIR`): the first --seconds of the first
    --num-samples samples of a shard split. The Music4All test shards are not a published benchmark."""

    model: str
    shards: str
    out: str
    split: str = "test"
    num_samples: int = 300
    seconds: float = 5.0
    batch_size: int = 16
    device: str = "cpu"

    def problems(self) -> list[str]:
        problems = _positive(self, "num_samples", "seconds", "batch_size")
        return problems + [f"{name} is required" for name in ("model", "shards", "out") if not getattr(self, name)]


@dataclass(frozen=True)
class ShardGenerationConfig(ShardEvalConfig):
    """`unimumo-eval motion2music --shards DIR`: generation on a shard split (this project's defaults)."""

    seed: int = 0
    guidance_scale: float = 4.0
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    render: int = 4
    motion_tokenizer: str | None = None
    music_codec: str | None = None
    motion_fps: float = 60.0

    def problems(self) -> list[str]:
        problems = super().problems() + _positive(self, "temperature", "motion_fps")
        if self.top_k < 0 or not 0.0 <= self.top_p <= 1.0 or self.render < 0:
            problems.append(
                f"top_k and render must be >= 0 and top_p in [0, 1], got {self.top_k}, {self.render} and {self.top_p}"
            )
        return problems


@dataclass(frozen=True)
class ShardDanceConfig(ShardGenerationConfig):
    """`unimumo-eval text2music --shards DIR`: generated dances scored with a dance-metric protocol."""

    protocol: str = DEFAULT_PROTOCOL
    ground_truth: str | None = None  # aist | reconstruction; None: aist when --aist is given
    aist: str | None = None
    beat_checkpoint: str | None = None  # --protocol corrected on beat_this shards: where their weights are now

    def problems(self) -> list[str]:
        problems = super().problems()
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        return problems


@dataclass(frozen=True)
class ShardMusic2MotionConfig(ShardDanceConfig):
    """`unimumo-eval music2motion --shards DIR`: music -> dance on a shard split."""

    motion_text: str = "genre"
    text_tokenizer: str | None = None


@dataclass(frozen=True)
class ShardCaptionConfig(ShardEvalConfig):
    """`unimumo-eval caption --shards DIR`: captions of a shard split's music and motion."""

    text_tokenizer: str | None = None
    modality: str = "both"
    num_beams: int = 4
    max_length: int = 32

    def problems(self) -> list[str]:
        return super().problems() + _positive(self, "num_beams", "max_length")


SHARD_CONFIGS = {
    "music2motion": ShardMusic2MotionConfig,
    "text2music": ShardDanceConfig,
    "motion2music": ShardGenerationConfig,
    "caption": ShardCaptionConfig,
}


def validate(config) -> None:
    """Raise EvalConfigError listing every problem of `config` (its `problems()`)."""
    problems = config.problems()
    if problems:
        raise EvalConfigError(f"{type(config).__name__}: " + "; ".join(problems))


def config_from_args(cls, args: argparse.Namespace):
    """The validated config `cls` from the argparse values of its fields (missing or None: the config's default)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}
    config = cls(**values)
    validate(config)
    return config


def describe(config) -> str:
    """Every value of `config` as indented JSON (`--print-config`)."""
    values = {
        name: str(value) if isinstance(value, Path) else value for name, value in dataclasses.asdict(config).items()
    }
    return json.dumps({"config": type(config).__name__, **values}, indent=2)
