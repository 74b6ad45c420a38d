"""`unimumo-eval`: benchmarks and renderings of a trained UniMuMo model on a shard split.

    unimumo-eval music2motion --model OUT/export --shards shards/NAME --out eval/m2m
    unimumo-eval text2music   --model OUT/export --shards shards/NAME --out eval/t2m
    unimumo-eval text2music   --model OUT/export --musiccaps musiccaps-public.csv --musiccaps-audio DIR \
        --vggish FILE --panns FILE --clap FILE --clap-text-model DIR --humanml3d-texts DIR --out eval/musiccaps
    unimumo-eval motion2music --model OUT/export --shards shards/NAME --out eval/d2m
    unimumo-eval caption      --model OUT/export --shards shards/NAME --out eval/cap
    unimumo-eval music-caption  --model OUT/export --musicqa EvalMusicQA.txt --musicqa-audio DIR --shards S --out D
    unimumo-eval motion-caption --model OUT/export --humanml3d HUMANML3D_ROOT --shards S --out D \
        [--t2m-evaluator T2M/checkpoints/t2m --glove T2M/glove --spacy-model en_core_web_sm-3.x.x/en_core_web_sm]
    unimumo-eval score-captions --references REFS.json --candidates CANDS.json --protocol musicqa --out D
    unimumo-eval render       --joints dance.npy --fps 20 --wav music.wav --out eval/dance
    unimumo-eval score-music  --generated DIR --reference DIR [--dance DIR] [--metrics fad,kl,clap --captions CSV \
        --vggish FILE --panns FILE --clap FILE --clap-text-model DIR] --out eval/score_music
    unimumo-eval score-dance  --generated DIR --fps 30 --aist AIST_ROOT [--music DIR] --out eval/score_dance
    unimumo-eval paper        --model OUT/export --aist AIST_ROOT --aist-music DIR [--segments FILE] --out eval/paper
        [--musiccaps CSV --musiccaps-audio DIR --vggish FILE --panns FILE --clap FILE --clap-text-model DIR \
         --humanml3d-texts DIR]

Every command writes OUT/metrics.json and OUT/metrics.md; OUT/renders/ holds wav, joints .npy,
.bvh, stick-figure GIFs and speed/beat plots of the first --render samples. Generation is cached
per batch in OUT/cache/, so an interrupted run continues where it stopped (same --out, same
settings) and a run is reproducible from --seed and --batch-size.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from unimumo.cli.common import run_command
from unimumo.errors import UniMuMoError
from unimumo.eval.assets import default_device
from unimumo.eval.benchmarks import BENCHMARKS, benchmark_named, run_benchmark
from unimumo.eval.config import SHARD_CONFIGS, config_from_args, describe
from unimumo.eval.dance_benchmark import GROUND_TRUTHS, NOT_COMPARABLE, ground_truth_kind
from unimumo.eval.music2motion import DEFAULT_MOTION_TEXT, GENRE_TEMPLATE, MOTION_TEXTS
from unimumo.eval.musiccaps import MOTION_PROMPTS
from unimumo.eval.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from unimumo.eval.render_files import add_render_options
from unimumo.utils.run_lock import RunLockError, run_lock

COMMANDS: dict[str, tuple[str, str]] = {  # name -> (module, help)
    "music2motion": (
        "unimumo.eval.music2motion",
        "music -> dance benchmark: FID_k, FID_m, Div_k, Div_m, BAS, PFC (generated vs ground truth)",
    ),
    "text2music": (
        "unimumo.eval.text2music",
        "text -> music + dance: on the shards, dance metrics of the generated motion and BAS against the generated "
        "music (not a published benchmark); with --musiccaps, the published MusicCaps benchmark (FAD, KL, CLAP)",
    ),
    "motion2music": (
        "unimumo.eval.motion2music",
        "dance -> music: beat coverage, beat hit and BAS of the generated music's beats vs the dance",
    ),
    "caption": (
        "unimumo.eval.caption",
        "music / motion captioning: BLEU-1, BLEU-4, ROUGE-L and generated vs reference captions side by side",
    ),
    "render": (
        "unimumo.eval.render_files",
        "render a motion file (joints or codes) with optional music: wav, npy, bvh, GIF with beats, speed plot",
    ),
}


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "int"  # argparse names the type in "invalid int value: ..."
    return parse


_positive_int = _int_at_least(1)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="exported model directory (unimumo-export / OUT/export)")
    parser.add_argument(
        "--shards",
        help="shard directory (holding manifest.json); required unless the benchmark "
        "reads the published inputs (music2motion --aist-music), where it only "
        "names the tokenizers its manifest records (default there: the ones the export records)",
    )
    parser.add_argument("--out", required=True, help="output directory (reused to resume an interrupted run)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    parser.add_argument(
        "--num-samples",
        type=_positive_int,
        default=300,
        help="first N samples of the split, in shard order (default: 300)",
    )
    parser.add_argument(
        "--seconds",
        type=_positive_float,
        help="length of every sample: its first S seconds (default: 5; on the published inputs "
        "their own length, 5 s slices for music2motion, 2 s segments for motion2music)",
    )
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="samples per model call (default: 16)")
    parser.add_argument("--device", default=default_device(), help="torch device (default: cuda if available)")
    parser.add_argument("--print-config", action="store_true", help="print the validated config and exit")


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        help="sampling seed; batch i uses seed + i (default: 0; 42 on the published inputs, the authors' seed)",
    )
    parser.add_argument(
        "--guidance-scale",
        type=float,
        help="classifier-free guidance (default: 4; 3 on the published inputs, the authors' value)",
    )
    parser.add_argument("--temperature", type=_positive_float, default=1.0, help="sampling temperature (default: 1)")
    parser.add_argument("--top-k", type=int, default=250, help="top-k sampling, 0 = off (default: 250)")
    parser.add_argument("--top-p", type=float, default=0.0, help="nucleus sampling, 0 = off (default: 0)")
    parser.add_argument(
        "--render",
        type=_int_at_least(0),
        default=4,
        help="write wav/npy/bvh/GIF/plots for the first N samples (default: 4; 0 = none)",
    )
    parser.add_argument("--motion-tokenizer", help="motion tokenizer dir (default: the one in the shard manifest)")
    parser.add_argument("--music-codec", help="EnCodec dir (default: the one in the shard manifest)")
    parser.add_argument(
        "--motion-fps",
        type=_positive_float,
        default=60.0,
        help="frame rate motions are decoded at for metrics and renders (default: 60, as AIST++)",
    )


def add_caption_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-tokenizer", help="sentencepiece model (default: the one in the shard manifest)")
    parser.add_argument(
        "--modality", choices=("music", "motion", "both"), default="both", help="what to caption (default: both)"
    )
    parser.add_argument("--num-beams", type=_positive_int, default=4, help="beam width (default: 4)")
    parser.add_argument("--max-length", type=_positive_int, default=32, help="longest caption in tokens (default: 32)")


def add_dance_options(parser: argparse.ArgumentParser, motion_text: bool) -> None:
    parser.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default=DEFAULT_PROTOCOL,
        help="dance-metric definitions, each reproducing a published evaluation code: unimumo "
        "(Cralence/My_Eval, 22 joints; the UniMuMo table), edge (EDGE's PFC only, at 30 fps), "
        "corrected (physically consistent, not comparable with any table); bailando needs 24 "
        "SMPL joints and is refused, generated motion being decoded to 22 joints "
        f"(default: {DEFAULT_PROTOCOL})",
    )
    parser.add_argument(
        "--ground-truth",
        choices=GROUND_TRUTHS,
        help="what FID/Div/PFC are measured against: aist = the real AIST++ motion of the --split "
        "sequences (as the published tables; needs --aist; no ground-truth BAS, AIST++ motion "
        "coming without its music), reconstruction = the motion tokenizer's reconstruction of "
        "the samples' motion codes (not comparable with published tables) "
        "(default: aist when --aist is given, else reconstruction)",
    )
    parser.add_argument(
        "--aist",
        metavar="DIR",
        help="AIST++ root as the shard builder reads it (motions/*.pkl, splits/crossmodal_SPLIT.txt, "
        "ignore_list.txt) for --ground-truth aist",
    )
    parser.add_argument(
        "--beat-checkpoint",
        metavar="FILE",
        help="--protocol corrected on shards built with --beat-tracker beat_this: their Beat This! weights, if "
        "no longer where the manifest says (checked against the sha256 it records)",
    )
    if motion_text:
        parser.add_argument(
            "--motion-text",
            choices=MOTION_TEXTS,
            default=DEFAULT_MOTION_TEXT,
            help=f"text the motion stream is conditioned on: genre = '{GENRE_TEMPLATE}' as the "
            "UniMuMo test script (empty for a sample without a genre), caption = the sample's "
            f"ground-truth motion caption (names the genre too), none = empty text "
            f"(default: {DEFAULT_MOTION_TEXT})",
        )
        parser.add_argument(
            "--text-tokenizer", help="sentencepiece model for --motion-text (default: the one in the shard manifest)"
        )
        parser.add_argument(
            "--aist-music",
            metavar="DIR",
            help="AIST++ music, one file per music id (mBR0.wav, ...): run the published benchmark "
            "instead of the shard split: the --aist test music cut into EDGE's 5 s slices "
            "(0.5 s stride), the authors' genre prompt and settings; --num-samples is unused",
        )


def add_score_music_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generated",
        required=True,
        metavar="DIR",
        help="generated music (.wav/.mp3/.flac/.ogg), paired with --reference by sorted file name",
    )
    parser.add_argument("--reference", required=True, metavar="DIR", help="reference music, one file per generated")
    parser.add_argument(
        "--dance",
        metavar="DIR",
        help="the dance each generated music was made for (joints .npy/.pkl/.pt, paired by sorted "
        "name): BAS of the generated and the reference music against it",
    )
    parser.add_argument("--fps", type=_positive_float, default=60.0, help="frame rate of --dance (default: 60)")
    parser.add_argument(
        "--metrics",
        help="music-quality metrics too, comma-separated, of fad, kl, clap (files then paired by name stem; "
        "Beats Coverage / Hit are always computed)",
    )
    parser.add_argument(
        "--captions", metavar="CSV", help="MusicCaps-format CSV (ytid, caption): each file's text for CLAP, by stem"
    )
    add_quality_model_options(parser)
    parser.add_argument(
        "--device", default=default_device(), help="torch device of the evaluation models (default: cuda if available)"
    )


def add_quality_model_options(parser: argparse.ArgumentParser) -> None:
    """The music-quality metrics' evaluation checkpoints: local files in their projects' published formats."""
    parser.add_argument("--vggish", metavar="FILE", help="torchvggish's vggish-10086976.pth (FAD)")
    parser.add_argument("--panns", metavar="FILE", help="PANNs' Cnn14 checkpoint, e.g. Cnn14_16k_mAP=0.438.pth (KL)")
    parser.add_argument("--clap", metavar="FILE", help="laion_clap's 630k-audioset-best.pt (CLAP score)")
    parser.add_argument(
        "--clap-text-model", metavar="DIR", help="roberta-base's tokenizer and config (CLAP's text branch)"
    )


def add_musiccaps_options(parser: argparse.ArgumentParser) -> None:
    """text2music on MusicCaps: the published text-to-music benchmark instead of the shard split."""
    parser.add_argument(
        "--musiccaps",
        metavar="CSV",
        help="MusicCaps' musiccaps-public.csv: run the published benchmark: each row's caption and the authors' "
        "motion prompt condition 10 s of music (guidance 3, top-k 250, seed 42), scored against --musiccaps-audio "
        "with FAD, KL and CLAP; --num-samples is unused",
    )
    parser.add_argument("--musiccaps-audio", metavar="DIR", help="the MusicCaps reference clips, named by ytid")
    parser.add_argument(
        "--metrics", help="music-quality metrics, comma-separated, of fad, kl, clap (default: all three)"
    )
    add_quality_model_options(parser)
    parser.add_argument(
        "--motion-prompt",
        choices=MOTION_PROMPTS,
        help="authors: the genre prompt (p = --aist-prob) or a HumanML3D caption, as the authors' script; none: an "
        "empty motion text (default: authors)",
    )
    parser.add_argument(
        "--aist-prob", type=float, help="probability of the genre prompt (default: 0.8; 1 needs no --humanml3d-texts)"
    )
    parser.add_argument("--humanml3d-texts", metavar="DIR", help="HumanML3D's texts/ (the captions drawn otherwise)")
    parser.add_argument("--text-tokenizer", help="sentencepiece model (default: the one in the shard manifest)")


def add_score_dance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generated",
        required=True,
        metavar="DIR",
        help="any system's dances: joint positions .npy [N,J,3] / .pkl (arrays only, e.g. EDGE's "
        "full_pose, or SMPL smpl_poses + smpl_trans) / .pt (tensors only)",
    )
    parser.add_argument(
        "--fps", type=_positive_float, default=60.0, help="frame rate of the --generated joints (default: 60)"
    )
    parser.add_argument(
        "--aist",
        required=True,
        metavar="DIR",
        help="AIST++ root (motions/*.pkl, splits/crossmodal_SPLIT.txt, ignore_list.txt): ground truth",
    )
    parser.add_argument("--split", default="test", help="AIST++ split of the ground truth (default: test)")
    parser.add_argument(
        "--music",
        metavar="DIR",
        help="the music each dance was made for (paired by sorted name): BAS; without it no BAS",
    )
    parser.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default=DEFAULT_PROTOCOL,
        help=f"dance-metric definitions (see music2motion; default: {DEFAULT_PROTOCOL})",
    )
    parser.add_argument(
        "--motion-fps",
        type=_positive_float,
        default=60.0,
        help="frame rate the metrics are computed at (default: 60, as AIST++)",
    )
    parser.add_argument(
        "--up-axis",
        choices=("y", "z"),
        default="y",
        help="the --generated joints' up axis: y (AIST++, HumanML3D) or z (EDGE's full_pose); z-up "
        "joints are rotated to y up (default: y)",
    )


def add_paper_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="exported model directory (unimumo-export / OUT/export)")
    parser.add_argument("--aist", required=True, metavar="DIR", help="AIST++ root (motions/, splits/, ignore_list.txt)")
    parser.add_argument("--aist-music", required=True, metavar="DIR", help="AIST++ music, one file per music id")
    parser.add_argument(
        "--segments", metavar="FILE", help="D2M-GAN's aist_motion_test_segment.txt: also the dance-to-music table"
    )
    parser.add_argument("--musicqa", metavar="FILE", help="MU-LLaMA's EvalMusicQA.txt: also the music-captioning table")
    parser.add_argument("--musicqa-audio", metavar="DIR", help="the MusicQA audio directory")
    parser.add_argument("--humanml3d", metavar="DIR", help="HumanML3D root: also the motion-captioning table")
    parser.add_argument("--bert-model", metavar="DIR", help="captioning's BERTScore model (local roberta-large)")
    parser.add_argument("--nltk-data", metavar="DIR", help="WordNet 3.0 for METEOR (music captioning)")
    parser.add_argument("--t2m-evaluator", metavar="DIR", help="T2M's checkpoints/t2m (motion captions' R-precision)")
    parser.add_argument("--glove", metavar="DIR", help="T2M's glove/ (with --t2m-evaluator)")
    parser.add_argument("--spacy-model", metavar="DIR", help="en_core_web_sm directory (with --t2m-evaluator)")
    parser.add_argument(
        "--musiccaps", metavar="CSV", help="MusicCaps' musiccaps-public.csv: also the text-to-music table (FAD/KL/CLAP)"
    )
    parser.add_argument("--musiccaps-audio", metavar="DIR", help="the MusicCaps reference clips, named by ytid")
    add_quality_model_options(parser)
    parser.add_argument("--humanml3d-texts", metavar="DIR", help="HumanML3D's texts/ (the authors' motion prompts)")
    parser.add_argument(
        "--shards",
        help="shard directory whose manifest names the tokenizers (default: the ones the export records in "
        "unimumo_tokenizers.json; each tokenizer option overrides)",
    )
    parser.add_argument("--music-codec", help="EnCodec directory")
    parser.add_argument("--motion-tokenizer", help="motion tokenizer directory")
    parser.add_argument("--text-tokenizer", help="sentencepiece model")
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="samples per model call (default: 16)")
    parser.add_argument(
        "--render",
        type=_int_at_least(0),
        help="write wav/npy/bvh/GIF for the first N music -> dance slices and the first N text -> music clips "
        "(default: 4; 0 = none)",
    )
    parser.add_argument("--device", default=default_device(), help="torch device (default: cuda if available)")


def add_caption_metric_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bert-model",
        metavar="DIR",
        help="local BERTScore model directory (the published scores use roberta-large); without it no BERTScore",
    )
    parser.add_argument(
        "--bert-layers",
        type=_positive_int,
        help="the BERTScore model's layer (default: 17, bert_score's for roberta-large)",
    )


def add_music_caption_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="exported model directory (unimumo-export / OUT/export)")
    parser.add_argument("--musicqa", required=True, metavar="FILE", help="MU-LLaMA's EvalMusicQA.txt")
    parser.add_argument("--musicqa-audio", required=True, metavar="DIR", help="the MusicQA audio directory")
    parser.add_argument("--shards", help="shard directory whose manifest names the tokenizers")
    parser.add_argument("--music-codec", help="EnCodec directory (default: the one in the --shards manifest)")
    parser.add_argument("--text-tokenizer", help="sentencepiece model (default: the one in the --shards manifest)")
    parser.add_argument("--num-beams", type=_positive_int, help="beam width (default: 4, the authors')")
    parser.add_argument("--max-length", type=_positive_int, help="longest caption in tokens (default: 256)")
    parser.add_argument("--max-seconds", type=_positive_int, help="clip length cap in seconds (default: 10)")
    parser.add_argument("--num-samples", type=_positive_int, help="the first N items (default: all)")
    parser.add_argument("--device", default=default_device(), help="torch device (default: cuda if available)")
    parser.add_argument(
        "--nltk-data",
        metavar="DIR",
        help="WordNet 3.0 for METEOR: an nltk_data directory (corpora/wordnet) or a WordNet dict "
        "directory (Debian's wordnet-base: /usr/share/wordnet); without it no METEOR",
    )
    add_caption_metric_options(parser)


def add_motion_caption_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="exported model directory (unimumo-export / OUT/export)")
    parser.add_argument(
        "--humanml3d",
        required=True,
        metavar="DIR",
        help="HumanML3D root: new_joint_vecs/<id>.npy, texts/<id>.txt, SPLIT.txt",
    )
    parser.add_argument("--split", help="HumanML3D split (default: test)")
    parser.add_argument("--shards", help="shard directory whose manifest names the tokenizers")
    parser.add_argument("--motion-tokenizer", help="motion tokenizer dir (default: the one in the --shards manifest)")
    parser.add_argument("--text-tokenizer", help="sentencepiece model (default: the one in the --shards manifest)")
    parser.add_argument("--num-beams", type=_positive_int, help="beam width (default: 4, the authors')")
    parser.add_argument("--max-length", type=_positive_int, help="longest caption in tokens (default: 256)")
    parser.add_argument("--seconds", type=_positive_float, help="motion length fed, cut or zero-padded (default: 10)")
    parser.add_argument("--num-samples", type=_positive_int, help="the first N motions (default: all)")
    parser.add_argument(
        "--bert-baseline",
        metavar="FILE",
        help="bert_score rescaling baseline (default: bert_score's en/roberta-large.tsv)",
    )
    parser.add_argument("--device", default=default_device(), help="torch device (default: cuda if available)")
    add_caption_metric_options(parser)
    parser.add_argument(
        "--t2m-evaluator",
        metavar="DIR",
        help="T2M's checkpoints/t2m (text_mot_match/model/finest.tar, Comp_v6_KLD005/meta/mean.npy, std.npy): "
        "R-precision and the matching score; with --glove and --spacy-model",
    )
    parser.add_argument(
        "--glove", metavar="DIR", help="T2M's glove/ (our_vab_data.npy, our_vab_words.pkl, our_vab_idx.pkl)"
    )
    parser.add_argument(
        "--spacy-model",
        metavar="DIR",
        help="spaCy pipeline directory tagging the generated captions (upstream: en_core_web_sm; "
        "pip install 'unimumo[eval]')",
    )
    parser.add_argument(
        "--r-precision-batch-size", type=_positive_int, help="captions ranked per batch (default: 32, as published)"
    )
    parser.add_argument("--r-precision-seed", type=int, help="seed of the entries' shuffle into batches (default: 0)")


def add_score_captions_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--references",
        required=True,
        metavar="JSON",
        help="JSON object id -> reference caption (humanml3d: or a list of captions)",
    )
    parser.add_argument("--candidates", required=True, metavar="JSON", help="JSON object id -> generated caption")
    parser.add_argument(
        "--protocol",
        required=True,
        choices=("musicqa", "humanml3d"),
        help="musicqa: My_Eval's music-caption metrics; humanml3d: TM2T's motion-caption metrics",
    )
    parser.add_argument("--nltk-data", metavar="DIR", help="WordNet 3.0 for METEOR (musicqa; see music-caption)")
    parser.add_argument("--bert-baseline", metavar="FILE", help="bert_score rescaling baseline (humanml3d)")
    parser.add_argument("--device", default=default_device(), help="torch device (default: cuda if available)")
    add_caption_metric_options(parser)


CONFIG_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {  # registry benchmarks' command lines
    "music-caption": add_music_caption_options,
    "motion-caption": add_motion_caption_options,
    "score-captions": add_score_captions_options,
    "score-music": add_score_music_options,
    "score-dance": add_score_dance_options,
    "paper": add_paper_options,
}
COMMANDS.update({name: ("unimumo.eval.benchmarks", BENCHMARKS[name].help) for name in CONFIG_OPTIONS})
# `music2motion --aist-music DIR` / `motion2music --segments FILE` run these registry benchmarks (the published
# inputs) instead of the shard split
AIST_BENCHMARKS = {"music2motion": "music2motion-aist", "motion2music": "motion2music-aist"}


def add_segments_options(parser: argparse.ArgumentParser) -> None:
    """motion2music on the published inputs: D2M-GAN's AIST++ test segments instead of the shard split."""
    parser.add_argument(
        "--segments",
        metavar="FILE",
        help="D2M-GAN's segment list (dataset/aist_motion_test_segment.txt, lines "
        "..._c01_..._segN.npy): run the published benchmark: each 2 s AIST++ segment (--aist) "
        "conditions the music, scored against the same 2 s of its real music (--aist-music) "
        "with Beats Coverage / Hit and BAS; the authors' settings (guidance 3, seed 42, empty "
        "texts)",
    )
    parser.add_argument("--aist", metavar="DIR", help="AIST++ root (motions/*.pkl) for --segments")
    parser.add_argument("--aist-music", metavar="DIR", help="AIST++ music, one file per music id, for --segments")
    parser.add_argument("--text-tokenizer", help="sentencepiece model (default: the one in the shard manifest)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == "render":
            add_render_options(sub)
            continue
        if name in CONFIG_OPTIONS:
            CONFIG_OPTIONS[name](sub)
            sub.add_argument("--out", required=True, help="output directory (metrics.json, metrics.md)")
            sub.add_argument("--print-config", action="store_true", help="print the validated config and exit")
            continue
        add_common_options(sub)
        (add_caption_options if name == "caption" else add_generation_options)(sub)
        if name in ("music2motion", "text2music"):
            add_dance_options(sub, motion_text=name == "music2motion")
        if name == "text2music":
            add_musiccaps_options(sub)
        if name == "motion2music":
            add_segments_options(sub)
    return parser


def _runner(command: str) -> Callable[[argparse.Namespace], dict]:
    import importlib

    return importlib.import_module(COMMANDS[command][0]).run


def _print_table(table: dict) -> None:
    for column, values in table.items():
        shown = ", ".join(
            f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4f}" for k, v in values.items() if v is not None
        )
        print(f"  {column}: {shown}")


