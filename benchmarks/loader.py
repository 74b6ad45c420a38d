"""Streaming shard loader vs the same decoded windows served from memory, measured side by side in one run.

Both sides deliver the same batches layout (16 windows of 500 frames, text ids padded to 64) through
a torch DataLoader with 2 workers: the loader reads WebDataset tars, shuffles, decodes and crops in
its workers; the in-memory baseline is a map-style dataset over the already decoded and cropped
windows (what a dataset held in RAM would give the trainer), collated by the same function. The
ratio is the median loader samples/s over the median in-memory samples/s of alternating rounds
(target >= 0.5); wall-clock, since the work happens in worker processes. The rate of collating the
in-memory windows in the main process with no workers at all is reported in `detail` too.

    python benchmarks/loader.py [--quick] [--samples N] [--workers 2]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import webdataset as wds
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS  # noqa: E402
from unimumo.loader.dataloader import build_loader  # noqa: E402
from unimumo.loader.windows import Window, WindowSpec, collate_windows, make_window, task_weights_from_mixture  # noqa: E402
from unimumo.shards.format import encode_sample  # noqa: E402
from unimumo.shards.manifest import FORMAT, MANIFEST_NAME  # noqa: E402
from unimumo.shards.tar_reader import read_shard  # noqa: E402

BATCH, WINDOW, TEXT_LEN, CLIP_FRAMES, NUM_SHARDS = 16, 500, 64, 750, 8  # 15 s clips, 10 s windows


def write_shards(root: Path, num_samples: int) -> list[str]:
    rng = np.random.default_rng(0)
    entries, urls = [], []
    for shard in range(NUM_SHARDS):
        name = f"train-{shard:06d}.tar"
        keys = range(shard, num_samples, NUM_SHARDS)
        with wds.TarWriter(str(root / name)) as writer:
            for index in keys:
                codes = rng.integers(0, CODEBOOK_SIZE, (2, NUM_CODEBOOKS, CLIP_FRAMES))
                ids = rng.integers(3, 500, (2, 30)).tolist()
                writer.write(
                    encode_sample(
                        f"sample{index:06d}",
                        music_codes=codes[0],
                        motion_codes=codes[1],
                        music_text=f"music caption {index}",
                        motion_text=f"motion caption {index}",
                        music_ids=ids[0],
                        motion_ids=ids[1],
                        meta={"index": index, "fps": 50},
                    )
                )
        entries.append({"name": name, "split": "train", "count": len(keys)})
        urls.append(str(root / name))
    (root / MANIFEST_NAME).write_text(json.dumps({"format": FORMAT, "tokenizers": {}, "shards": entries, "splits": {}}))
    return urls


def time_loader(root: Path, workers: int) -> tuple[int, float]:
    loader = build_loader(
        root, "train", BATCH, window=Window(WINDOW, WINDOW), max_text_len=TEXT_LEN, num_workers=workers, epochs=1
    )
    started = time.perf_counter()
    samples = sum(len(batch["keys"]) for batch in loader)
    return samples, time.perf_counter() - started


def time_in_memory(windows: list[dict], workers: int) -> tuple[int, float]:
    collate = functools.partial(collate_windows, max_text_len=TEXT_LEN)
    batches = DataLoader(
        windows,
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        collate_fn=collate,
        prefetch_factor=4 if workers else None,
    )
    started = time.perf_counter()
    samples = sum(len(batch["keys"]) for batch in batches)
    return samples, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 samples (< 60 s)")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds; each side's median counts")
    args = parser.parse_args()
    num_samples = args.samples or (2000 if args.quick else 8000)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        urls = write_shards(root, num_samples)
        spec = WindowSpec(Window(WINDOW, WINDOW), TEXT_LEN, task_weights_from_mixture(None), seed=0)
        windows = [make_window(sample, spec, epoch=0) for url in urls for sample in read_shard(url)]
        random.Random(0).shuffle(windows)
        loader_rates, memory_rates = [], []
        for _ in range(args.rounds):
            samples, seconds = time_loader(root, args.workers)
            loader_rates.append(samples / seconds)
            samples, seconds = time_in_memory(windows, args.workers)
            memory_rates.append(samples / seconds)
        bare_samples, bare_seconds = time_in_memory(windows, 0)

    loader_rate, memory_rate = statistics.median(loader_rates), statistics.median(memory_rates)
    print(f"loader ({args.workers} workers, tars):        {loader_rate:10.0f} samples/s")
    print(f"in memory ({args.workers} workers, windows):  {memory_rate:10.0f} samples/s")
    print(f"in memory (no workers, collate only): {bare_samples / bare_seconds:10.0f} samples/s")
    print(
        json.dumps(
            {
                "benchmark": "loader",
                "ratio": round(loader_rate / memory_rate, 3),
                "target": 0.5,
                "unit": "x of in-memory samples/s (same DataLoader, 2 workers)",
                "detail": {
                    "samples": num_samples,
                    "batch_size": BATCH,
                    "window": WINDOW,
                    "clip_frames": CLIP_FRAMES,
                    "workers": args.workers,
                    "rounds": args.rounds,
                    "clock": "wall",
                    "loader_samples_per_s": [round(r) for r in loader_rates],
                    "in_memory_samples_per_s": [round(r) for r in memory_rates],
                    "in_memory_no_workers_samples_per_s": round(bare_samples / bare_seconds),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
