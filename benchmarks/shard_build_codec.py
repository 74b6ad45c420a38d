"""Shard builder throughput against the bare codec forward on the same clips, with the real EnCodec-32 kHz shape.

The codec is an EncodecModel with facebook/encodec_32khz's architecture (models/music_codec.py
`encodec_32khz_config`) and random weights. Both measurements run side by side in this process on the
same 30 s clips with one torch thread and the same --codec-batch: the bare `MusicCodec.encode_batch`
over the decoded clips (the codec-bound rate; before and after the build, the faster counts), and
`unimumo-shards build` (decoding, beat tracking, batched codec, pairing, writing; its working phase). The ratio
builder / codec must be >= 0.8: the rest
of the pipeline must hide behind the codec. From the measured rates it prints an estimate of the
Music4All build (~109k 30 s tracks) on N nodes like this machine (codec on one CPU thread per node; on a
GPU node measure again with --device cuda).

    python benchmarks/shard_build_codec.py [--quick] [--tracks N] [--workers W] [--device cuda]
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

import torch  # noqa: E402
from transformers import EncodecModel  # noqa: E402

from unimumo.cli.shards import main as shards_main  # noqa: E402
from unimumo.data.sources.music4all import list_tracks, load_audio  # noqa: E402
from unimumo.data.synthetic_corpus import SyntheticCorpusConfig, build_argv, write_synthetic_corpus  # noqa: E402
from unimumo.models.music_codec import MusicCodec, encodec_32khz_config  # noqa: E402
from unimumo.rhythm import DEFAULT_BEAT_TRACKER, warm_up_beat_tracker  # noqa: E402

TARGET = 0.8
MUSIC4ALL_TRACKS = 109_269


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 tracks (< 2 min on 2 cores)")
    parser.add_argument("--tracks", type=int, help="30 s tracks (default 4 quick, 10)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="builder --workers: decoding, beats and pairing beside the codec (default 2)",
    )
    parser.add_argument("--codec-batch", type=int, default=4, help="builder --codec-batch (default 4)")
    parser.add_argument("--device", default="cpu", help="where the codec runs, bare and in the builder (default cpu)")
    args = parser.parse_args()
    tracks = args.tracks or (4 if args.quick else 10)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench_shard_codec_") as tmp:
        config = SyntheticCorpusConfig(
            tracks=tracks, motions=6, min_track_seconds=30.0, max_track_seconds=30.0, aist_seconds=40.0
        )
        corpus = write_synthetic_corpus(Path(tmp) / "corpus", config)
        codec_dir = Path(tmp) / "encodec_32khz"
        torch.manual_seed(0)
        EncodecModel(encodec_32khz_config()).save_pretrained(codec_dir)
        warm_up_beat_tracker(DEFAULT_BEAT_TRACKER)

        codec = MusicCodec.from_pretrained(codec_dir).to(args.device)
        good = {t["id"] for t in json.loads((corpus / "corpus.json").read_text())["music4all"] if t["kind"] == "good"}
        wavs = [
            load_audio(info.audio_path, codec.sampling_rate)  # the clips the builder encodes
            for info in list_tracks(corpus / "music4all", "train")
            if info.id in good
        ]
        codec.encode(wavs[0][: codec.sampling_rate])  # one-off allocations, before anything is timed

        def bare_codec() -> float:
            started = time.perf_counter()
            for start in range(0, len(wavs), args.codec_batch):
                codec.encode_batch(wavs[start : start + args.codec_batch])  # returns numpy: synchronised
            seconds = time.perf_counter() - started
            print(
                f"bare codec: {len(wavs)} clips of {len(wavs[0]) / codec.sampling_rate:.1f} s in {seconds:.1f} s",
                flush=True,
            )
            return seconds

        codec_seconds = bare_codec()

        argv = build_argv(
            corpus,
            Path(tmp) / "shards",
            "train",
            "--music-codec",
            str(codec_dir),
            "--workers",
            str(args.workers),
            "--codec-batch",
            str(args.codec_batch),
            "--device",
            args.device,
            "--max-failure-fraction",
            "1",
            "--no-progress",
        )  # the corpus's broken inputs are expected
        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            code = shards_main(argv)
        if code != 0:
            raise SystemExit(f"build exited with {code}")
        built = json.loads(report.getvalue())
        codec_seconds = min(codec_seconds, bare_codec())  # before and after the build: the faster counts
        encoded = built["tracks_with_samples"]
        if encoded != len(wavs):
            raise SystemExit(f"the builder made samples of {encoded} tracks, the codec encoded {len(wavs)}")
        print(
            f"builder: {encoded} tracks encoded, {built['samples']} samples, working phase "
            f"{built['work_seconds']:.1f} s",
            flush=True,
        )
    codec_rate, builder_rate = len(wavs) / codec_seconds, encoded / built["work_seconds"]
    estimate = {str(nodes): round(MUSIC4ALL_TRACKS / (builder_rate * nodes) / 3600, 1) for nodes in (1, 8, 32, 128)}
    print(
        f"Music4All ({MUSIC4ALL_TRACKS} tracks x 30 s) at {builder_rate:.3f} tracks/s per node: "
        + ", ".join(f"{hours} h on {nodes} node(s)" for nodes, hours in estimate.items())
    )
    print(
        json.dumps(
            {
                "benchmark": "shard_build_codec",
                "ratio": round(builder_rate / codec_rate, 3),
                "target": TARGET,
                "unit": "x of the bare codec's tracks/s (builder working phase, EnCodec-32 kHz shape, 1 thread)",
                "detail": {
                    "tracks": encoded,
                    "codec_tracks_per_s": round(codec_rate, 4),
                    "builder_tracks_per_s": round(builder_rate, 4),
                    "codec_seconds": round(codec_seconds, 1),
                    "builder_work_seconds": built["work_seconds"],
                    "workers": args.workers,
                    "codec_batch": args.codec_batch,
                    "device": args.device,
                    "music4all_hours_by_nodes": estimate,
                    "cpus": len(os.sched_getaffinity(0)),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
