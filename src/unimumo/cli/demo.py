"""`unimumo-demo`: the whole pipeline in one command, from raw data to metrics, a wav and a dance GIF.

Steps, each a real command of this package run as a subprocess (logs in WORK/logs/):

1. corpus        `unimumo-shards synth` (skipped when real data directories are given)
2. motion_vqvae  train the motion VQ-VAE briefly with DeepSpeed (skipped with --motion-tokenizer), validated on
                 the corpus's held-out val motions (reconstruction error in mm)
3. shards        `unimumo-shards build` for train / val / test with the frozen tokenizers
4. the chain     `unimumo-train --recipe STAGE` on N ranks (torchrun) for every stage of the registry's chain
                 (`unimumo-train --list-stages`): stage1_motion from MUSICGEN (the synthetic corpus brings a
                 tiny random MusicgenForConditionalGeneration, models/musicgen), stage2_joint from stage 1's
                 export, caption from stage 2's export; each validated 4 times on the val shards (best/ export,
                 the curves in the summary)
5. eval          `unimumo-eval music2motion` on the model of the last stage that generates music and motion,
                 `unimumo-eval caption` (BLEU/ROUGE-L) on the captioner, both on the test split (the Music4All
                 shards: not a published benchmark; the music beats of this music2motion table come from the
                 codec-decoded music, which the synthetic corpus's random codec does not keep)
6. paper         `unimumo-eval paper` on an AIST++-layout set made from the synthetic corpus (its dances, their
                 beat-track music by music id, D2M-GAN's segment list): the published benchmarks' inputs and
                 protocol, the music beats read from the real music, the tokenizers from the export's record;
                 WORK/paper_tables.md (synthetic corpus only: real AIST++ music is not among the demo's inputs)

On the synthetic corpus the captioner also runs `unimumo-eval music-caption` and `motion-caption` on MusicQA- and
HumanML3D-format sets made from the corpus (`unimumo.data.synthetic_caption_sets`), printed labelled as tiny models.

A step whose output is complete is skipped, so an interrupted demo continues where it stopped. Progress goes
to the log (stderr); the final summary is printed.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from unimumo.cli.common import add_log_level, run_command
from unimumo.shards.manifest import Manifest
from unimumo.train.stages import Stage, chain
from unimumo.train.validation import read_best, validation_curve
from unimumo.utils.io import atomic_write_text
from unimumo.utils.log import get_logger

logger = get_logger(__name__)


DEFAULT_STEPS = 40  # training steps of a stage of the chain without a default of its own
CHAIN_STEP_FLAGS = ("--stage1-steps", "--stage2-steps", "--caption-steps")  # steps of the chain's stages, in order


@dataclass
class DemoConfig:
    work_dir: Path
    music4all: Path | None = None
    aist: Path | None = None
    humanml3d: Path | None = None
    music_codec: Path | None = None
    text_model: Path | None = None
    musicgen: Path | None = None
    text_tokenizer: Path | None = None
    motion_tokenizer: Path | None = None
    nproc: int = 2
    ds_config: str = "zero2"
    vqvae_steps: int = 200
    chain_steps: tuple[int, ...] = (40, 40, 20)  # steps of each stage of the chain, in order (later ones: 40)
    window_s: float = 5.0  # LM training window (250 code steps)
    lm_lr: float = 1e-3
    eval_samples: int = 8
    eval_seconds: float = 5.0
    shard_size_mb: float = 0.2  # small shards so every rank and worker of the demo gets some
    tracks: int = 12
    motions: int = 12
    seed: int = 0
    extra_train_args: list[str] = field(default_factory=list)
    paper_sequences: int = 4  # AIST++-layout test sequences of the paper step (synthetic corpus)
    paper_music_seconds: float = 5.5  # their music's length: 2 EDGE slices (5 s, 0.5 s stride) and 2 s segments

    def validate(self) -> DemoConfig:
        real = [self.music4all, self.aist]
        if any(real) and not all(real):
            raise SystemExit("unimumo-demo: give both --music4all and --aist (and optionally --humanml3d), or neither")
        if self.music4all and not all([self.music_codec, self.text_model, self.text_tokenizer, self.musicgen]):
            raise SystemExit(
                "unimumo-demo: real data needs --music-codec, --text-model, --text-tokenizer and "
                "--musicgen (local directories; nothing is downloaded)"
            )
        for name in (
            "music4all",
            "aist",
            "humanml3d",
            "music_codec",
            "text_model",
            "musicgen",
            "text_tokenizer",
            "motion_tokenizer",
        ):
            path = getattr(self, name)
            if path is not None and not Path(path).exists():
                raise SystemExit(f"unimumo-demo: --{name.replace('_', '-')} {path} does not exist")
        if self.nproc < 1:
            raise SystemExit("unimumo-demo: --nproc must be >= 1")
        return self

    def steps(self, position: int) -> int:
        """Training steps of the chain's stage at `position` (0: the first)."""
        return self.chain_steps[position] if position < len(self.chain_steps) else DEFAULT_STEPS

    @property
    def synthetic(self) -> bool:
        return self.music4all is None

    def corpus(self, name: str) -> Path:
        return self.work_dir / "corpus" / name


