"""Motion tokenizer throughput: batched encode (16 ragged clips per call) vs one clip at a time.

Both paths run the same MotionTokenizer.encode (validation, resampling to the network rate,
normalisation, the conv encoder and the residual quantiser) on the same clips, side by side in
one process; the ratio is batched frames/s over one-at-a-time frames/s (target >= 4 at batch 16).

    python benchmarks/motion_tokenizer.py [--quick] [--preset base|tiny] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from unimumo.models.motion_tokenizer import MotionTokenizer  # noqa: E402
from unimumo.motion.humanml3d_features import joints_to_features  # noqa: E402
from unimumo.motion.skeleton import smpl_to_joints22  # noqa: E402
from unimumo.motion.synthetic_dance import synthetic_smpl_dance  # noqa: E402


def make_clips(count: int, seconds: float, fps: float) -> list[np.ndarray]:
    """`count` synthetic dances of 75-100 % of `seconds` (ragged lengths, as in a real shard build)."""
    rng = np.random.default_rng(0)
    clips = []
    for index in range(count):
        frames = int(seconds * fps * rng.uniform(0.75, 1.0)) + 1
        joints = smpl_to_joints22(*synthetic_smpl_dance(frames, fps, rng.uniform(80, 160), index))
        clips.append(joints_to_features(joints, fps=fps))
    return clips


def timed(run, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny network and short clips (< 60 s on 2 CPU cores)")
    parser.add_argument("--preset", choices=("base", "tiny"), help="network size (default: base, tiny with --quick)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batched encode call")
    parser.add_argument("--seconds", type=float, help="longest clip duration (default 10, 4 with --quick)")
    parser.add_argument("--fps", type=float, default=20.0, help="frame rate of the input clips")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions; the best one counts")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    preset = args.preset or ("tiny" if args.quick else "base")
    seconds = args.seconds or (4.0 if args.quick else 10.0)

    tokenizer = MotionTokenizer.from_random(seed=0, preset=preset).to(args.device)
    tokenizer.batch_size = args.batch_size
    clips = make_clips(args.batch_size, seconds, args.fps)
    frames = sum(len(c) for c in clips)

    one_by_one = lambda: [tokenizer.encode(clip, args.fps) for clip in clips]  # noqa: E731
    batched = lambda: tokenizer.encode(clips, args.fps)  # noqa: E731
    for single, together in zip(one_by_one(), batched()):  # warm-up, and both paths agree
        assert np.array_equal(single, together), "batched codes differ from one-at-a-time codes"
    # Alternate the two paths so that load from other processes hits both alike; the best run counts.
    sequential_s, batched_s = float("inf"), float("inf")
    for _ in range(args.repeats):
        sequential_s = min(sequential_s, timed(one_by_one, args.device))
        batched_s = min(batched_s, timed(batched, args.device))
    result = {
        "benchmark": "motion_tokenizer_batched_encode",
        "ratio": round(sequential_s / batched_s, 3),
        "target": 4.0,
        "unit": "x faster (frames/s, batch 16 vs one clip at a time)",
        "detail": {
            "preset": preset,
            "device": args.device,
            "threads": torch.get_num_threads(),
            "clips": len(clips),
            "frames": frames,
            "input_fps": args.fps,
            "batched_frames_per_s": round(frames / batched_s, 1),
            "sequential_frames_per_s": round(frames / sequential_s, 1),
            "quick": args.quick,
        },
    }
    print(
        f"one at a time: {frames / sequential_s:,.0f} frames/s; batched x{args.batch_size}: "
        f"{frames / batched_s:,.0f} frames/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
