"""Shard builder throughput: samples/s with --workers 2 against --workers 1 on the same synthetic corpus.

The builds run in this process (same corpus, same arguments, separate output directories) in R
pairs of alternating order (1 then 2, 2 then 1, ...), and every build must produce the same,
byte-identical shards (checked). A pair's ratio compares the builder's working phase (motion scan,
decoding, beat tracking, tokenizing, warping, writing: what --workers parallelises), as reported by
the build; the figure is the median over the pairs, with their spread (min, max). Each build's CPU
seconds (this process and its reaped worker processes) show the work --workers 2 adds: their medians
and relative difference are in "detail", with end-to-end times (adding model loading and pool
start-up), the cores each build kept busy (CPU seconds per second) and the load average, since a busy
machine depresses the wall-clock ratio but hardly the CPU seconds. librosa's numba kernels are compiled
once before any build is timed. --quick builds chunks of 2 tracks (--codec-batch 2) so that its few
tracks still make several chunks to share out.

    python benchmarks/shard_build.py [--quick] [--tracks N] [--repeats R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unimumo.cli.shards import main as shards_main  # noqa: E402
from unimumo.data.synthetic_corpus import SyntheticCorpusConfig, build_argv, write_synthetic_corpus  # noqa: E402
from unimumo.rhythm import DEFAULT_BEAT_TRACKER, warm_up_beat_tracker  # noqa: E402
from unimumo.shards.manifest import Manifest  # noqa: E402

TARGET = 1.7


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the build's worker processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed_build(corpus: Path, out: Path, workers: int, extra: list[str]) -> tuple[float, float, float, int, list]:
    """(working-phase seconds, end-to-end seconds, CPU seconds, samples, shard digests) of one build."""
    argv = build_argv(
        corpus, out, "train", "--workers", str(workers), *extra, "--shard-size-mb", "0.2", "--no-progress"
    )
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
    parser.add_argument("--repeats", type=int, help="pairs of builds (--workers 1 and 2); default 1 quick, 3")
    args = parser.parse_args()
    tracks = args.tracks or (12 if args.quick else 36)
    repeats = args.repeats or (1 if args.quick else 3)
    extra = ["--pairs-per-track", "3", "--codec-batch", "2"] if args.quick else ["--pairs-per-track", "5"]

    load_before = os.getloadavg()[0]
    runs: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}  # (work s, end-to-end s, CPU s) per build
    counts, digests = set(), set()
    with tempfile.TemporaryDirectory(prefix="bench_shard_build_") as tmp:
        # 30 s tracks and 40 s dances, like Music4All clips and AIST++ sequences
        config = SyntheticCorpusConfig(
            tracks=tracks, motions=12, min_track_seconds=28.0, max_track_seconds=30.0, aist_seconds=40.0
        )
        corpus = write_synthetic_corpus(Path(tmp) / "corpus", config)
        warm_up_beat_tracker(DEFAULT_BEAT_TRACKER)  # one-off numba compile, so neither build pays it
        for repeat in range(repeats):
            for workers in (1, 2) if repeat % 2 == 0 else (2, 1):  # alternate the order
                work_s, total_s, cpu_s, count, digest = timed_build(
                    corpus, Path(tmp) / f"w{workers}_r{repeat}", workers, extra
                )
                runs[workers].append((work_s, total_s, cpu_s))
                counts.add(count)
                digests.add(tuple(digest))
                print(
                    f"workers={workers} repeat={repeat}: {count} samples, working phase {work_s:.2f} s "
                    f"({count / work_s:.2f} samples/s), end to end {total_s:.2f} s, CPU {cpu_s:.2f} s",
                    flush=True,
                )
    # same samples in each build, so a pair's samples/s ratio is its working-phase time ratio
    ratios = [one[0] / two[0] for one, two in zip(runs[1], runs[2])]
    end_to_end = [one[1] / two[1] for one, two in zip(runs[1], runs[2])]
    cpu = {workers: statistics.median(run[2] for run in builds) for workers, builds in runs.items()}
    identical, count = len(digests) == 1 and len(counts) == 1, max(counts)
    print(
        json.dumps(
            {
                "benchmark": "shard_build",
                "ratio": round(statistics.median(ratios), 3),
                "target": TARGET,
                "unit": "x samples/s (--workers 2 vs --workers 1)",
                "detail": {
                    "samples": count,
                    "identical_shards": identical,
                    "pairs": repeats,
                    "ratios": [round(r, 3) for r in ratios],
                    "ratio_min": round(min(ratios), 3),
                    "ratio_max": round(max(ratios), 3),
                    "samples_per_s": {
                        str(w): round(count / statistics.median(run[0] for run in builds), 3)
                        for w, builds in runs.items()
                    },
                    "end_to_end_ratio": round(statistics.median(end_to_end), 3),
                    "end_to_end_seconds": {str(w): [round(run[1], 2) for run in builds] for w, builds in runs.items()},
                    # median CPU seconds per build: equal values mean --workers 2 adds no work, so on two idle
                    # cores the ratio is bounded only by the serial part (motion scan, pool start-up, the last chunk)
                    "cpu_seconds": {str(w): round(t, 2) for w, t in cpu.items()},
                    "cpu_extra_workers2": round(cpu[2] / cpu[1] - 1, 3),
                    # CPU seconds per end-to-end second: well under 2 for --workers 2 means the build got less than
                    # two cores (another process ran), which its ratio then reflects
                    "cores_busy": {
                        str(w): round(statistics.median(run[2] / run[1] for run in builds), 2)
                        for w, builds in runs.items()
                    },
                    "tracks": tracks,
                    "build_args": extra,
                    "cpus": len(os.sched_getaffinity(0)),
                    "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                },
            }
        )
    )
    if not identical:
        raise SystemExit("the builds' shards differ")


if __name__ == "__main__":
    main()
