"""`unimumo-shards build`: raw corpora -> tokenized, beat-aligned music-motion pairs in WebDataset shards.

Determinism and resume: the plan is the split's track list (split-file order, ignore list applied)
and its motion pool. Track i's samples depend only on (seed, split, track id) and the frozen models,
computed with one torch and one BLAS thread per process. Results are consumed in plan order and written
to shards that roll over at track boundaries, so shard contents are a pure function of the plan and the
arguments. A killed build leaves complete shards with records (see shards/writer.py); `--resume` checks
the plan is unchanged, keeps the complete prefix and rebuilds from the first track after it, giving
byte-identical shards to an uninterrupted build.

Pipeline: the plan is cut into chunks of --codec-batch tracks at fixed plan positions (i // codec_batch).
Each chunk passes four stages: workers decode and beat-track its tracks (build_worker.prepare_track), its
music is encoded in batched codec passes (build_worker.encode_music), workers place and warp the encoded
tracks' motions and compute their features (build_worker.pair_track: pairing drafts), and its pairs'
motion features are encoded in batched motion-tokenizer passes (build_worker.encode_motions: one call per
motion frame rate), which completes the samples. With --device cpu a worker runs the first two stages
of a chunk in one call and the last two in another (build_worker.encode_chunk, pair_chunk): chunks encode
in parallel, a chunk's audio and drafts never travel between processes, and this process only hands out
calls and writes the shards. With a device the batched passes run here, the per-track stages in the
workers. Up to workers + 1 chunks are in flight, each moving on as soon as its stage is done. A clip and
a pair are always encoded with the same chunk companions, whether the build runs whole, resumed (the
chunk holding the resume point is re-encoded and re-paired in full) or sliced.

Slices (--slice i/n): slice i is a contiguous run of whole chunks of the plan, chunks
[i*C//n, (i+1)*C//n) of C, written to OUT/slices/i-of-n as a shard directory of its own (resumable
alone). Slice 0 also records what belongs to no track (ignore-listed tracks and motions, unreadable
motion files), so the slices' records and counts add up to the whole build's; see data/shard_merge.py.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from unimumo.constants import CODE_RATE
from unimumo.data import build_worker, split_lists
from unimumo.data.build_config import BuildConfig
from unimumo.data.pairing import MotionEntry, choose_motions, count_samples, load_motion, pair_rng, pool_cum_weights
from unimumo.data.sources import aist, dancedb, humanml3d, music4all
from unimumo.errors import UniMuMoError
from unimumo.rhythm import warm_up_beat_tracker
from unimumo.shards.manifest import Manifest, update_split
from unimumo.shards.tar_reader import read_shard
from unimumo.shards.writer import ShardWriter, read_records, records_dir
from unimumo.utils.fingerprint import fingerprint_file
from unimumo.utils.io import atomic_write_json
from unimumo.utils.run_lock import run_lock


class BuildError(UniMuMoError, RuntimeError):
    """The build cannot start or continue (bad arguments for --resume, existing output, empty motion pool)."""

    kind = "build error"


@dataclass
class BuildReport:
    split: str
    out: str
    shards: int = 0
    samples: int = 0
    tracks: int = 0
    tracks_with_samples: int = 0
    resumed_from_track: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    inputs: int = 0
    failure_fraction: float = 0.0
    max_failure_fraction: float = 0.0
    seconds: float = 0.0  # end to end
    work_seconds: float = 0.0  # motion scan + pairing (the part --workers parallelises), after model loading
    samples_per_s: float = 0.0
    pairing: dict = field(default_factory=dict)  # pairing.count_samples: samples per motion source, tiled ones

    def contents(self) -> dict:
        """What describes the split's shards (for the manifest), without this run's timing and resume point."""
        run_fields = ("out", "resumed_from_track", "seconds", "work_seconds", "samples_per_s")
        return {key: value for key, value in asdict(self).items() if key not in run_fields}

    @property
    def ok(self) -> bool:
        return self.failure_fraction <= self.max_failure_fraction


def ignored_record(item_id: str, file: Path) -> dict:
    """A skipped.jsonl record of an input on its corpus's ignore list."""
    return {"id": item_id, "file": str(file), "reason": "ignored", "detail": f"listed in {file.name}"}