def run_config_command(args: argparse.Namespace, benchmark: str) -> int:
    """A registry benchmark: its config from the command line (validated once), printed or run."""
    prog = f"unimumo-eval {args.command}"

    def body() -> int:
        config = config_from_args(benchmark_named(benchmark).config, args)
        if args.print_config:
            print(describe(config))
            return 0
        try:
            with run_lock(config.out, "eval", prog):  # one writer per output directory
                table = run_benchmark(benchmark, config)
        except ValueError as error:
            if isinstance(error, UniMuMoError):
                raise
            print(f"{prog}: error: {error}", file=sys.stderr)  # the eval modules' ValueErrors, as the other commands
            return 2
        print(
            "wrote "
            + ", ".join(
                f"{config.out}/{name}"
                for name in benchmark_named(benchmark).writes
                if (Path(config.out) / name).is_file()
            )
        )
        _print_table(table)
        return 0

    return run_command(prog, body, getattr(args, "log_level", "info"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in CONFIG_OPTIONS:
        return run_config_command(args, args.command)
    if getattr(args, "musiccaps", None):
        return run_config_command(args, "text2music-musiccaps")
    if getattr(args, "aist_music", None) or getattr(args, "segments", None):
        return run_config_command(args, AIST_BENCHMARKS[args.command])
    if args.command != "render" and not args.shards:
        print(f"unimumo-eval {args.command}: error: --shards DIR is required", file=sys.stderr)
        return 2
    try:  # the shard benchmarks' runners take their validated config (render, not a benchmark, its arguments)
        config = args if args.command == "render" else config_from_args(SHARD_CONFIGS[args.command], args)
        if getattr(args, "print_config", False):
            print(describe(config))
            return 0
        with run_lock(args.out, "eval", f"unimumo-eval {args.command}"):  # one writer per output directory
            if hasattr(args, "protocol") and ground_truth_kind(args) == "reconstruction":
                print(f"unimumo-eval {args.command}: {NOT_COMPARABLE}")  # before generating, and in the summary
            table = _runner(args.command)(config)
    except (ValueError, FileNotFoundError, RunLockError) as error:
        print(f"unimumo-eval {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/metrics.json and {args.out}/metrics.md")
    if hasattr(args, "protocol"):
        print(
            f"  protocol: {args.protocol}"
            + (f", motion text: {args.motion_text}" if hasattr(args, "motion_text") else "")
            + f", ground truth: {ground_truth_kind(args)}"
        )
        if ground_truth_kind(args) == "reconstruction":
            print(f"  {NOT_COMPARABLE}")
    for column, values in table.items():
        shown = ", ".join(
            f"{k}={v}" if isinstance(v, int) else f"{k}={v:.4f}" for k, v in values.items() if v is not None
        )
        print(f"  {column}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
