"""`unimumo-shards`: write a synthetic corpus, build tokenized WebDataset shards, verify and inspect them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from unimumo.rhythm import BEAT_TRACKERS, DEFAULT_BEAT_TRACKER

EXIT_FAILURES = 2  # build finished but too many inputs failed / verify found problems
EXIT_USAGE = 3  # bad arguments or output directory state
RENAMED_OPTIONS = {"--motion-codec": "--motion-tokenizer"}  # deprecated alias -> option


class RenamedOption(argparse.Action):
    """Store the value; when given under a deprecated alias (RENAMED_OPTIONS), say so on stderr."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string in RENAMED_OPTIONS:
            print(
                f"{parser.prog}: DeprecationWarning: {option_string} is deprecated and will be removed; "
                f"use {RENAMED_OPTIONS[option_string]}",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)


def synth_command(args: argparse.Namespace) -> int:
    from unimumo.data.synthetic_corpus import SyntheticCorpusConfig, write_synthetic_corpus

    try:
        out = write_synthetic_corpus(
            args.out, SyntheticCorpusConfig(tracks=args.tracks, motions=args.motions, seed=args.seed)
        )
    except ValueError as error:
        print(f"unimumo-shards synth: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"synthetic corpus written to {out} (music4all/, aist/, humanml3d/, models/, corpus.json)")
    return 0


def build_command(args: argparse.Namespace) -> int:
    from unimumo.data.build_config import BuildConfig
    from unimumo.data.pairing import parse_source_weights
    from unimumo.data.shard_builder import BuildError, build_split
    from unimumo.data.split_lists import parse_list_files
    from unimumo.utils.run_lock import RunLockError

    try:
        config = BuildConfig(
            music4all=args.music4all,
            aist=args.aist,
            humanml3d=args.humanml3d,
            music_codec=args.music_codec,
            motion_tokenizer=args.motion_tokenizer,
            text_tokenizer=args.text_tokenizer,
            out=args.out,
            split=args.split,
            workers=args.workers,
            shard_size_mb=args.shard_size_mb,
            pairs_per_track=args.pairs_per_track,
            seed=args.seed,
            resume=args.resume,
            max_failure_fraction=args.max_failure_fraction,
            min_beat_seconds=args.min_beat_seconds,
            beat_tracker=args.beat_tracker,
            beat_checkpoint=args.beat_checkpoint,
            device=args.device,
            codec_batch=args.codec_batch,
            slice=args.slice,
            tile=not args.no_tile,
            source_weights=parse_source_weights(args.source_weight, args.source_recipe),
            music_captions=args.music_captions,
            motion_captions=args.motion_captions,
            dancedb=args.dancedb,
            split_files={
                source: paths[-1]
                for source, paths in parse_list_files(args.split_file, "--split-file", every_source=False).items()
            },
            ignore_lists=parse_list_files(args.ignore_list, "--ignore-list", every_source=True),
        ).validate()
        report = build_split(config, progress=not args.no_progress)
    except (BuildError, ValueError, FileNotFoundError, RunLockError) as error:
        print(f"unimumo-shards build: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(asdict(report), indent=2))
    if not report.ok:
        print(
            f"unimumo-shards build: {report.failures} of {report.inputs} inputs failed "
            f"({report.failure_fraction:.1%} > --max-failure-fraction {config.max_failure_fraction:.1%}); "
            f"see {config.output_dir / 'failures.jsonl'}",
            file=sys.stderr,
        )
        return EXIT_FAILURES
    return 0


def merge_command(args: argparse.Namespace) -> int:
    from unimumo.data.shard_merge import MergeError, merge_slices, slice_dirs

    try:
        if args.out is None:
            if len(args.dirs) != 1:
                raise MergeError(
                    "give one OUT directory (its slices/*-of-* are merged into it), or the slice directories and --out"
                )
            dirs, out = slice_dirs(args.dirs[0]), args.dirs[0]
        else:
            dirs, out = args.dirs, args.out
        manifest = merge_slices(dirs, out)
    except (MergeError, FileNotFoundError) as error:
        print(f"unimumo-shards merge: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for split, summary in manifest.splits.items():
        print(
            f"merged {split}: {summary['samples']} samples in {summary['shards']} shards from "
            f"{summary['build_args']['slices']} slices, {summary['failures']} failed and "
            f"{sum(summary['skipped'].values())} skipped inputs"
        )
    print(f"manifest written to {manifest.path}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from unimumo.shards.verify import verify_shards

    problems, stats = verify_shards(
        args.shards,
        music_codec=args.music_codec,
        motion_tokenizer=args.motion_tokenizer,
        text_tokenizer=args.text_tokenizer,
        check_tokenizers=not args.skip_tokenizers,
        progress=not args.no_progress,
    )
    for problem in problems:
        print(f"FAIL {problem}")
    status = "OK" if not problems else f"{len(problems)} problem(s)"
    print(
        f"verify {args.shards}: {stats.get('shards', 0)} shards, {stats.get('samples', 0)} samples, "
        f"{stats.get('failures', 0)} failed inputs (failures.jsonl), {stats.get('skipped', 0)} skipped inputs "
        f"(skipped.jsonl): {status}"
    )
    return EXIT_FAILURES if problems else 0


def inspect_command(args: argparse.Namespace) -> int:
    from unimumo.shards.inspection import sample_lines, summary_lines

    try:
        lines = summary_lines(Path(args.shards)) + sample_lines(Path(args.shards), args.split, args.samples)
    except (ValueError, FileNotFoundError) as error:
        print(f"unimumo-shards inspect: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-shards",
        description="Offline data pipeline: raw Music4All + AIST++/HumanML3D -> tokenized, beat-aligned "
        "music-motion pairs in WebDataset shards (with manifest.json, failures.jsonl and skipped.jsonl).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser(
        "synth",
        help="write a small synthetic corpus in the real on-disk formats "
        "plus tiny random-weight EnCodec/T5/motion VQ-VAE and a sentencepiece model",
    )
    synth.add_argument("--out", required=True, type=Path, help="output directory")
    synth.add_argument("--tracks", type=int, default=12, help="good music tracks (broken/ignored ones are extra)")
    synth.add_argument("--motions", type=int, default=12, help="good motions, 2/3 AIST++ and 1/3 HumanML3D")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=synth_command)

    build = commands.add_parser("build", help="tokenize and pair one split into shards/NAME/{split}-000000.tar ...")
    build.add_argument("--music4all", required=True, type=Path, help="Music4All root (audios/, id_*.csv, splits/)")
    build.add_argument("--aist", type=Path, help="AIST++ root (motions/*.pkl, splits/, ignore_list.txt)")
    build.add_argument("--humanml3d", type=Path, help="HumanML3D root (new_joint_vecs/, texts/, {split}.txt)")
    build.add_argument(
        "--dancedb",
        type=Path,
        help="DanceDB in the AMASS SMPL-H format: .npz takes (poses, trans, mocap_framerate) anywhere "
        "under DIR, ids = file names; DIR/dancedb_{split}.txt lists a split's ids (the authors' "
        "are in hanyangclarence/UniMuMo data/motion/; without them every take is train), "
        "DIR/ignore_list.txt ids never used. Source name dancedb",
    )
    build.add_argument("--music-codec", required=True, type=Path, help="EncodecModel directory (save_pretrained)")
    build.add_argument(
        "--motion-tokenizer",
        "--motion-codec",
        required=True,
        type=Path,
        action=RenamedOption,
        help="MotionTokenizer directory (--motion-codec: old name)",
    )
    build.add_argument("--text-tokenizer", required=True, type=Path, help="sentencepiece .model file")
    build.add_argument("--out", required=True, type=Path, help="shard directory, e.g. shards/NAME")
    build.add_argument("--split", required=True, choices=("train", "val", "test"))
    build.add_argument("--workers", type=int, default=1, help="worker processes (default 1 = in this process)")
    build.add_argument("--shard-size-mb", type=float, default=256.0, help="max shard size (rolls over per track)")
    build.add_argument("--pairs-per-track", type=int, default=5, help="motions paired with each track (K)")
    build.add_argument("--seed", type=int, default=0, help="seed of pairing, placement and caption choices")
    build.add_argument("--resume", action="store_true", help="continue an interrupted build (same arguments)")
    build.add_argument(
        "--max-failure-fraction",
        type=float,
        default=0.05,
        help="exit 2 (after writing everything) when more than this fraction of the inputs "
        "(tracks + motion files, ignore-listed ones excluded) failed (default 0.05)",
    )
    build.add_argument(
        "--min-beat-seconds",
        type=float,
        default=10.0,
        help="skip tracks with less time than this between first and last beat (default 10)",
    )
    # checked once, with the other build arguments (BuildConfig.validate -> unimumo.rhythm.require_beat_tracker)
    build.add_argument(
        "--beat-tracker",
        metavar="{" + ",".join(BEAT_TRACKERS) + "}",
        default=DEFAULT_BEAT_TRACKER,
        help="music beat tracker, beats untrimmed at the edges (default steady: one tempo per clip, "
        "then dynamic programming, then the beat phase: bass and snare against the off-beats; see "
        "unimumo.rhythm.steady_beats). On 18 real annotated songs held "
        "out from steady's tuning (benchmarks/beats.py) mean F-measure steady 0.86, essentia 0.85, "
        "librosa 0.74; tempo within 4 %% on 17, 15 and 12 of them. essentia is AGPL-3.0-only, so it "
        'is optional: pip install "unimumo[beats]"; beat_this runs the Beat This! network (CPJKU/beat_this, MIT) '
        "with weights you have (--beat-checkpoint)",
    )
    build.add_argument(
        "--beat-checkpoint",
        type=Path,
        help="with --beat-tracker beat_this: a published Beat This! checkpoint file (e.g. final0.ckpt; read as "
        "weights only, nothing is downloaded)",
    )
    build.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where both frozen models run (default cpu): the music codec in batches of --codec-batch "
        "tracks, the motion tokenizer on those tracks' pairs (one call per motion frame rate, in "
        "batches of its batch size); decoding, beat tracking and pairing (warping, motion "
        "features, captions) run in the --workers processes on the CPU meanwhile. With cpu, the "
        "motion tokenizer runs in the workers too, one chunk per worker",
    )
    build.add_argument(
        "--codec-batch",
        type=int,
        default=8,
        help="tracks per chunk: a codec forward pass (equal-length clips share it) and the motion "
        "tokenizer over the chunk's pairs (default 8). Recorded with "
        "--device: a resumed or merged build must use the same values",
    )
    build.add_argument(
        "--slice",
        metavar="I/N",
        help="build only slice I of N (0 <= I < N) of the split, into OUT/slices/I-of-N; slices are "
        "disjoint runs of the plan, resumable one by one; combine them with `unimumo-shards merge "
        "OUT` (slurm/build_shards.sh runs one slice per array task)",
    )
    build.add_argument(
        "--no-tile",
        action="store_true",
        help="pair a motion shorter than its track with only as much music as it lasts (padded in "
        "training windows). By default it is repeated to fill the track, as the authors do: looped "
        'between two visual beats and blended over 0.25 s at each seam (sample meta "tiling")',
    )
    build.add_argument(
        "--source-recipe",
        metavar="{uniform,unimumo}",
        default="uniform",
        help="motion draw weights per source: uniform (every motion alike, the default) or unimumo "
        "(the authors' recipe: aist=30, dancedb=30, humanml3d=1, i.e. every dance motion listed "
        "30 times in the pool, from their get_aligned_motion_code.py; about half the pairs are "
        "dance with the full corpora)",
    )
    build.add_argument(
        "--source-weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="draw weight of the motions of source NAME (aist, dancedb, humanml3d; default 1), "
        "over the --source-recipe value; repeatable, e.g. --source-weight aist=30 "
        "--source-weight dancedb=30. Recorded in the manifest; `inspect` shows the share realised",
    )
    build.add_argument(
        "--music-captions",
        type=Path,
        metavar="FILE",
        help="music captions by Music4All id: CSV with the header id,caption, JSON lines "
        '({"id": ..., "caption": ...} per line, .jsonl) or one JSON object {id: [captions]} '
        "(.json, as the authors' music4all_captions_gpt.json); several per id give several "
        "captions (one drawn per pair). Tracks without an entry get a caption from their "
        "metadata; the manifest counts both. A bad row is an error naming file and line",
    )
    build.add_argument(
        "--motion-captions",
        type=Path,
        metavar="FILE",
        help="motion descriptions by motion id (AIST++ sequence name, HumanML3D id, DanceDB file "
        "name without .npz), same formats, used in the authors' sentence \"The "
        'motion is that {desc}."; motions without an entry use their HumanML3D texts, else '
        'their genre ("The style of the dance is {genre}.") or DanceDB feeling',
    )
    build.add_argument(
        "--split-file",
        action="append",
        default=[],
        metavar="SOURCE=FILE",
        help="ids of this split for SOURCE (music4all, aist, humanml3d, dancedb), one a line, in "
        "place of the corpus's own split file; repeatable. The authors' splits are in "
        "hanyangclarence/UniMuMo: data/music/music4all_{split}.txt, data/motion/"
        "{aist,humanml3d,dancedb}_{split}.txt (their AIST++ split is not the crossmodal one read "
        "by default); see unimumo/data/split_lists.py",
    )
    build.add_argument(
        "--ignore-list",
        action="append",
        default=[],
        metavar="[SOURCE=]FILE",
        help="ids never used (skip records naming FILE), on top of the corpora's own ignore lists; "
        "without SOURCE= for every corpus; repeatable. The authors': data/music/"
        "music4all_ignore.txt (music4all=) and data/motion/ignore_list.txt (all motion corpora)",
    )
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=build_command)

    merge = commands.add_parser(
        "merge",
        help="combine slice builds (build --slice I/N) into one shard directory",
        description="Combine the slices of a sliced build into one manifest. `merge OUT` merges OUT/slices/*-of-* "
        "into OUT; `merge DIR... --out OUT` merges the given slice directories. Every slice 0..N-1 of "
        "every split must be complete; shard checksums are verified, and slices built with other "
        "tokenizers or build arguments are refused. Shards are hard-linked (copied across file systems) "
        "and renumbered; manifest.json is written last, so a failed merge leaves none.",
    )
    merge.add_argument("dirs", nargs="+", type=Path, help="OUT (with slices/), or slice directories with --out")
    merge.add_argument("--out", type=Path, help="merged shard directory (when slice directories are given)")
    merge.set_defaults(func=merge_command)

    verify = commands.add_parser("verify", help="check checksums, counts, decodability and tokenizer fingerprints")
    verify.add_argument("shards", type=Path, help="shard directory with manifest.json")
    verify.add_argument("--music-codec", type=Path, help="EncodecModel dir to check (default: path in manifest)")
    verify.add_argument(
        "--motion-tokenizer",
        "--motion-codec",
        type=Path,
        action=RenamedOption,
        help="MotionTokenizer dir to check (default: path in manifest; --motion-codec: old name)",
    )
    verify.add_argument("--text-tokenizer", type=Path, help="sentencepiece model to check (default: path in manifest)")
    verify.add_argument("--skip-tokenizers", action="store_true", help="do not load tokenizers to compare fingerprints")
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify.set_defaults(func=verify_command)

    inspect = commands.add_parser("inspect", help="print a summary and a few samples")
    inspect.add_argument("shards", type=Path, help="shard directory with manifest.json")
    inspect.add_argument("--split", choices=("train", "val", "test"), help="only samples of this split")
    inspect.add_argument("--samples", type=int, default=3, help="how many samples to print (default 3)")
    inspect.set_defaults(func=inspect_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