def generating_stage() -> Stage:
    """The last stage of the chain that trains music and motion together: music->motion is evaluated on it."""
    return [stage for stage in chain() if {"music", "motion"} <= (stage.trained_groups or set())][-1]


def captioning_stage() -> Stage:
    """The last stage of the chain that trains the captioning modules: captioning is evaluated on it."""
    return [stage for stage in chain() if "captioning" in (stage.trained_groups or set())][-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def split_built(shards: Path, split: str) -> bool:
    """Whether manifest.json records `split` as built (the builder adds it only when the split is complete)."""
    return split in Manifest.load(shards, missing_ok=True).splits


def run_step(name: str, command: list[str], work_dir: Path, done: Callable[[], bool]) -> None:
    """Run one step unless `done()` says its output is complete; log to WORK/logs/NAME.log; fail loudly."""
    if done():
        logger.info("%s: already done, skipping", name)
        return
    log = work_dir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: %s", name, shlex.join(command))
    started = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), PYTHONUNBUFFERED="1")
    with open(log, "w") as handle:
        proc = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise SystemExit(f"[demo] step {name!r} failed with exit code {proc.returncode}; log: {log}\n{tail}")
    if not done():
        raise SystemExit(f"[demo] step {name!r} finished but did not produce its output; log: {log}")
    logger.info("%s: done in %.0fs (log %s)", name, time.perf_counter() - started, log)


