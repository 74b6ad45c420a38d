"""KV-cached vs full-recompute UniMuMo generation, measured side by side in one run.

Both runs generate the same text→music+motion sample (classifier-free guidance on, so each step decodes a doubled
batch) greedily, and the benchmark prints the speed-up. It checks what float arithmetic guarantees: the two paths run
the same operations on other shapes (one query vs the whole prefix), so their logits differ by rounding. Teacher-forced
on the generated codes, cached and recomputed logits must agree within ROUNDING_ULPS units in the last place of the
largest logit at every position, and the greedy codes must be identical (an argmax moves only at a near-exact tie).
Sampled codes are not compared: a seeded draw whose uniform falls next to a CDF boundary can flip on a 1e-6 change.

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
# float32 rounding over reordered sums, as in the model tests (tests/testkit/model_fixtures.py). Measured on a 2-core
# x86
# machine at 500 steps, all 503 positions: max |cached - recomputed| 9.5e-7 (greedy codes) to 2e-6 (sampled codes),
# at most ~10 ulps of the largest logit (~1.6); 256 ulps is the tolerance (~5e-5)
ROUNDING_ULPS = 256


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
    out = model.generate(
        "text2music_motion",
        music_text_ids=text_ids,
        motion_text_ids=text_ids,
        num_steps=steps,
        guidance_scale=3.0,
        temperature=0.0,
        use_cache=use_cache,
    )
    return now() - started, out


def teacher_forced_gap(model, codes: dict, text_ids: torch.Tensor) -> tuple[float, float]:
    """Largest |cached - recomputed| logit on `codes` (both streams, every position) and the allowed tolerance."""
    text = dict(music_text_ids=text_ids, motion_text_ids=text_ids)
    cached = model.incremental_logits(codes["music_codes"], codes["motion_codes"], **text)
    with torch.no_grad():
        recomputed = model(music_codes=codes["music_codes"], motion_codes=codes["motion_codes"], **text)
    gap = tolerance = 0.0
    for key in ("music_logits", "motion_logits"):
        gap = max(gap, (cached[key] - recomputed[key]).abs().max().item())
        reference = recomputed[key]
        tolerance = max(tolerance, ROUNDING_ULPS * torch.finfo(reference.dtype).eps * reference.abs().max().item())
    return gap, tolerance


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
    gap, tolerance = teacher_forced_gap(model, cached, text_ids)
    ratio = recompute_s / cached_s
    print(
        f"{steps} steps on {args.device}: cached {cached_s:.2f} s, full recompute {recompute_s:.2f} s, "
        f"speed-up {ratio:.1f}x; greedy codes identical: {identical}; teacher-forced logits: max gap {gap:.2e} "
        f"(tolerance {tolerance:.2e})"
    )
    print(
        json.dumps(
            {
                "benchmark": "generation_kv_cache",
                "ratio": round(ratio, 2),
                "target": 5.0,
                "unit": "x faster",
                "detail": {
                    "steps": steps,
                    "device": args.device,
                    "cached_s": round(cached_s, 3),
                    "recompute_s": round(recompute_s, 3),
                    "identical_greedy_codes": identical,
                    "max_logit_gap": gap,
                    "logit_tolerance": tolerance,
                    "guidance_scale": 3.0,
                    "batch": 1,
                    "config": BENCH_CONFIG,
                    "threads": torch.get_num_threads(),
                    "clock": clock_name,
                },
            }
        )
    )
    if gap > tolerance:
        sys.exit(f"cached and recomputed logits differ by {gap:.2e} > {tolerance:.2e} ({ROUNDING_ULPS} ulps)")
    if not identical:
        sys.exit("cached and recomputed greedy generation differ")


if __name__ == "__main__":
    main()
