"""Motion that fills the window: short motions repeated at visual-beat loop points, blended at the seams, so that
a build from short clips trains on motion instead of padding (the loader's `padded_fraction`)."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from unimumo.cli.shards import main
from unimumo.constants import CODE_RATE
from unimumo.data.alignment import LOOP_CROSSFADE_SECONDS, tile_joints, visual_beats
from unimumo.data.synthetic_corpus import (
    AIST_FPS,
    AIST_SCALING,
    HUMANML3D_FPS,
    SyntheticCorpusConfig,
    build_argv,
    write_synthetic_corpus,
)
from unimumo.loader.dataloader import build_loader
from unimumo.loader.windows import Window
from unimumo.motion.humanml3d_features import joints_to_features
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.shards.format import decode_sample
from unimumo.shards.tar_reader import read_shard

SHORT_SECONDS = (1.0, 20.0)  # motion clip lengths of the short-clip corpus, uniform in this range
TRACK_SECONDS = (28.0, 30.0)  # Music4All clips are 30 s


def dance_joints(seconds: float, fps: float, bpm: float = 110.0, seed: int = 0) -> np.ndarray:
    return smpl_to_joints22(*synthetic_smpl_dance(int(seconds * fps), fps, bpm, seed))


def frame_speeds(joints: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1)  # fastest joint per frame


@pytest.mark.parametrize("seconds,fps", [(3.0, 20.0), (7.5, 60.0), (1.0, 20.0)])
def test_a_short_motion_is_looped_between_visual_beats_without_jumps(seconds, fps):
    joints = dance_joints(seconds, fps)
    beats = visual_beats(joints, fps)
    tiled, loop = tile_joints(joints, fps, beats, min_seconds=30.0)
    assert len(tiled) == int(np.ceil(30.0 * fps)) + 1 and loop.repeats >= 1
    assert np.array_equal(tiled[: loop.end + 1], joints[: loop.end + 1])  # the clip itself plays first
    if len(beats) >= 2 and seconds >= 3:  # the seam falls on visual beats
        for frame in (loop.start, loop.end):
            assert np.abs(beats * fps - frame).min() <= 0.5
    assert loop.crossfade == min(round(LOOP_CROSSFADE_SECONDS * fps), loop.end - loop.start)
    # no joint jumps: no frame of the tiled motion moves further than the clip's own fastest frame allows
    assert frame_speeds(tiled).max() <= 1.25 * frame_speeds(joints).max() + 1e-4
    # the root travels on across repeats instead of snapping back to where the loop started
    root = tiled[:, 0, [0, 2]]
    assert (
        np.linalg.norm(np.diff(root, axis=0), axis=-1).max()
        <= 1.25 * np.linalg.norm(np.diff(joints[:, 0, [0, 2]], axis=0), axis=-1).max() + 1e-4
    )


def test_a_motion_that_already_fills_the_window_is_not_tiled():
    joints = dance_joints(12.0, 20.0)
    tiled, loop = tile_joints(joints, 20.0, visual_beats(joints, 20.0), min_seconds=10.0)
    assert loop is None and tiled is joints


def write_short_clips(corpus: Path, seed: int = 0) -> list[float]:
    """Replace the corpus's good motions by dances of lengths spread evenly over SHORT_SECONDS (in random order);
    their lengths (s)."""
    truth = json.loads((corpus / "corpus.json").read_text())
    good = [m for group in ("aist", "humanml3d") for m in truth[group] if m["kind"] == "good"]
    lengths = [float(s) for s in np.linspace(*SHORT_SECONDS, len(good))]
    random.Random(seed).shuffle(lengths)
    for index, (item, seconds) in enumerate(zip(good, lengths)):
        if item["path"].endswith(".pkl"):
            poses, trans = synthetic_smpl_dance(int(seconds * AIST_FPS), AIST_FPS, item["bpm"], 900 + index)
            data = {"smpl_poses": poses, "smpl_trans": trans * AIST_SCALING, "smpl_scaling": np.array([AIST_SCALING])}
            Path(item["path"]).write_bytes(pickle.dumps(data))
        else:
            poses, trans = synthetic_smpl_dance(int(seconds * HUMANML3D_FPS), HUMANML3D_FPS, item["bpm"], 900 + index)
            np.save(item["path"], joints_to_features(smpl_to_joints22(poses, trans), fps=HUMANML3D_FPS))
    return lengths


@pytest.fixture(scope="module")
def short_clip_builds(tmp_path_factory):
    """(lengths, {"tiled": dir, "untiled": dir}): train shards of 28-30 s tracks paired with 1-20 s clips."""
    root = tmp_path_factory.mktemp("short_clips")
    corpus = write_synthetic_corpus(
        root / "corpus",
        SyntheticCorpusConfig(
            tracks=8, motions=12, min_track_seconds=TRACK_SECONDS[0], max_track_seconds=TRACK_SECONDS[1]
        ),
    )
    lengths = write_short_clips(corpus)
    builds = {}
    for name, extra in (("tiled", ()), ("untiled", ("--no-tile",))):
        builds[name] = root / name
        assert main(build_argv(corpus, builds[name], "train", "--pairs-per-track", "3", "--no-progress", *extra)) == 0
    return lengths, builds


def padded_fraction(shards: Path, window_s: float) -> float:
    """The loader's padded share of the code steps over one epoch of windows of `window_s` (min window 0.5 s)."""
    loader = build_loader(
        shards, "train", 4, window=Window.from_seconds(window_s, 0.5, CODE_RATE), epochs=1, shuffle_buffer=0
    )
    for _ in loader:
        pass
    stats = loader.stats
    assert stats["short_samples_dropped"] == 0
    return stats["padded_fraction"]


def test_tiled_pairs_fill_the_track_and_the_loader_pads_almost_nothing(short_clip_builds):
    lengths, builds = short_clip_builds
    assert min(lengths) == SHORT_SECONDS[0] and max(lengths) == SHORT_SECONDS[1]
    figures = {name: {w: padded_fraction(out, w) for w in (5.0, 10.0)} for name, out in builds.items()}
    print(
        f"padded fraction of code steps, {len(lengths)} clips of {min(lengths):.1f}-{max(lengths):.1f} s "
        f"with {TRACK_SECONDS[0]:g}-{TRACK_SECONDS[1]:g} s tracks: {figures}"
    )
    assert figures["tiled"][5.0] <= 0.05 and figures["tiled"][10.0] <= 0.05
    assert figures["untiled"][10.0] > 0.2  # today's pairing: a pair lasts as long as its motion
    tiled = [
        decode_sample(raw)["json"]
        for url in sorted(builds["tiled"].glob("train-*.tar"))
        for raw in read_shard(str(url))
    ]
    looped = [meta for meta in tiled if meta["tiling"] is not None]
    assert looped and all(meta["num_frames"] >= TRACK_SECONDS[0] * CODE_RATE - 2 for meta in tiled)
    for meta in looped:
        assert meta["tiling"]["repeats"] >= 1 and meta["tiling"]["loop_end_s"] > meta["tiling"]["loop_start_s"]
        assert meta["tiling"]["crossfade_s"] <= LOOP_CROSSFADE_SECONDS