def motion_entries(
    config: BuildConfig, ignored_ids: dict[str, dict[str, Path]] | None = None
) -> tuple[list[MotionEntry], list[dict]]:
    """The split's motion files (AIST++, HumanML3D, then DanceDB, list order) and skip records of those the ignore list
    removed and of bad list lines."""
    entries, ignored = [], []
    if config.aist is not None:
        listed = aist.read_names(
            config.split_file("aist") or Path(config.aist) / "splits" / f"crossmodal_{config.split}.txt"
        )
        paths = aist.list_sequences(config.aist, config.split, split_path=config.split_file("aist"), skipped=ignored)
        kept = {p.stem for p in paths}
        ignored += [ignored_record(name, Path(config.aist) / "ignore_list.txt") for name in listed if name not in kept]
        entries += [MotionEntry(id=p.stem, source="aist", path=str(p)) for p in paths]
    if config.humanml3d is not None:
        entries += [
            MotionEntry(id=p.stem, source="humanml3d", path=str(p))
            for p in humanml3d.list_clips(
                config.humanml3d, config.split, split_path=config.split_file("humanml3d"), skipped=ignored
            )
        ]
    if config.dancedb is not None:
        paths, ignored_takes = dancedb.list_takes(
            config.dancedb, config.split, skipped=ignored, split_path=config.split_file("dancedb")
        )
        ignored += [ignored_record(take, Path(config.dancedb) / "ignore_list.txt") for take in ignored_takes]
        entries += [MotionEntry(id=p.stem, source="dancedb", path=str(p)) for p in paths]
    entries, dropped = split_lists.without_ignored(entries, lambda entry: entry.source, ignored_ids)
    ignored += [ignored_record(entry_id, file) for entry_id, file in dropped.items()]
    return entries, ignored


def tokenizer_manifest(context: build_worker.WorkerContext, config: BuildConfig) -> dict:
    return {
        "music_codec": {
            "path": str(Path(config.music_codec).resolve()),
            "fingerprint": context.codec.fingerprint,
            "sampling_rate": context.codec.sampling_rate,
            "frame_rate": context.codec.frame_rate,
        },
        "motion_tokenizer": {
            "path": str(Path(config.motion_tokenizer).resolve()),
            "fingerprint": context.motion_tokenizer.fingerprint,
            "codebook": context.motion_tokenizer.config.codebook,  # independent, or music: in the codec's code space
        },
        "text_tokenizer": {
            "path": str(Path(config.text_tokenizer).resolve()),
            "fingerprint": context.text_tokenizer.fingerprint,
            "vocab_size": context.text_tokenizer.vocab_size,
        },
    }


def plan_fingerprint(config: BuildConfig, tracks, entries, tokenizers: dict) -> str:
    plan = {
        "args": config.content_args(),
        "tracks": [t.id for t in tracks],
        "motions": [asdict(e) for e in entries],
        "tokenizers": {name: info["fingerprint"] for name, info in tokenizers.items()},
        "caption_files": {
            name: fingerprint_file(path)
            for name in ("music_captions", "motion_captions")
            if (path := getattr(config, name)) is not None
        },
        "list_files": {
            path: fingerprint_file(path)
            for path in sorted(
                {*config.split_files.values(), *(p for paths in config.ignore_lists.values() for p in paths)}
            )
        },
        # the Beat This! weights' content: a resume with another file under the same name is refused
        **({"beat_checkpoint": fingerprint_file(config.beat_checkpoint)} if config.beat_checkpoint else {}),
    }
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def prepare_output(config: BuildConfig, fingerprint: str) -> tuple[int, int, list]:
    """(next shard index, next track index, complete records) after checking --resume against the directory."""
    out, split = config.output_dir, config.split
    plan_path = records_dir(out, split) / "plan.json"
    existing = sorted(out.glob(f"{split}-*.tar")) + sorted(records_dir(out, split).glob("[0-9]*.json"))
    for stale in out.glob(f".{split}-*.tar.*.tmp"):  # left by a killed build
        stale.unlink()
    if not config.resume:
        if existing:
            raise BuildError(f"{out}: split {split!r} already has shards; pass --resume to continue or use a new --out")
        atomic_write_json(plan_path, {"fingerprint": fingerprint, "args": config.content_args()})
        return 0, 0, []
    if plan_path.is_file():
        previous = json.loads(plan_path.read_text())
        if previous["fingerprint"] != fingerprint:
            raise BuildError(
                f"{plan_path}: --resume with different inputs, arguments or tokenizers than the "
                f"interrupted build (was {previous['args']})"
            )
    elif existing:
        raise BuildError(f"{out}: shards of split {split!r} exist without a build plan; cannot resume safely")
    atomic_write_json(plan_path, {"fingerprint": fingerprint, "args": config.content_args()})
    records = read_records(out, split)
    if not records:
        return 0, 0, []
    return records[-1].index + 1, records[-1].track_end, records


