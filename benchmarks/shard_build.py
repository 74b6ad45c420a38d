"""Shard builder throughput: samples/s with --workers 2 against --workers 1 on the same synthetic corpus.

Both builds run side by side in this process (same corpus, same arguments, separate output
directories) and must produce byte-identical shards (checked). The ratio compares the builder's
working phase (motion scan, decoding, beat tracking, tokenizing, warping, writing: what --workers
parallelises), as reported by the build; end-to-end times (adding model loading and pool start-up)
are in "detail". librosa's numba kernels are compiled once before either build is timed.

    python benchmarks/shard_build.py [--quick] [--tracks N] [--repeats R]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unimumo.rhythm import warm_up_beat_tracker  # noqa: E402
from unimumo.cli.shards import main as shards_main  # noqa: E402
from unimumo.data.synthetic_corpus import SyntheticCorpusConfig, build_argv, write_synthetic_corpus  # noqa: E402
from unimumo.shards.manifest import Manifest  # noqa: E402

TARGET = 1.7


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the build's worker processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed_build(corpus: Path, out: Path, workers: int, pairs: int) -> tuple[float, float, float, int, list[str]]:
    """(working-phase seconds, end-to-end seconds, CPU seconds, samples, shard digests) of one build."""
    argv = build_argv(corpus, out, "train", "--workers", str(workers), "--pairs-per-track", str(pairs),
                      "--shard-size-mb", "0.2", "--no-progress")
    started, cpu_started = time.perf_counter(), cpu_seconds()
    report = io.StringIO()
    with contextlib.redirect_stdout(report):  # the build's own JSON report
        code = shards_main(argv)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    if code != 0:
        raise SystemExit(f"build with --workers {workers} exited with {code}")
    shards = Manifest.load(out).shards
    work = json.loads(report.getvalue())["work_seconds"]
    return work, seconds, cpu, sum(entry.count for entry in shards), [entry.sha256 for entry in shards]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpus (< 60 s in all)")
    parser.add_argument("--tracks", type=int, help="good synthetic tracks (default 12 quick, 36 full)")
    parser.add_argument("--repeats", type=int, help="builds per worker count; the fastest counts (default 1 quick, 2)")
    args = parser.parse_args()
    tracks = args.tracks or (12 if args.quick else 36)
    repeats = args.repeats or (1 if args.quick else 2)
    pairs = 3 if args.quick else 5

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_shard_build_") as tmp:
        # 30 s tracks and 40 s dances, like Music4All clips and AIST++ sequences
        config = SyntheticCorpusConfig(tracks=tracks, motions=12, min_track_seconds=28.0, max_track_seconds=30.0,
                                       aist_seconds=40.0)
        corpus = write_synthetic_corpus(Path(tmp) / "corpus", config)
        warm_up_beat_tracker()  # one-off numba compile, so neither build pays it
        work: dict[int, float] = {}
        total: dict[int, float] = {}
        cpu: dict[int, float] = {}
        samples: dict[int, int] = {}
        digests: dict[int, list[str]] = {}
        for repeat in range(repeats):
            for workers in ((1, 2) if repeat % 2 == 0 else (2, 1)):  # alternate the order
                work_s, total_s, cpu_s, count, digest = timed_build(corpus, Path(tmp) / f"w{workers}_r{repeat}",
                                                                    workers, pairs)
                work[workers] = min(work_s, work.get(workers, float("inf")))
                total[workers] = min(total_s, total.get(workers, float("inf")))
                cpu[workers] = min(cpu_s, cpu.get(workers, float("inf")))
                samples[workers], digests[workers] = count, digest
                print(f"workers={workers} repeat={repeat}: {count} samples, working phase {work_s:.2f} s "
                      f"({count / work_s:.2f} samples/s), end to end {total_s:.2f} s, CPU {cpu_s:.2f} s", flush=True)
    rate = {workers: samples[workers] / work[workers] for workers in work}
    print(json.dumps({
        "benchmark": "shard_build",
        "ratio": round(rate[2] / rate[1], 3),
        "target": TARGET,
        "unit": "x samples/s (--workers 2 vs --workers 1)",
        "detail": {"samples": samples[1], "samples_per_s_workers1": round(rate[1], 3),
                   "samples_per_s_workers2": round(rate[2], 3), "identical_shards": digests[1] == digests[2],
                   "end_to_end_ratio": round(total[1] / total[2], 3),
                   "end_to_end_seconds": {str(w): round(t, 2) for w, t in total.items()},
                   # CPU seconds per build: equal values mean --workers 2 adds no work, so on two idle
                   # cores the ratio is bounded only by the serial part (model loading, tar writing)
                   "cpu_seconds": {str(w): round(t, 2) for w, t in cpu.items()},
                   "tracks": tracks, "pairs_per_track": pairs, "cpus": len(os.sched_getaffinity(0)),
                   "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
    }))


if __name__ == "__main__":
    main()
