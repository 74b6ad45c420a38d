"""Peak memory of exporting a ZeRO-3 checkpoint, as a multiple of the model's fp32 bytes (target <= 1.5).

A 2-rank ZeRO-3 stage2_joint run of one step (CPU, gloo) writes the checkpoint; `unimumo-export` then
runs in a fresh subprocess whose peak RSS (ru_maxrss of the child) minus the peak RSS of a baseline
subprocess (the same interpreter importing the same modules, exporting nothing) is the export's own
peak. The ratio divides it by 4 x the number of model parameters.

    python benchmarks/export_memory.py [--quick]
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
REPO = HERE.parent
MODEL = {"quick": {}, "full": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, ffn_dim=2048)}
IMPORTS = "import unimumo.train.export, deepspeed.utils.zero_to_fp32, unimumo.models.modeling_unimumo"


def _child_peak_rss(code: str, env: dict) -> int:
    """Peak RSS in bytes of `python -c code` run alone in a new process (ru_maxrss of one waited child)."""
    probe = (
        f"import resource, subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) * 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tiny model (fast, dominated by the interpreter)")
    args = parser.parse_args()
    from unimumo.cli.shards import main as shards_main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv, write_synthetic_corpus

    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = write_synthetic_corpus(tmp / "corpus")
        assert shards_main(build_argv(corpus, tmp / "shards", "train", *TINY_SHARDS_ARGS)) == 0
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = {
            "data.shards": tmp / "shards",
            "text_model": corpus / "models" / "t5",
            "model.preset": "tiny",
            "init.random": "true",
            "data.window_s": 0.48,
            "data.micro_batch": 2,
            "data.global_batch": 4,
            "data.num_workers": 0,
            "steps": 1,
            "log.progress_bar": "false",
            **{f"model.config.{k}": v for k, v in MODEL["quick" if args.quick else "full"].items()},
        }
        cmd = [
            str(Path(sys.executable).with_name("torchrun")),
            "--nproc_per_node",
            "2",
            "--master_port",
            str(port),
            "-m",
            "unimumo.cli.train",
            "--recipe",
            "stage2_joint",
            "--out",
            str(tmp / "run"),
            "--ds-config",
            "zero3",
        ]
        for key, value in settings.items():
            cmd += ["--set", f"{key}={value}"]
        subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
        checkpoint = tmp / "run" / "checkpoints"
        from unimumo.train.checkpoint import read_meta, resolve
        from unimumo.train.model_factory import rebuild

        parameters = sum(p.numel() for p in rebuild(read_meta(*resolve(checkpoint))).parameters())
        baseline = _child_peak_rss(IMPORTS, env)
        export = f"{IMPORTS}; unimumo.train.export.export_checkpoint({str(checkpoint)!r}, {str(tmp / 'export')!r})"
        peak = _child_peak_rss(export, env)
    fp32_bytes = 4 * parameters
    ratio = (peak - baseline) / fp32_bytes
    print(
        json.dumps(
            {
                "benchmark": "export_memory",
                "ratio": round(ratio, 3),
                "target": 1.5,
                "unit": "x fp32 model bytes (peak RSS of the export above the interpreter's)",
                "higher_is_better": False,
                "detail": {
                    "parameters": parameters,
                    "fp32_mb": fp32_bytes / 2**20,
                    "export_peak_mb": peak / 2**20,
                    "baseline_peak_mb": baseline / 2**20,
                },
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    main()
