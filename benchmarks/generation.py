"""KV-cached vs full-recompute UniMuMo generation, measured side by side in one run.

Both runs generate the same text→music+motion sample (classifier-free guidance on, so each step decodes a doubled
batch) with the same seed; the benchmark checks that they produce identical codes and prints the speed-up.

    python benchmarks/generation.py [--quick] [--steps N] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unimumo.models.configuration_unimumo import UniMuMoConfig  # noqa: E402
from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration  # noqa: E402

# A small decoder (the "tiny" T5 text parts): large enough that recomputing the prefix dominates, small enough
# that the full-recompute run of 500 steps finishes in a few minutes on one CPU core.
BENCH_CONFIG = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, ffn_dim=1024, dropout=0.0)


def clock(device: str):
    """Wall time on CUDA (synchronised); on the CPU the process's CPU time, which other jobs sharing the machine's
    cores do not inflate (the work of all torch threads is counted)."""
    if device.startswith("cuda"):
        def now():
            torch.cuda.synchronize()
            return time.perf_counter()
        return now, "wall"
    return time.process_time, "process_cpu"


def timed_generate(model, use_cache: bool, steps: int, text_ids: torch.Tensor, now) -> tuple[float, dict]:
    started = now()
    out = model.generate("text2music_motion", music_text_ids=text_ids, motion_text_ids=text_ids, num_steps=steps,
                         guidance_scale=3.0, top_k=250, seed=0, use_cache=use_cache)
    return now() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 steps instead of 500 (< 60 s on 2 CPU cores)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    steps = args.steps or (200 if args.quick else 500)

    torch.manual_seed(0)
    config = UniMuMoConfig.preset("tiny", max_position_embeddings=steps + 8, **BENCH_CONFIG)
    model = UniMuMoForConditionalGeneration(config).to(args.device).eval()
    text_ids = torch.randint(2, config.text_encoder_config["vocab_size"], (1, 12), device=args.device)

    now, clock_name = clock(args.device)
    timed_generate(model, True, 8, text_ids, now)  # warm-up (allocator, kernels)
    cached_s, cached = timed_generate(model, True, steps, text_ids, now)
    recompute_s, recomputed = timed_generate(model, False, steps, text_ids, now)
    identical = all(torch.equal(cached[k], recomputed[k]) for k in cached)
    ratio = recompute_s / cached_s
    print(f"{steps} steps on {args.device}: cached {cached_s:.2f} s, full recompute {recompute_s:.2f} s, "
          f"speed-up {ratio:.1f}x, identical codes: {identical}")
    print(json.dumps({
        "benchmark": "generation_kv_cache", "ratio": round(ratio, 2), "target": 5.0, "unit": "x faster",
        "detail": {"steps": steps, "device": args.device, "cached_s": round(cached_s, 3),
                   "recompute_s": round(recompute_s, 3), "identical_codes": identical, "guidance_scale": 3.0,
                   "batch": 1, "config": BENCH_CONFIG, "threads": torch.get_num_threads(), "clock": clock_name},
    }))
    if not identical:
        sys.exit("cached and recomputed generation differ")


if __name__ == "__main__":
    main()