def global_batch(micro_batch: int, nproc: int, at_least: int) -> int:
    """The smallest multiple of micro_batch x nproc that is >= at_least (unimumo-train needs whole accumulation)."""
    per_step = micro_batch * nproc
    return per_step * -(-at_least // per_step)


def module(name: str) -> list[str]:
    """Run a console script as `python -m` with this interpreter: works whether or not the venv is activated."""
    return [sys.executable, "-m", name]


def motion_sources(config: DemoConfig) -> list[str]:
    """The raw motion roots as flags (--aist, and --humanml3d when given), the same for the VQ-VAE and the build."""
    return ["--aist", str(config.aist)] + (["--humanml3d", str(config.humanml3d)] if config.humanml3d else [])


def validation_args(steps: int) -> list[str]:
    """Four validation passes over a run of `steps` steps, two micro batches of the val split each."""
    return ["--set", f"validation.every={max(1, steps // 4)}", "--set", "validation.batches=2"]


def validation_table(runs: list[Path]) -> list[str]:
    """Summary lines: each run's validation curve, `step: val/loss` (VQ-VAE: and MPJPE), * marking best/."""
    lines = []
    for run in runs:
        curve, best = validation_curve(run), read_best(run).get("step")
        points = []
        for step, values in sorted(curve.items()):
            loss, mpjpe = values.get("loss"), values.get("mpjpe_mm")
            point = f"{step}: {'nan' if loss is None else f'{loss:.3f}'}"
            point += f" ({mpjpe:.0f} mm)" if mpjpe is not None else ""
            points.append(point + ("*" if step == best else ""))
        if points:
            lines.append(f"    {run.name:<16}{'  '.join(points)}")
    header = "  validation        held-out loss by step (* = best/, the lowest; VQ-VAE: and MPJPE)"
    return [header, *lines] if lines else []


def torchrun(config: DemoConfig, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(config.nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "unimumo.cli.train",
        *args,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work-dir", type=Path, default=Path("demo_out"), help="where everything is written (default %(default)s)"
    )
    parser.add_argument("--music4all", type=Path, help="real Music4All root (default: synthetic corpus)")
    parser.add_argument("--aist", type=Path, help="real AIST++ root")
    parser.add_argument("--humanml3d", type=Path, help="real HumanML3D root (optional)")
    parser.add_argument("--music-codec", type=Path, help="local EnCodec directory (transformers format)")
    parser.add_argument("--text-model", type=Path, help="local T5ForConditionalGeneration directory")
    parser.add_argument(
        "--musicgen", type=Path, help="local MusicGen directory the first stage of the chain starts from"
    )
    parser.add_argument("--text-tokenizer", type=Path, help="sentencepiece model file matching the T5 vocabulary")
    parser.add_argument("--motion-tokenizer", type=Path, help="pretrained motion VQ-VAE directory (skips its training)")
    parser.add_argument(
        "--nproc", type=int, default=DemoConfig.nproc, help="training ranks (torchrun processes) (default %(default)s)"
    )
    parser.add_argument(
        "--ds-config",
        default=DemoConfig.ds_config,
        help="DeepSpeed config name in ds_configs/ or a JSON path (default %(default)s)",
    )
    parser.add_argument(
        "--vqvae-steps",
        type=int,
        default=DemoConfig.vqvae_steps,
        help="motion VQ-VAE training steps (default %(default)s)",
    )
    for position, (flag, stage) in enumerate(zip(CHAIN_STEP_FLAGS, chain())):
        parser.add_argument(
            flag,
            type=int,
            dest=f"chain_steps_{position}",
            default=DemoConfig.chain_steps[position],
            metavar="N",
            help=f"{stage.name} training steps (default %(default)s)",
        )
    parser.add_argument(
        "--eval-samples",
        type=int,
        default=DemoConfig.eval_samples,
        help="music->motion evaluation samples (test split) (default %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DemoConfig.seed,
        help="seed of the corpus, the builds, training and sampling (default %(default)s)",
    )
    parser.add_argument(
        "--train-arg",
        action="append",
        default=[],
        dest="extra_train_args",
        metavar="KEY=VALUE",
        help="extra --set override passed to every stage of the chain (repeatable)",
    )
    add_log_level(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    log_level = args.pop("log_level")
    positions = sorted((name for name in args if name.startswith("chain_steps_")), key=lambda n: int(n.split("_")[-1]))
    args["chain_steps"] = tuple(args.pop(name) for name in positions)
    return run_command("unimumo-demo", lambda: run_demo(DemoConfig(**args).validate()), log_level)


def run_demo(config: DemoConfig) -> int:
    """Every step of the demo (each skipped when its output is complete); prints the summary."""
    config.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    work = config.work_dir

    synthetic = config.synthetic
    if synthetic:
        run_step(
            "corpus",
            [
                *module("unimumo.cli.shards"),
                "synth",
                "--out",
                str(work / "corpus"),
                "--tracks",
                str(config.tracks),
                "--motions",
                str(config.motions),
                "--seed",
                str(config.seed),
            ],
            work,
            done=config.corpus("corpus.json").exists,
        )
        config = replace(
            config,
            music4all=config.corpus("music4all"),
            aist=config.corpus("aist"),
            humanml3d=config.corpus("humanml3d"),
            music_codec=config.corpus("models/encodec"),
            text_model=config.corpus("models/t5"),
            text_tokenizer=config.corpus("models/text_tokenizer.model"),
            musicgen=config.corpus("models/musicgen"),
        )

    motion_tokenizer = config.motion_tokenizer
    if motion_tokenizer is None:
        vq_run = work / "runs" / "motion_vqvae"
        run_step(
            "motion_vqvae",
            torchrun(
                config,
                "--recipe",
                "motion_vqvae",
                "--out",
                str(vq_run),
                *motion_sources(config),
                "--ds-config",
                config.ds_config,
                "--set",
                f"steps={config.vqvae_steps}",
                "--set",
                "schedule.warmup_steps=5",
                "--set",
                f"data.global_batch={global_batch(16, config.nproc, 32)}",
                "--set",
                "data.micro_batch=16",
                "--set",
                f"seed={config.seed}",
                *validation_args(config.vqvae_steps),
                *(["--set", "model.preset=tiny"] if synthetic else []),
            ),
            work,
            done=(vq_run / "export" / "config.json").exists,
        )
        motion_tokenizer = vq_run / "export"

    shards = work / "shards" / "demo"
    for split in ("train", "val", "test"):
        run_step(
            f"shards_{split}",
            [
                *module("unimumo.cli.shards"),
                "build",
                "--music4all",
                str(config.music4all),
                *motion_sources(config),
                "--music-codec",
                str(config.music_codec),
                "--motion-tokenizer",
                str(motion_tokenizer),
                "--text-tokenizer",
                str(config.text_tokenizer),
                "--out",
                str(shards),
                "--split",
                split,
                "--seed",
                str(config.seed),
                "--resume",
                "--no-progress",
                "--shard-size-mb",
                str(config.shard_size_mb),
                # the synthetic corpus holds deliberately broken inputs; they are recorded in failures.jsonl
                *(["--max-failure-fraction", "0.5"] if synthetic else []),
            ],
            work,
            done=functools.partial(split_built, shards, split),
        )

    lm_args = [
        "--shards",
        str(shards),
        "--text-model",
        str(config.text_model),
        "--ds-config",
        config.ds_config,
        "--set",
        f"data.window_s={config.window_s}",
        "--set",
        f"data.global_batch={global_batch(4, config.nproc, 8)}",
        "--set",
        "data.micro_batch=4",
        "--set",
        "data.num_workers=1",
        "--set",
        "schedule.warmup_steps=5",
        "--set",
        "log.every=5",
        "--set",
        f"seed={config.seed}",
        # a few dozen steps only show a falling loss with a learning rate far above the reference
        "--set",
        f"optim.lr={config.lm_lr}",
    ]
    for extra in config.extra_train_args:
        lm_args += ["--set", extra]
    runs = {}  # stage name -> run directory, in chain order
    for position, stage in enumerate(chain()):
        runs[stage.name] = run = work / "runs" / stage.name
        start = config.musicgen if stage.starts_from is None else runs[stage.starts_from] / "export"
        run_step(
            stage.name,
            torchrun(
                config,
                "--recipe",
                stage.name,
                "--out",
                str(run),
                *lm_args,
                "--init-from",
                str(start),
                "--set",
                f"steps={config.steps(position)}",
                *validation_args(config.steps(position)),
                "--resume",
            ),
            work,
            done=(run / "export" / "config.json").exists,
        )
    generator, captioner = runs[generating_stage().name], runs[captioning_stage().name]

    evaluation = work / "eval" / "music2motion"
    run_step(
        "eval",
        [
            *module("unimumo.cli.eval"),
            "music2motion",
            "--model",
            str(generator / "export"),
            "--shards",
            str(shards),
            "--split",
            "test",
            "--num-samples",
            str(config.eval_samples),
            "--seconds",
            str(config.eval_seconds),
            "--guidance-scale",
            "4",
            "--motion-tokenizer",
            str(motion_tokenizer),
            "--music-codec",
            str(config.music_codec),
            "--seed",
            str(config.seed),
            "--out",
            str(evaluation),
        ],
        work,
        done=(evaluation / "metrics.json").exists,
    )
    captions = work / "eval" / "caption"
    run_step(
        "eval_caption",
        [
            *module("unimumo.cli.eval"),
            "caption",
            "--model",
            str(captioner / "export"),
            "--shards",
            str(shards),
            "--split",
            "test",
            "--num-samples",
            str(config.eval_samples),
            "--seconds",
            str(config.eval_seconds),
            "--num-beams",
            "1",
            "--max-length",
            "16",
            "--out",
            str(captions),
        ],
        work,
        done=(captions / "metrics.json").exists,
    )
    published_captions = run_published_captions(config, captioner / "export", shards) if synthetic else []
    quality = [run_musiccaps(config, generator / "export", shards)] if synthetic else []

    paper_tables = run_paper(config, generator / "export") if synthetic else None

    summary = "\n".join(
        [
            f"UniMuMo demo finished in {time.perf_counter() - started:.0f}s. Outputs under {work}/:",
            f"  shards            {shards} (manifest.json, failures.jsonl)",
            f"  motion tokenizer  {motion_tokenizer}",
            f"  training runs     {', '.join(map(str, runs.values()))} (checkpoints/, export/, best/, metrics.jsonl)",
            *validation_table([work / "runs" / "motion_vqvae", *runs.values()]),
            f"  TensorBoard       tensorboard --logdir {work / 'runs'}",
            *(
                [
                    f"  paper tables      {paper_tables} (the published benchmarks' inputs and protocol, on the "
                    "demo's AIST++-layout set)"
                ]
                if paper_tables
                else []
            ),
            f"  metrics tables    {evaluation / 'metrics.md'} (Music4All test shards: not a published benchmark), "
            f"{captions / 'metrics.md'} (captioning)",
            *[f"  text -> music     {table} (MusicCaps format, random evaluation models)" for table in quality],
            f"  music, dance      {evaluation} (*.wav, *.gif, *.bvh, *.npy, plots)",
            f"  logs              {work / 'logs'}",
        ]
    )
    atomic_write_text(work / "SUMMARY.txt", summary + "\n")
    print(summary)
    for table in (paper_tables, evaluation / "metrics.md", captions / "metrics.md"):
        print(table.read_text() if table is not None and table.exists() else "")
    for label, table in published_captions:
        print(f"{label}\n\n{table.read_text()}")
    for table in quality:
        print(f"{MUSICCAPS_LABEL}\n\n{table.read_text()}")
    return 0


CAPTION_SETS_LABEL = (
    "(tiny random-weight models on the synthetic corpus written in the published captioning benchmarks' formats: "
    "the pipeline, not the paper's numbers)"
)


def run_published_captions(config: DemoConfig, model: Path, shards: Path) -> list[tuple[str, Path]]:
    """`unimumo-eval music-caption` and `motion-caption` on the synthetic corpus in MusicQA's and HumanML3D's
    formats (WORK/caption_sets/), the latter with a tiny random-weight text-motion evaluator when spaCy is installed
    (its R-precision and matching score otherwise not computed); (label, metrics.md) of each."""
    from unimumo.data.synthetic_caption_sets import write_humanml3d_caption_set, write_musicqa_set
    from unimumo.eval.random_eval_models import write_random_t2m_evaluator
    from unimumo.eval.t2m_evaluator import BATCH_SIZE, PIECES, TOP_K, T2MEvaluatorError

    work, sets = config.work_dir, config.work_dir / "caption_sets"
    audio = write_musicqa_set(work / "corpus", sets / "EvalMusicQA.txt", config.eval_samples)
    humanml3d = write_humanml3d_caption_set(work / "corpus", sets / "humanml3d", config.eval_samples)
    decoding = ["--shards", str(shards), "--num-beams", "1", "--max-length", "16"]
    try:
        pieces = write_random_t2m_evaluator(sets / "random_t2m_evaluator")
    except T2MEvaluatorError as error:  # spaCy (the unimumo[eval] extra) is missing
        matching, evaluator_label = [], f"(R-precision and matching score not computed: {error})"
    else:
        batch = min(BATCH_SIZE, max(TOP_K, config.eval_samples))  # one entry per motion: at least one batch
        matching = [x for name, option in PIECES.items() for x in (option, str(pieces[name]))]
        matching += ["--r-precision-batch-size", str(batch)]
        evaluator_label = T2M_EVALUATOR_LABEL.format(batch=batch)
    inputs = {
        "music-caption": ["--musicqa", str(sets / "EvalMusicQA.txt"), "--musicqa-audio", str(audio)],
        "motion-caption": ["--humanml3d", str(humanml3d), *matching],
    }
    labels = {"music-caption": CAPTION_SETS_LABEL, "motion-caption": f"{CAPTION_SETS_LABEL}\n{evaluator_label}"}
    tables = []
    for command, arguments in inputs.items():
        out = work / "eval" / command
        run_step(
            f"eval_{command.replace('-', '_')}",
            [*module("unimumo.cli.eval"), command, "--model", str(model), *arguments, *decoding, "--out", str(out)],
            work,
            done=(out / "metrics.json").exists,
        )
        tables.append((labels[command], out / "metrics.md"))
    return tables


T2M_EVALUATOR_LABEL = (
    "(R-precision and matching score from a tiny RANDOM-weight T2M text-motion evaluator, random GloVe vectors and a "
    "rule-based spaCy tagger, in batches of {batch}: the published protocol, not a quality figure)"
)


def run_paper(config: DemoConfig, model: Path) -> Path:
    """`unimumo-eval paper` on an AIST++-layout set made from the synthetic corpus (WORK/aist_benchmark/), with the
    tokenizers the export records; its table copied to WORK/paper_tables.md."""
    from unimumo.data.synthetic_corpus import write_aist_benchmark_set

    work, inputs = config.work_dir, config.work_dir / "aist_benchmark"
    root, music, segments = inputs / "aist_plusplus_final", inputs / "aist_music", inputs / "segments.txt"
    if not segments.is_file():  # written last
        write_aist_benchmark_set(
            work / "corpus", root, music, config.paper_sequences, lambda _: config.paper_music_seconds, segments
        )
    out = work / "eval" / "paper"
    run_step(
        "eval_paper",
        [
            *module("unimumo.cli.eval"),
            "paper",
            "--model",
            str(model),
            "--aist",
            str(root),
            "--aist-music",
            str(music),
            "--segments",
            str(segments),
            "--render",
            "1",  # one stick-figure GIF (the slowest output); the music2motion step renders more
            "--out",
            str(out),
        ],
        work,
        done=(out / "paper_tables.md").exists,
    )
    atomic_write_text(work / "paper_tables.md", (out / "paper_tables.md").read_text())
    return work / "paper_tables.md"


MUSICCAPS_LABEL = (
    "(text -> music on a MusicCaps-format set made from the synthetic corpus, scored with RANDOM-weight VGGish and "
    "PANNs Cnn14 (real sizes) and a tiny RANDOM-weight LAION-CLAP: the published FAD / KL / CLAP pipeline, not a "
    "quality figure)"
)
MUSICCAPS_CLIPS, MUSICCAPS_SECONDS = 4, 2.0  # real-size evaluation networks on CPU: a few short clips


def run_musiccaps(config: DemoConfig, model: Path, shards: Path) -> Path:
    """`unimumo-eval text2music --musiccaps` on a MusicCaps-format set made from the synthetic corpus
    (WORK/musiccaps/, its HumanML3D captions in the authors' motion prompts) with random-weight evaluation models;
    its metrics.md."""
    from unimumo.eval.random_eval_models import write_random_models
    from unimumo.eval.synthetic_musiccaps import write_musiccaps_set

    work, sets, out = config.work_dir, config.work_dir / "musiccaps", config.work_dir / "eval" / "musiccaps"
    if (out / "metrics.json").exists():
        return out / "metrics.md"
    csv, audio = write_musiccaps_set(work / "corpus", sets, MUSICCAPS_CLIPS, MUSICCAPS_SECONDS)
    models = write_random_models(sets / "random_evaluation_models", config.seed)
    command = [*module("unimumo.cli.eval"), "text2music", "--model", str(model), "--shards", str(shards)]
    command += ["--musiccaps", str(csv), "--musiccaps-audio", str(audio), "--metrics", "fad,kl,clap"]
    command += ["--humanml3d-texts", str(work / "corpus" / "humanml3d" / "texts")]
    command += ["--vggish", str(models["vggish"]), "--panns", str(models["panns"])]
    command += ["--clap", str(models["clap"]), "--clap-text-model", str(models["clap_text_model"])]
    command += ["--seconds", str(MUSICCAPS_SECONDS), "--render", "0", "--out", str(out)]
    run_step("eval_musiccaps", command, work, done=(out / "metrics.json").exists)
    return out / "metrics.md"


if __name__ == "__main__":
    sys.exit(main())
