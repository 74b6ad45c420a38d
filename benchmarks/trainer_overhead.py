"""Step time of `unimumo-train` (stage2_joint, DeepSpeed engine, loader, logging) vs a bare PyTorch loop.

Same model (same seed and freeze plan), same micro-batch shape, same AdamW / schedule / clipping, one
process on the CPU; the trainer is the real unimumo-train loop (Trainer.train) run in this process. The bare loop
reuses one in-memory batch; the trainer pays for everything it does
per step (shard loading, the DeepSpeed engine, loss reductions, metrics). Bare loop and trainer run
alternate for --repeats rounds; per side the best of the per-round median step times is compared
(target <= 1.10).

    python benchmarks/trainer_overhead.py [--quick] [--repeats N] [--ds-config cpu_zero0|zero1|zero2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from unimumo.constants import CODE_RATE  # noqa: E402
from unimumo.shards.manifest import FORMAT as MANIFEST_FORMAT  # noqa: E402
from unimumo.train.engine import make_scheduler  # noqa: E402
from unimumo.train.stages import build_components, build_recipe  # noqa: E402

SIZES = {
    "full": {
        "model": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, ffn_dim=1024),
        "window": 100,
        "micro_batch": 4,
        "warmup": 5,
        "measure": 40,
    },
    "quick": {
        "model": dict(hidden_size=192, num_hidden_layers=3, num_attention_heads=4, ffn_dim=768),
        "window": 64,
        "micro_batch": 4,
        "warmup": 5,
        "measure": 10,
    },
}


LOG_EVERY = 5  # the trainer's step time is the mean over each log interval


def write_shards(root: Path, frames: int) -> None:
    import webdataset as wds

    def npy(array):
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    with wds.TarWriter(str(root / "train-000000.tar")) as writer:
        for index in range(64):
            writer.write(
                {
                    "__key__": f"k{index:03d}",
                    "music.codes.npy": npy(rng.integers(0, 2048, (4, frames)).astype(np.int16)),
                    "motion.codes.npy": npy(rng.integers(0, 2048, (4, frames)).astype(np.int16)),
                    "music.ids.npy": npy(np.r_[rng.integers(3, 900, 8), 1].astype(np.int32)),
                    "motion.ids.npy": npy(np.r_[rng.integers(3, 900, 8), 1].astype(np.int32)),
                    "music.txt": b"m",
                    "motion.txt": b"d",
                    "json": b"{}",
                }
            )
    manifest = {
        "format": MANIFEST_FORMAT,
        "tokenizers": {},
        "splits": {},
        "shards": [{"name": "train-000000.tar", "split": "train", "count": 64}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def overrides(size: dict, shards: Path, out: Path, ds_config: str) -> dict:
    return {
        "out": str(out),
        "data.shards": str(shards),
        "ds_config": ds_config,
        "steps": size["warmup"] + size["measure"],
        "data.window_s": size["window"] / CODE_RATE,  # size["window"] code steps
        "data.micro_batch": size["micro_batch"],
        "data.global_batch": size["micro_batch"],
        "data.shuffle_buffer": 16,
        "schedule.warmup_steps": 2,
        "log.every": LOG_EVERY,
        "log.tensorboard": False,
        "log.progress_bar": False,
        "checkpoint.every": 10**6,
        "model.config": dict(size["model"], dropout=0.0, condition_dropout=0.0),
    }


def bare_loop(recipe, steps: int) -> list[float]:
    """Per-step seconds of a plain AdamW loop on one fixed batch (the trainer's components, its own loop)."""
    parts = build_components(recipe)  # the seeded model after the freeze plan, its optimizer groups, data, objective
    model = parts.model
    model.train()
    o = recipe.optim
    optimizer = torch.optim.AdamW(parts.param_groups, lr=o.lr, betas=o.betas, eps=o.eps)
    scheduler = make_scheduler(recipe, optimizer)
    trained = [p for p in model.parameters() if p.requires_grad]
    inputs = parts.objective.inputs(next(iter(parts.data)), 0)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, o.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return times


def trainer_run(settings: dict) -> list[float]:
    """Per-step seconds logged by the unimumo-train loop (Trainer.train, in this process, world size 1)."""
    from unimumo.train.trainer import run_trainer

    run_trainer(build_recipe("stage2_joint", settings))
    lines = [json.loads(line) for line in (Path(settings["out"]) / "metrics.jsonl").read_text().splitlines()]
    return [line["step_time_s"] for line in lines for _ in range(LOG_EVERY)]  # one entry per step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small model and few steps (< 60 s)")
    parser.add_argument("--ds-config", default="cpu_zero0", help="DeepSpeed config of the trainer run")
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="alternating bare/trainer rounds; the best median of each side is compared (robust to a shared machine)",
    )
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    torch.set_num_threads(int(os.environ.setdefault("OMP_NUM_THREADS", "1")))
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS"):
        os.environ.pop(name, None)  # one process
    with tempfile.TemporaryDirectory() as tmp:
        shards, out = Path(tmp) / "shards", Path(tmp) / "run"
        write_shards(shards, size["window"] + 10)
        settings = overrides(size, shards, out, args.ds_config)
        recipe = build_recipe("stage2_joint", settings)
        steps = size["warmup"] + size["measure"]
        bare, trainer = [], []
        for repeat in range(args.repeats):  # alternate, so both see the same machine load
            bare.append(statistics.median(bare_loop(recipe, steps)[size["warmup"] :]))
            trainer.append(statistics.median(trainer_run(dict(settings, out=f"{out}{repeat}"))[size["warmup"] :]))
    bare_median, trainer_median = min(bare), min(trainer)
    ratio = trainer_median / bare_median
    print(
        f"bare PyTorch loop : {bare_median * 1e3:8.1f} ms/step (best of {args.repeats} medians: "
        f"{', '.join(f'{t * 1e3:.1f}' for t in bare)})"
    )
    print(
        f"unimumo-train     : {trainer_median * 1e3:8.1f} ms/step (best of {args.repeats} medians: "
        f"{', '.join(f'{t * 1e3:.1f}' for t in trainer)}; {args.ds_config})"
    )
    print(f"overhead ratio    : {ratio:.3f}")
    print(
        json.dumps(
            {
                "benchmark": "trainer_overhead",
                "ratio": round(ratio, 4),
                "target": 1.10,
                "unit": "x bare PyTorch step time (CPU, 1 process)",
                "higher_is_better": False,
                "detail": {
                    "bare_ms": round(bare_median * 1e3, 2),
                    "trainer_ms": round(trainer_median * 1e3, 2),
                    "ds_config": args.ds_config,
                    "model": size["model"],
                    "window": size["window"],
                    "micro_batch": size["micro_batch"],
                    "steps_measured": size["measure"],
                    "repeats": args.repeats,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