class Deferred:
    """The result of fn(arg), computed in this process when first asked for (the in-process `--workers 1`)."""

    def __init__(self, fn: Callable, arg):
        self.fn, self.arg = fn, arg

    def ready(self) -> bool:
        return True

    def get(self):
        if self.fn is not None:
            self.value, self.fn, self.arg = self.fn(self.arg), None, None
        return self.value


class Submitted:
    """fn(arg) handed to a worker pool: ready() once its result (or error) arrived, which also sets `arrived`."""

    def __init__(self, pool, fn: Callable, arg, arrived: threading.Event):
        self.arrived, self.done = arrived, False
        self.result = pool.apply_async(fn, (arg,), callback=self.note, error_callback=self.note)

    def note(self, _) -> None:  # in the pool's result thread
        self.done = True
        self.arrived.set()

    def ready(self) -> bool:
        return self.done

    def get(self):
        return self.result.get()


@dataclass
class Workers:
    """`map` (ordered), `submit` (one call, returning a handle with ready()/get()) and `wait` (until a
    submitted call finishes) over this process or a pool of forked worker processes."""

    map: Callable
    submit: Callable
    wait: Callable[[], None]


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Workers]:
    """Calls in this process (workers == 1: computed when their result is asked for) or over `workers`
    forked processes, which inherit the models loaded by `build_worker.init_worker` and keep their motion
    caches between calls."""
    if workers == 1:
        yield Workers(map=map, submit=Deferred, wait=lambda: None)
        return
    arrived = threading.Event()

    def wait() -> None:
        arrived.wait()
        arrived.clear()  # before the caller looks at its handles again: no arrival is missed

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield Workers(
            map=lambda fn, items: pool.imap(fn, items, chunksize=1),
            submit=lambda fn, arg: Submitted(pool, fn, arg, arrived),
            wait=wait,
        )


