"""Per-rank parameter + optimizer-state bytes of the stage2_joint LM under ZeRO 0/1/2/3 on 2 ranks.

The script launches `torchrun --nproc_per_node 2` on itself (worker mode); for each stage in turn the
real DeepSpeed engine of unimumo.train is built from the recipe (freeze plan, AdamW, ds_configs/zeroN.json),
one training step materialises the optimizer state, and every rank counts the bytes of the distinct
tensors it holds: its parameters (its ZeRO-3 partition) and everything its optimizer keeps (fp32
master partitions, Adam moments). Gradients and activations are not counted. The ratio is ZeRO-3's
largest rank over ZeRO-0's (target <= 0.55).

    python benchmarks/zero_memory.py [--quick] [--precision bf16|fp32]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

STAGES = {0: "cpu_zero0", 1: "zero1", 2: "zero2", 3: "zero3"}
MODEL = {"quick": {}, "full": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, ffn_dim=2048)}


def tensor_bytes(module, optimizer) -> dict[str, int]:
    """Bytes of distinct storages: parameters (local ZeRO-3 partitions) and optimizer-held tensors."""
    import torch

    seen: set[int] = set()

    def size(tensor) -> int:
        if not isinstance(tensor, torch.Tensor) or tensor.numel() == 0 or tensor.data_ptr() in seen:
            return 0
        seen.add(tensor.data_ptr())
        return tensor.numel() * tensor.element_size()

    params = sum(size(getattr(p, "ds_tensor", p.data)) for p in module.parameters())
    inner = getattr(optimizer, "optimizer", optimizer)
    state = sum(size(p) for group in inner.param_groups for p in group["params"])
    state += sum(size(v) for per_param in inner.state.values() for v in per_param.values())
    for name in ("single_partition_of_fp32_groups", "fp32_partitioned_groups_flat"):  # ZeRO master partitions
        state += sum(size(t) for t in getattr(optimizer, name, []) or [])
    return {"params": params, "optimizer": state}


def measure(stage: int, model_size: str, precision: str, env, device) -> dict:
    """One engine of ZeRO `stage`, one training step, the byte counts of this rank."""
    import torch

    from unimumo.train.engine import initialize
    from unimumo.train.stages import STAGES as TRAIN_STAGES
    from unimumo.train.stages import apply_freeze_plan, build_recipe

    overrides = {
        "out": "unused",
        "data.shards": "unused",
        "ds_config": STAGES[stage],
        "data.micro_batch": 1,
        "data.global_batch": env.world_size,
        "precision": precision,
        "model.config": dict(MODEL[model_size], dropout=0.0),
    }
    recipe = build_recipe("stage2_joint", overrides)
    torch.manual_seed(0)
    stage_spec = TRAIN_STAGES[recipe.name]
    model = stage_spec.model(recipe)
    apply_freeze_plan(model, stage_spec)
    engine, _ = initialize(model, recipe, env.world_size, device)
    frames, text = 50, 8
    batch = {
        "music_codes": torch.randint(0, 2048, (1, 4, frames)),
        "motion_codes": torch.randint(0, 2048, (1, 4, frames)),
        "music_text_ids": torch.randint(3, 900, (1, text)),
        "music_text_mask": torch.ones(1, text, dtype=torch.long),
        "motion_text_ids": torch.randint(3, 900, (1, text)),
        "motion_text_mask": torch.ones(1, text, dtype=torch.long),
        "task": torch.zeros(1, dtype=torch.long),
    }
    loss = engine(**stage_spec.objective(stage_spec, recipe, device).inputs(batch, 0)).loss
    engine.backward(loss)
    engine.step()
    return dict(
        tensor_bytes(engine.module, engine.optimizer),
        parameters=sum(p.ds_numel if hasattr(p, "ds_numel") else p.numel() for p in model.parameters()),
    )


def worker(model_size: str, precision: str, out: Path) -> None:
    """Under torchrun: every ZeRO stage in turn (ZeRO-3 last: it patches module construction globally)."""
    import gc

    import torch.distributed as dist

    from unimumo.train import distributed

    env = distributed.detect()
    device = distributed.device_for(env)
    distributed.init_process_group(env, device)
    results = {}
    for stage in STAGES:
        counts = measure(stage, model_size, precision, env, device)
        gathered = [None] * env.world_size
        dist.all_gather_object(gathered, counts)
        results[stage] = {"ranks": gathered, "parameters": counts["parameters"]}
        gc.collect()
    if env.rank == 0:
        out.write_text(json.dumps(results))


def launch(model_size: str, precision: str, work: Path) -> dict[int, dict]:
    out = work / "zero_memory.json"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(
        os.environ,
        DS_ACCELERATOR=os.environ.get("DS_ACCELERATOR", "cpu"),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )
    cmd = [
        str(Path(sys.executable).with_name("torchrun")),
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
        __file__,
        "--worker",
        "--model",
        model_size,
        "--precision",
        precision,
        "--result",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return {int(stage): result for stage, result in json.loads(out.read_text()).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model (< 60 s)")
    parser.add_argument(
        "--precision",
        choices=("bf16", "fp32"),
        default="bf16",
        help="bf16: mixed precision as trained on GPUs (fp32 master weights in the optimizer); "
        "fp32: the CPU default, where ZeRO keeps an extra fp32 master partition",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.model, args.precision, args.result)

    model_size = "quick" if args.quick else "full"
    with tempfile.TemporaryDirectory() as tmp:
        results = launch(model_size, args.precision, Path(tmp))
    per_rank = {stage: max(r["params"] + r["optimizer"] for r in res["ranks"]) for stage, res in results.items()}
    print(f"stage2_joint LM, {results[0]['parameters']:,} parameters, 2 ranks, {args.precision}")
    print(f"{'ZeRO':<6}{'params MB':>12}{'optimizer MB':>14}{'total MB':>11}{'vs ZeRO-0':>11}")
    for stage, res in results.items():
        worst = max(res["ranks"], key=lambda r: r["params"] + r["optimizer"])
        print(
            f"{stage:<6}{worst['params'] / 2**20:>12.1f}{worst['optimizer'] / 2**20:>14.1f}"
            f"{per_rank[stage] / 2**20:>11.1f}{per_rank[stage] / per_rank[0]:>10.2f}x"
        )
    print(
        json.dumps(
            {
                "benchmark": "zero_memory",
                "ratio": round(per_rank[3] / per_rank[0], 4),
                "target": 0.55,
                "unit": "x of ZeRO-0 per-rank param+optimizer bytes (ZeRO-3, 2 ranks)",
                "higher_is_better": False,
                "detail": {f"zero{s}_bytes": per_rank[s] for s in STAGES}
                | {f"zero{s}_ratio": round(per_rank[s] / per_rank[0], 4) for s in STAGES}
                | {"parameters": results[0]["parameters"], "model": model_size, "precision": args.precision},
            }
        )
    )


if __name__ == "__main__":
    main()
