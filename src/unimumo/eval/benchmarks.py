"""The benchmark registry: every evaluation that runs from a config, as the stage registry holds the stages.

A `Benchmark` names its config type (a dataclass from `unimumo.eval.config`, validated once), its inputs
reader (what it scores, in words and by function), its runner (config -> metric table, writing
OUT/metrics.json and OUT/metrics.md), its metrics and the upstream code each metric reproduces. `unimumo-eval`
builds the config from the command line, `--print-config` shows it, and `run_benchmark` runs it. Adding a
benchmark is one `register(Benchmark(...))` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unimumo.eval.aist_inputs import SEGMENTS_UPSTREAM, SLICER_UPSTREAM
from unimumo.eval.beats_metrics import BAS_UPSTREAM, BEATS_UPSTREAM
from unimumo.eval.caption_metrics import HUMANML3D_UPSTREAM, MUSICQA_UPSTREAM
from unimumo.eval.config import (
    AistMotion2MusicConfig,
    AistMusic2MotionConfig,
    MusicCapsConfig,
    PaperConfig,
    ScoreDanceConfig,
    ScoreMusicConfig,
    validate,
)
from unimumo.eval.humanml3d_captions import ENTRIES_UPSTREAM, MOTION_INPUTS_UPSTREAM
from unimumo.eval.musiccaps import MUSICCAPS_UPSTREAM, QUALITY_UPSTREAM
from unimumo.eval.musicqa import MUSICQA_INPUTS_UPSTREAM
from unimumo.eval.published_captions import MotionCaptionConfig, MusicCaptionConfig, ScoreCaptionsConfig
from unimumo.eval.report import Table
from unimumo.eval.t2m_evaluator import EVALUATOR_UPSTREAM, MATCHING_REPORTED, MATCHING_UPSTREAM


@dataclass(frozen=True)
class Benchmark:
    name: str
    config: type  # the config dataclass the runner takes
    run: Callable[[object], Table]  # validated config -> metric table (and OUT/metrics.json, OUT/metrics.md)
    inputs: str  # the inputs reader: what is scored, and from where
    metrics: tuple[str, ...]
    upstream: tuple[str, ...]  # the code each metric reproduces
    help: str
    writes: tuple[str, ...] = ("metrics.json", "metrics.md")  # its reports, inside OUT


BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in BENCHMARKS:
        raise ValueError(f"benchmark {benchmark.name!r} is registered twice")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def benchmark_named(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; registered: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def run_benchmark(name: str, config) -> Table:
    """Validate `config` (it must be the benchmark's config type) and run the benchmark on it."""
    benchmark = benchmark_named(name)
    if not isinstance(config, benchmark.config):
        raise TypeError(f"benchmark {name!r} takes a {benchmark.config.__name__}, got {type(config).__name__}")
    validate(config)
    return benchmark.run(config)


def _score_music(config: ScoreMusicConfig) -> Table:
    from unimumo.eval.scoring import score_music

    return score_music(config)


def _score_dance(config: ScoreDanceConfig) -> Table:
    from unimumo.eval.scoring import score_dance

    return score_dance(config)


def _music2motion_aist(config: AistMusic2MotionConfig) -> Table:
    from unimumo.eval.aist_benchmarks import run_music2motion_aist

    return run_music2motion_aist(config)


register(
    Benchmark(
        name="music2motion-aist",
        config=AistMusic2MotionConfig,
        run=_music2motion_aist,
        inputs="aist_inputs.read_edge_slices: AIST++ --split music (--aist-music, by music id) cut to each dance and "
        "sliced as EDGE (5 s, 0.5 s stride), the authors' genre prompt; ground truth the --aist test motion",
        metrics=("FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC"),
        upstream=(SLICER_UPSTREAM, "the --protocol's code"),
        help="music -> dance on the published inputs (unimumo-eval music2motion --aist DIR --aist-music DIR)",
    )
)


def _motion2music_aist(config: AistMotion2MusicConfig) -> Table:
    from unimumo.eval.aist_benchmarks import run_motion2music_aist

    return run_motion2music_aist(config)


register(
    Benchmark(
        name="motion2music-aist",
        config=AistMotion2MusicConfig,
        run=_motion2music_aist,
        inputs="aist_inputs.read_d2m_segments: D2M-GAN's segment list (--segments), each 2 s of an AIST++ sequence "
        "(--aist) and the same 2 s of its music (--aist-music, by music id)",
        metrics=("beats_coverage", "beats_hit", "BAS"),
        upstream=(SEGMENTS_UPSTREAM, BEATS_UPSTREAM, BAS_UPSTREAM),
        help="dance -> music on the published inputs (unimumo-eval motion2music --aist DIR --aist-music DIR "
        "--segments FILE)",
    )
)


def _text2music_musiccaps(config: MusicCapsConfig) -> Table:
    from unimumo.eval.text2music_musiccaps import run_text2music_musiccaps

    return run_text2music_musiccaps(config)


register(
    Benchmark(
        name="text2music-musiccaps",
        config=MusicCapsConfig,
        run=_text2music_musiccaps,
        inputs="musiccaps.musiccaps_clips: every row of --musiccaps (musiccaps-public.csv) with its reference clip in "
        "--musiccaps-audio (named by ytid; rows without one skipped, OUT/skipped.jsonl), the authors' prompt: the "
        "caption and a drawn motion description (genre prompt with p 0.8, else a --humanml3d-texts caption)",
        metrics=("fad", "kl_softmax", "kl_sigmoid", "clap", "FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC"),
        upstream=(MUSICCAPS_UPSTREAM, QUALITY_UPSTREAM),
        help="text -> music on MusicCaps as published (unimumo-eval text2music --musiccaps CSV --musiccaps-audio "
        "DIR): FAD (VGGish), KL (PANNs), CLAP against the reference clips; dance metrics of the motion with --aist",
        writes=("metrics.json", "metrics.md", "skipped.jsonl"),
    )
)
register(
    Benchmark(
        name="score-music",
        config=ScoreMusicConfig,
        run=_score_music,
        inputs="system_outputs.list_files: --generated and --reference audio files paired by sorted name "
        "(by name stem with --metrics; and --dance joints for BAS, --captions CSV for CLAP)",
        metrics=("beats_coverage", "beats_hit", "BAS", "fad", "kl_softmax", "kl_sigmoid", "clap"),
        upstream=(BEATS_UPSTREAM, BAS_UPSTREAM, QUALITY_UPSTREAM),
        help="score any system's music: Beats Coverage / Beats Hit against reference music (Cralence/My_Eval), "
        "BAS against the dances given with --dance, FAD / KL / CLAP with --metrics fad,kl,clap",
    )
)
register(
    Benchmark(
        name="score-dance",
        config=ScoreDanceConfig,
        run=_score_dance,
        inputs="system_outputs.read_joints: --generated joints (.npy, .pkl, .pt) at --fps; ground truth "
        "dance_benchmark.aist_ground_truth (--aist, --split); music beats from --music for BAS",
        metrics=("FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC"),
        upstream=("the --protocol's upstream code",),
        help="score any system's dances (joints) against the AIST++ ground truth with a dance-metric protocol",
    )
)


def _music_caption(config: MusicCaptionConfig) -> Table:
    from unimumo.eval.published_captions import run_music_caption

    return run_music_caption(config)


register(
    Benchmark(
        name="music-caption",
        config=MusicCaptionConfig,
        run=_music_caption,
        inputs="musicqa.read_musicqa: MU-LLaMA's EvalMusicQA.txt (--musicqa), the 'Describe the audio' items, each "
        "clip (--musicqa-audio) cut to its first min(10, whole seconds) s at 32 kHz",
        metrics=("bleu", "bleu4", "bleu_words", "bleu4_words", "meteor", "rouge_l_recall", "bertscore_recall"),
        upstream=(MUSICQA_INPUTS_UPSTREAM, MUSICQA_UPSTREAM),
        help="music captioning on MusicQA as published: beam 4, up to 256 tokens; My_Eval's BLEU (characters, as "
        "published, and words), METEOR, ROUGE-L recall, BERTScore recall beside the published numbers",
        writes=("metrics.json", "metrics.md", "captions.md", "gen_captions.json", "gt_captions.json"),
    )
)


def _motion_caption(config: MotionCaptionConfig) -> Table:
    from unimumo.eval.published_captions import run_motion_caption

    return run_motion_caption(config)


register(
    Benchmark(
        name="motion-caption",
        config=MotionCaptionConfig,
        run=_motion_caption,
        inputs="humanml3d_captions.read_caption_entries: HumanML3D --split motions (--humanml3d) at 60 fps cut or "
        "padded "
        "to 600 frames; TM2T's entries (whole motions and segments of 40-199 frames, 3 references each)",
        metrics=("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider", "bertscore_f1", *MATCHING_REPORTED),
        upstream=(MOTION_INPUTS_UPSTREAM, ENTRIES_UPSTREAM, HUMANML3D_UPSTREAM, EVALUATOR_UPSTREAM, MATCHING_UPSTREAM),
        help="motion captioning on HumanML3D as published: beam 4, up to 256 tokens; NLGEval's BLEU-1..4, ROUGE-L, "
        "CIDEr and BERTScore F1, and with --t2m-evaluator R-precision and the matching score of the model's and the "
        "ground truth's captions, beside the published numbers",
        writes=("metrics.json", "metrics.md", "captions.md", "gen_captions.json", "gt_captions.json"),
    )
)


def _score_captions(config: ScoreCaptionsConfig) -> Table:
    from unimumo.eval.published_captions import run_score_captions

    return run_score_captions(config)


register(
    Benchmark(
        name="score-captions",
        config=ScoreCaptionsConfig,
        run=_score_captions,
        inputs="published_captions._read_captions: --references and --candidates JSON objects id -> caption "
        "(humanml3d references: a caption or a list, made 3 as TM2T)",
        metrics=(
            "bleu",
            "bleu4",
            "meteor",
            "rouge_l_recall",
            "bertscore_recall",
            "bleu_1",
            "bleu_2",
            "bleu_3",
            "bleu_4",
            "rouge_l",
            "cider",
            "bertscore_f1",
        ),
        upstream=(MUSICQA_UPSTREAM, HUMANML3D_UPSTREAM),
        help="score any system's captions with a published protocol's metrics: musicqa (My_Eval) or humanml3d (TM2T)",
    )
)


def _paper(config: PaperConfig) -> Table:
    from unimumo.eval.paper import run_paper

    return run_paper(config)


register(
    Benchmark(
        name="paper",
        config=PaperConfig,
        run=_paper,
        inputs="music2motion-aist and, given --segments, motion2music-aist; given --musicqa, music-caption; given "
        "--humanml3d, motion-caption",
        metrics=("FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC", "beats_coverage", "beats_hit"),
        upstream=(SLICER_UPSTREAM, SEGMENTS_UPSTREAM, BEATS_UPSTREAM, BAS_UPSTREAM),
        help="the paper's tables: every published benchmark whose inputs are given, with the authors' settings; "
        "OUT/paper_tables.md beside the published numbers",
        writes=("paper_tables.md", "music2motion/metrics.json", "motion2music/metrics.json"),
    )
)