def slice_bounds(config: BuildConfig, tracks: int) -> tuple[int, int]:
    """[start, end) of this build's slice of a plan of `tracks` tracks: whole chunks of config.codec_batch."""
    index, count = config.slice_index_count
    chunks = -(-tracks // config.codec_batch)
    return (
        min(index * chunks // count * config.codec_batch, tracks),
        min((index + 1) * chunks // count * config.codec_batch, tracks),
    )


@dataclass
class Stage:
    """One step of a chunk: `fn` per track (its calls in parallel) or over the whole chunk (one batched call),
    in a worker or (`here`) in this process."""

    fn: Callable
    per_track: bool
    here: bool = False


def stages(config: BuildConfig) -> list[Stage]:
    """A chunk's steps. On the CPU, two calls per chunk in a worker (decode, beats and codec; pairing and motion
    codes), so that its audio and drafts never travel between processes; on a device, the batched passes run
    here and the per-track steps in the workers."""
    if config.device == "cpu":
        return [Stage(build_worker.encode_chunk, per_track=False), Stage(build_worker.pair_chunk, per_track=False)]
    return [
        Stage(build_worker.prepare_track, per_track=True),
        Stage(build_worker.encode_music, per_track=False, here=True),
        Stage(build_worker.pair_track, per_track=True),
        Stage(build_worker.encode_motions, per_track=False, here=True),
    ]


@dataclass
class Chunk:
    """A chunk of the plan in flight: the index of its current stage and the handles of that stage's calls."""

    handles: list
    stage: int = 0


def run_pipeline(
    jobs: list[tuple], first: int, config: BuildConfig, workers: Workers, window: int
) -> Iterator[build_worker.TrackResult]:
    """Track results from plan position `first` on, in plan order; `jobs` start at a chunk boundary.

    Up to `window` chunks are in flight; each moves to its next stage (see `stages`) once all calls of the
    current one are done. Every track of a chunk is paired and motion-encoded, those before `first` too, so
    that a pair always has the same batch companions.
    """
    steps = stages(config)

    def start(stage: Stage, items: list) -> list:
        submit = Deferred if stage.here else workers.submit
        return [submit(stage.fn, item) for item in items] if stage.per_track else [submit(stage.fn, items)]

    def outputs(chunk: Chunk) -> list:
        done = [handle.get() for handle in chunk.handles]
        return done if steps[chunk.stage].per_track else done[0]

    chunks = [jobs[begin : begin + config.codec_batch] for begin in range(0, len(jobs), config.codec_batch)]
    in_flight: collections.deque[Chunk] = collections.deque()
    started = 0
    while in_flight or started < len(chunks):
        while started < len(chunks) and len(in_flight) < window:
            in_flight.append(Chunk(start(steps[0], chunks[started])))
            started += 1
        moved = False
        for chunk in in_flight:
            if chunk.stage < len(steps) - 1 and all(handle.ready() for handle in chunk.handles):
                chunk.handles, chunk.stage = start(steps[chunk.stage + 1], outputs(chunk)), chunk.stage + 1
                moved = True
        while in_flight and in_flight[0].stage == len(steps) - 1 and all(h.ready() for h in in_flight[0].handles):
            yield from (result for result in outputs(in_flight.popleft()) if result.index >= first)
            moved = True
        if not moved:
            workers.wait()


def pairing_jobs(tracks: list, pool: list[MotionEntry], config: BuildConfig) -> list[tuple]:
    """(plan index, track, chosen motions) of every track; the choice depends only on seed, split, track id (and
    the pool drawn from, weighted by config.source_weights)."""
    cum_weights = pool_cum_weights(pool, config.source_weights)
    return [
        (
            index,
            track,
            choose_motions(pool, config.pairs_per_track, pair_rng(config.seed, config.split, track.id), cum_weights),
        )
        for index, track in enumerate(tracks)
    ]


def summarize(
    config: BuildConfig,
    records: list,
    tracks: list,
    ignored_tracks: list[dict],
    motions: int,
    ignored_motions: list[dict],
    failures: list[dict],
) -> BuildReport:
    """The report of `tracks` (this build's slice) plus `motions` motion inputs (0 in slices other than 0)."""
    skipped = {
        "ignored_tracks": sum(s["reason"] == "ignored" for s in ignored_tracks),
        "ignored_motions": sum(s["reason"] == "ignored" for s in ignored_motions),
    }
    listing = [s for s in ignored_tracks + ignored_motions if s["reason"] != "ignored"]  # bad lines, metadata
    for skip in listing + [skip for record in records for skip in record.skipped]:
        skipped[skip["reason"]] = skipped.get(skip["reason"], 0) + 1
    inputs = len(tracks) + motions
    return BuildReport(
        split=config.split,
        out=str(config.output_dir),
        shards=len(records),
        samples=sum(r.count for r in records),
        tracks=len(tracks),
        tracks_with_samples=len({k.rsplit("-", 1)[0] for r in records for k in r.keys}),
        skipped=skipped,
        failures=len(failures),
        inputs=inputs,
        failure_fraction=round(len(failures) / max(inputs, 1), 4),
        max_failure_fraction=config.max_failure_fraction,
    )


def build_split(config: BuildConfig, progress: bool = True) -> BuildReport:
    """Build (or with config.resume, finish) one split, or one slice of it; returns the report also stored in
    manifest.json. One build per split and output directory at a time (a lock file naming the holder)."""
    config.validate()
    with run_lock(config.output_dir, f"build-{config.split}", f"unimumo-shards build --split {config.split}"):
        return _build_split(config, progress)


def _build_split(config: BuildConfig, progress: bool) -> BuildReport:
    out = config.output_dir
    started = time.perf_counter()
    unusable: list[dict] = []  # tracks left out for a bad split line or metadata (skip records)
    all_tracks = music4all.list_tracks(
        config.music4all, config.split, split_path=config.split_file("music4all"), skipped=unusable
    )
    listed_ignored: list[dict] = []  # --ignore-list: its bad lines, then the tracks it leaves out
    ignored_ids = split_lists.read_ignore_lists(config.ignore_lists, listed_ignored)
    all_tracks, dropped = split_lists.without_ignored(all_tracks, lambda track: "music4all", ignored_ids)
    listed_ignored += [ignored_record(track_id, file) for track_id, file in dropped.items()]
    start, end = slice_bounds(config, len(all_tracks))
    tracks = all_tracks[start:end]
    owns_unplanned = config.slice_index_count[0] == 0  # slice 0 records what belongs to no track
    listed_tracks = [
        track_id
        for track_id in music4all.read_id_list(
            config.split_file("music4all") or Path(config.music4all) / "splits" / f"{config.split}.txt"
        )
        if track_id not in dropped
    ]
    entries, ignored_motions = motion_entries(config, ignored_ids)
    kept_ids = {track.id for track in all_tracks} | {skip["id"] for skip in unusable}
    ignore_file = Path(config.music4all) / "music4all_ignore.txt"
    ignored_tracks = [ignored_record(track_id, ignore_file) for track_id in listed_tracks if track_id not in kept_ids]
    ignored_tracks += unusable
    ignored_tracks += listed_ignored
    if not owns_unplanned:
        ignored_tracks, ignored_motions = [], []

    context = build_worker.init_worker(config)  # forked workers inherit the loaded models
    load_motion.cache_clear()  # never reuse motions read by an earlier build in this process
    if context.codec.frame_rate != CODE_RATE:
        raise BuildError(f"{config.music_codec}: codec frame rate {context.codec.frame_rate} Hz, expected {CODE_RATE}")
    # and the compiled beat-tracking kernels (or the Beat This! network)
    warm_up_beat_tracker(config.beat_tracker, checkpoint=config.beat_checkpoint)
    tokenizers = tokenizer_manifest(context, config)
    Manifest.load(out, missing_ok=True).check_tokenizers(tokenizers)
    next_index, next_track, records = prepare_output(config, plan_fingerprint(config, tracks, entries, tokenizers))

    writer = ShardWriter(out, config.split, int(config.shard_size_mb * 2**20), next_index, next_track)
    written = 0
    bar = tqdm(total=len(tracks), initial=next_track, unit="track", desc=f"build {config.split}", disable=not progress)
    work_started = time.perf_counter()
    try:
        with worker_pool(config.workers) as workers:
            scans = list(workers.map(build_worker.scan_motion, entries))
            motion_failures = [failure for _, failure in scans if failure is not None]
            pool = [entry for entry, failure in scans if failure is None]
            if not pool:
                raise BuildError(f"no readable motion for split {config.split!r} ({len(motion_failures)} failed)")
            if config.device != "cpu":  # after the fork: workers never touch the device
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
                context.codec.to(config.device)
                context.motion_tokenizer.to(config.device)
            chunk_start = next_track // config.codec_batch * config.codec_batch
            jobs = pairing_jobs(tracks, pool, config)[chunk_start:]
            window = 1 if config.workers == 1 else config.workers + 1
            counts = count_samples(raw for record in records for raw in read_shard(str(out / record.name)))
            for result in run_pipeline(jobs, next_track, config, workers, window):
                count_samples(result.samples, counts)
                writer.add_track(result.samples, result.failures, result.skipped)
                written += len(result.samples)
                bar.update(1)
                bar.set_postfix(samples=written, samples_per_s=f"{written / (time.perf_counter() - started):.2f}")
        writer.close_shard()
        work_seconds = time.perf_counter() - work_started
    finally:
        writer.abort()
        bar.close()

    records = records + writer.finished
    failures = (motion_failures if owns_unplanned else []) + [f for record in records for f in record.failures]
    skips = ignored_tracks + ignored_motions + [skip for record in records for skip in record.skipped]
    report = summarize(
        config, records, tracks, ignored_tracks, len(entries) if owns_unplanned else 0, ignored_motions, failures
    )
    report.pairing = counts
    shards = [{"name": r.name, "count": r.count, "bytes": r.bytes, "sha256": r.sha256} for r in records]
    update_split(
        out,
        config.split,
        tokenizers=tokenizers,
        shards=shards,
        failures=failures,
        skipped=skips,
        summary={
            **report.contents(),
            "build_args": config.as_json(),
            # the Beat This! weights' content, for evaluation to track beats with the same weights
            **({"beat_checkpoint_sha256": fingerprint_file(config.beat_checkpoint)} if config.beat_checkpoint else {}),
        },
    )
    report.resumed_from_track = next_track
    report.seconds = round(time.perf_counter() - started, 2)
    report.work_seconds = round(work_seconds, 2)
    report.samples_per_s = round(written / report.seconds, 3)
    return report
