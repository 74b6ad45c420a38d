"""`unimumo-demo`: the whole pipeline in one command, from raw data to metrics, a wav and a dance GIF.

Steps, each a real command of this package run as a subprocess (logs in WORK/logs/):

1. corpus        `unimumo-shards synth` (skipped when real data directories are given)
2. motion_vqvae  train the motion VQ-VAE briefly with DeepSpeed (skipped with --motion-tokenizer)
3. shards        `unimumo-shards build` for train / val / test with the frozen tokenizers
4. stage1        `unimumo-train --recipe stage1_motion --init-from MUSICGEN` on N ranks (torchrun); the
                 synthetic corpus brings a tiny random MusicgenForConditionalGeneration (models/musicgen)
5. stage2        `unimumo-train --recipe stage2_joint --init-from stage1/export`
6. caption       `unimumo-train --recipe caption --init-from stage2/export`
7. eval          `unimumo-eval music2motion` and `unimumo-eval caption` (BLEU/ROUGE-L) on the test split

A step whose output is complete is skipped, so an interrupted demo continues where it stopped.
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from unimumo.shards.manifest import Manifest
from unimumo.utils.io import atomic_write_text


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
    stage1_steps: int = 40
    stage2_steps: int = 40
    caption_steps: int = 20
    window: int = 250
    lm_lr: float = 1e-3
    eval_samples: int = 8
    eval_seconds: float = 5.0
    shard_size_mb: float = 0.2  # small shards so every rank and worker of the demo gets some
    tracks: int = 12
    motions: int = 12
    seed: int = 0
    extra_train_args: list[str] = field(default_factory=list)

    def validate(self) -> "DemoConfig":
        real = [self.music4all, self.aist]
        if any(real) and not all(real):
            raise SystemExit("unimumo-demo: give both --music4all and --aist (and optionally --humanml3d), or neither")
        if self.music4all and not all([self.music_codec, self.text_model, self.text_tokenizer, self.musicgen]):
            raise SystemExit("unimumo-demo: real data needs --music-codec, --text-model, --text-tokenizer and "
                             "--musicgen (local directories; nothing is downloaded)")
        for name in ("music4all", "aist", "humanml3d", "music_codec", "text_model", "musicgen", "text_tokenizer",
                     "motion_tokenizer"):
            path = getattr(self, name)
            if path is not None and not Path(path).exists():
                raise SystemExit(f"unimumo-demo: --{name.replace('_', '-')} {path} does not exist")
        if self.nproc < 1:
            raise SystemExit("unimumo-demo: --nproc must be >= 1")
        return self

    @property
    def synthetic(self) -> bool:
        return self.music4all is None

    def corpus(self, name: str) -> Path:
        return self.work_dir / "corpus" / name


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
        print(f"[demo] {name}: already done, skipping")
        return
    log = work_dir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[demo] {name}: {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), PYTHONUNBUFFERED="1")
    with open(log, "w") as handle:
        proc = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise SystemExit(f"[demo] step {name!r} failed with exit code {proc.returncode}; log: {log}\n{tail}")
    if not done():
        raise SystemExit(f"[demo] step {name!r} finished but did not produce its output; log: {log}")
    print(f"[demo] {name}: done in {time.perf_counter() - started:.0f}s (log {log})", flush=True)


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


def torchrun(config: DemoConfig, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(config.nproc),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "unimumo.cli.train", *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="unimumo-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("demo_out"),
                        help="where everything is written (default %(default)s)")
    parser.add_argument("--music4all", type=Path, help="real Music4All root (default: synthetic corpus)")
    parser.add_argument("--aist", type=Path, help="real AIST++ root")
    parser.add_argument("--humanml3d", type=Path, help="real HumanML3D root (optional)")
    parser.add_argument("--music-codec", type=Path, help="local EnCodec directory (transformers format)")
    parser.add_argument("--text-model", type=Path, help="local T5ForConditionalGeneration directory")
    parser.add_argument("--musicgen", type=Path, help="local MusicGen directory stage 1 starts from")
    parser.add_argument("--text-tokenizer", type=Path, help="sentencepiece model file matching the T5 vocabulary")
    parser.add_argument("--motion-tokenizer", type=Path, help="pretrained motion VQ-VAE directory (skips its training)")
    parser.add_argument("--nproc", type=int, default=DemoConfig.nproc,
                        help="training ranks (torchrun processes) (default %(default)s)")
    parser.add_argument("--ds-config", default=DemoConfig.ds_config,
                        help="DeepSpeed config name in ds_configs/ or a JSON path (default %(default)s)")
    parser.add_argument("--vqvae-steps", type=int, default=DemoConfig.vqvae_steps, help="motion VQ-VAE training steps (default %(default)s)")
    parser.add_argument("--stage1-steps", type=int, default=DemoConfig.stage1_steps, help="stage1_motion training steps (default %(default)s)")
    parser.add_argument("--stage2-steps", type=int, default=DemoConfig.stage2_steps, help="stage2_joint training steps (default %(default)s)")
    parser.add_argument("--caption-steps", type=int, default=DemoConfig.caption_steps, help="caption training steps (default %(default)s)")
    parser.add_argument("--eval-samples", type=int, default=DemoConfig.eval_samples, help="music->motion evaluation samples (test split) (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DemoConfig.seed,
                        help="seed of the corpus, the builds, training and sampling (default %(default)s)")
    parser.add_argument("--train-arg", action="append", default=[], dest="extra_train_args", metavar="KEY=VALUE",
                        help="extra --set override passed to every LM stage: stage1, stage2, caption (repeatable)")
    args = parser.parse_args(argv)
    config = DemoConfig(**vars(args)).validate()
    config.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    work = config.work_dir

    synthetic = config.synthetic
    if synthetic:
        run_step("corpus", [*module("unimumo.cli.shards"), "synth", "--out", str(work / "corpus"), "--tracks", str(config.tracks),
                            "--motions", str(config.motions), "--seed", str(config.seed)],
                 work, done=config.corpus("corpus.json").exists)
        config = replace(
            config, music4all=config.corpus("music4all"), aist=config.corpus("aist"),
            humanml3d=config.corpus("humanml3d"), music_codec=config.corpus("models/encodec"),
            text_model=config.corpus("models/t5"), text_tokenizer=config.corpus("models/text_tokenizer.model"),
            musicgen=config.corpus("models/musicgen"))

    motion_tokenizer = config.motion_tokenizer
    if motion_tokenizer is None:
        vq_run = work / "runs" / "motion_vqvae"
        run_step("motion_vqvae", torchrun(
            config, "--recipe", "motion_vqvae", "--out", str(vq_run), *motion_sources(config), "--ds-config", config.ds_config,
            "--set", f"steps={config.vqvae_steps}", "--set", "schedule.warmup_steps=5",
            "--set", f"data.global_batch={global_batch(16, config.nproc, 32)}", "--set", "data.micro_batch=16",
            "--set", f"seed={config.seed}", *(["--set", "model.preset=tiny"] if synthetic else [])),
            work, done=(vq_run / "export" / "config.json").exists)
        motion_tokenizer = vq_run / "export"

    shards = work / "shards" / "demo"
    for split in ("train", "val", "test"):
        run_step(f"shards_{split}", [
            *module("unimumo.cli.shards"), "build", "--music4all", str(config.music4all), *motion_sources(config),
            "--music-codec", str(config.music_codec), "--motion-tokenizer", str(motion_tokenizer),
            "--text-tokenizer", str(config.text_tokenizer), "--out", str(shards), "--split", split,
            "--seed", str(config.seed), "--resume", "--no-progress", "--shard-size-mb", str(config.shard_size_mb),
            # the synthetic corpus holds deliberately broken inputs; they are recorded in failures.jsonl
            *(["--max-failure-fraction", "0.5"] if synthetic else [])],
            work, done=functools.partial(split_built, shards, split))

    lm_args = ["--shards", str(shards), "--text-model", str(config.text_model), "--ds-config", config.ds_config,
               "--set", f"data.window={config.window}", "--set", f"data.global_batch={global_batch(4, config.nproc, 8)}",
               "--set", "data.micro_batch=4", "--set", "data.num_workers=1",
               "--set", "schedule.warmup_steps=5", "--set", "log.every=5", "--set", f"seed={config.seed}",
               # a few dozen steps only show a falling loss with a learning rate far above the reference
               "--set", f"optim.lr={config.lm_lr}"]
    for extra in config.extra_train_args:
        lm_args += ["--set", extra]
    stage1, stage2 = work / "runs" / "stage1_motion", work / "runs" / "stage2_joint"
    captioner = work / "runs" / "caption"
    run_step("stage1_motion", torchrun(config, "--recipe", "stage1_motion", "--out", str(stage1), *lm_args,
                                       "--init-from", str(config.musicgen), "--set", f"steps={config.stage1_steps}",
                                       "--resume"),
             work, done=(stage1 / "export" / "config.json").exists)
    run_step("stage2_joint", torchrun(config, "--recipe", "stage2_joint", "--out", str(stage2), *lm_args,
                                      "--init-from", str(stage1 / "export"), "--set", f"steps={config.stage2_steps}",
                                      "--resume"),
             work, done=(stage2 / "export" / "config.json").exists)
    run_step("caption", torchrun(config, "--recipe", "caption", "--out", str(captioner), *lm_args,
                                 "--init-from", str(stage2 / "export"), "--set", f"steps={config.caption_steps}",
                                 "--resume"),
             work, done=(captioner / "export" / "config.json").exists)

    evaluation = work / "eval" / "music2motion"
    run_step("eval", [*module("unimumo.cli.eval"), "music2motion", "--model", str(stage2 / "export"), "--shards", str(shards),
                      "--split", "test", "--num-samples", str(config.eval_samples), "--seconds", str(config.eval_seconds),
                      "--guidance-scale", "4", "--motion-tokenizer", str(motion_tokenizer),
                      "--music-codec", str(config.music_codec), "--seed", str(config.seed), "--out", str(evaluation)],
             work, done=(evaluation / "metrics.json").exists)
    captions = work / "eval" / "caption"
    run_step("eval_caption", [*module("unimumo.cli.eval"), "caption", "--model", str(captioner / "export"),
                              "--shards", str(shards), "--split", "test", "--num-samples", str(config.eval_samples),
                              "--seconds", str(config.eval_seconds), "--num-beams", "1", "--max-length", "16",
                              "--out", str(captions)],
             work, done=(captions / "metrics.json").exists)

    summary = "\n".join([
        f"UniMuMo demo finished in {time.perf_counter() - started:.0f}s. Outputs under {work}/:",
        f"  shards            {shards} (manifest.json, failures.jsonl)",
        f"  motion tokenizer  {motion_tokenizer}",
        f"  training runs     {stage1}, {stage2}, {captioner} (checkpoints/, export/, metrics.jsonl)",
        f"  TensorBoard       tensorboard --logdir {work / 'runs'}",
        f"  metrics tables    {evaluation / 'metrics.md'}, {captions / 'metrics.md'} (captioning)",
        f"  music, dance      {evaluation} (*.wav, *.gif, *.bvh, *.npy, plots)",
        f"  logs              {work / 'logs'}",
    ])
    atomic_write_text(work / "SUMMARY.txt", summary + "\n")
    print(summary)
    for table in (evaluation / "metrics.md", captions / "metrics.md"):
        print(table.read_text() if table.exists() else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
