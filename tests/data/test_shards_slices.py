"""Batched codec encoding, `build --slice i/n` + `merge` against the whole build, and merge's refusals."""

import json
import shutil

import numpy as np
import pytest

from unimumo.cli.shards import EXIT_FAILURES, EXIT_USAGE, main
from unimumo.data.sources.music4all import load_audio
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.models.music_codec import MusicCodec
from unimumo.shards.manifest import read_failures, read_skipped
from unimumo.shards.tar_reader import read_shard
from unimumo.shards.verify import verify_shards


def split_content(shards, split):
    """[(key, {field: bytes})] of `split` in manifest order: what "identical in content" compares
    (shard boundaries and names, and the reader's __url__, are left out)."""
    manifest = json.loads((shards / "manifest.json").read_text())
    return [
        (raw["__key__"], {k: v for k, v in raw.items() if not k.startswith("__")})
        for entry in manifest["shards"]
        if entry["split"] == split
        for raw in read_shard(str(shards / entry["name"]))
    ]


def first_level_is_a_tie(codec, clip, latent_batched, single, batched, frame):
    """At the first codebook level where the codes of `frame` differ, both picks are equidistant from the
    single-path residual up to what the latent difference allows: Euclidean distance is 1-Lipschitz, so a
    latent moved by delta can swap two entries only if their distances differ by <= 2 |delta| (+ cdist's
    own float32 rounding, ~1e-6 relative). Later levels quantize a different residual (they cascade)."""
    import torch

    with torch.no_grad():
        latent = codec.model.encoder(torch.from_numpy(clip)[None, None])[0, :, frame]
        delta = float((latent - latent_batched[:, frame]).norm())
        residual = latent
        for level, layer in enumerate(codec.model.quantizer.layers[: len(single)]):
            embed = layer.codebook.embed
            if single[level, frame] != batched[level, frame]:
                distances = (residual[None] - embed[[single[level, frame], batched[level, frame]]]).norm(dim=1)
                return abs(float(distances[0] - distances[1])) <= 2 * delta + 1e-6 * float(distances.max())
            residual = residual - embed[single[level, frame]]
    return False


def test_batched_codes_equal_one_at_a_time_up_to_ties(synthetic_corpus):
    """Codes are a residual argmin over codebook distances. Batching changes only the float summation
    order of the convolutions (latents differ by ~1e-7), so batched codes equal single codes except where
    two entries are tied to within that difference: then that level and, through the residual, the
    levels after it of that frame may differ. The tiny EnCodec's jittered codebooks make such ties occur."""
    import torch

    codec = MusicCodec.from_pretrained(synthetic_corpus / "models" / "encodec")
    wavs = [
        load_audio(path, codec.sampling_rate)
        for path in sorted((synthetic_corpus / "music4all" / "audios").glob("*"))
        if path.stat().st_size > 10_000
    ][:5]
    length = min(len(w) for w in wavs)
    clips = [w[:length] for w in wavs[:4]] + [wavs[4]]  # four equal-length clips share a pass, one alone
    batched = codec.encode_batch(clips)
    single = [codec.encode(clip) for clip in clips]
    np.testing.assert_array_equal(batched[4], single[4])  # a batch of one is the single path
    with torch.no_grad():
        latents = codec.model.encoder(torch.from_numpy(np.stack(clips[:4]))[:, None])
    differing_frames = 0
    for row in range(4):
        assert batched[row].dtype == np.int64 and batched[row].shape == single[row].shape
        for frame in np.flatnonzero((batched[row] != single[row]).any(axis=0)):
            assert first_level_is_a_tie(codec, clips[row], latents[row], single[row], batched[row], frame)
            differing_frames += 1
    assert differing_frames <= 0.01 * sum(c.shape[1] for c in single[:4])
    assert len({c.tobytes() for c in batched}) == len(clips)  # different clips, different codes
    with pytest.raises(ValueError, match="clip 1 has shape"):
        codec.encode_batch([clips[0], np.zeros((2, 10), np.float32)])


def test_slices_merge_into_the_whole_build(synthetic_corpus, tiny_shards, tmp_path, capsys):
    out = tmp_path / "sliced"
    codes = [
        main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS, "--slice", f"{index}/3"))
        for index in range(3)
    ]  # one chunk of --codec-batch 8 tracks each
    # the failure limit holds per slice: the last slice holds mostly the corpus's broken tracks
    assert codes == [0, 0, EXIT_FAILURES]
    assert sorted(p.name for p in (out / "slices").iterdir()) == ["0-of-3", "1-of-3", "2-of-3"]
    capsys.readouterr()
    assert main(["merge", str(out)]) == 0
    assert "merged train:" in capsys.readouterr().out

    assert split_content(out, "train") == split_content(tiny_shards, "train")
    merged = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    whole = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]
    differing = {key for key in whole if merged[key] != whole[key]}
    assert differing <= {"shards", "build_args"}  # shard boundaries differ; counts, skips, failures add up
    assert merged["build_args"]["slices"] == 3
    for read in (read_failures, read_skipped):
        assert read(out) == [r for r in read(tiny_shards) if r["split"] == "train"]
    problems, stats = verify_shards(out, progress=False)
    assert problems == [] and stats["samples"] == whole["samples"]


@pytest.fixture(scope="module")
def two_slices(synthetic_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("two_slices")
    for index in range(2):
        assert (
            main(
                build_argv(
                    synthetic_corpus, out, "val", *TINY_SHARDS_ARGS, "--codec-batch", "1", "--slice", f"{index}/2"
                )
            )
            == 0
        )
    return out


def copy_slices(two_slices, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(two_slices, copy)
    return copy, copy / "slices" / "1-of-2"


def edit_manifest(directory, edit):
    manifest = json.loads((directory / "manifest.json").read_text())
    edit(manifest)
    (directory / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda d: edit_manifest(d, lambda m: m["splits"]["val"]["build_args"].update(seed=7)),
            "1-of-2 (slice 1/2), split val: built with seed=7",
        ),
        (
            lambda d: edit_manifest(d, lambda m: m["splits"]["val"].update(beat_checkpoint_sha256="e" * 64)),
            "1-of-2 (slice 1/2), split val: built with other Beat This! weights",
        ),
        (
            lambda d: edit_manifest(d, lambda m: m["tokenizers"]["motion_tokenizer"].update(fingerprint="f" * 64)),
            "1-of-2 (slice 1/2) was built with a different motion_tokenizer",
        ),
        (
            lambda d: edit_manifest(d, lambda m: m["splits"]["val"]["build_args"].update(slice="1/3")),
            "1-of-2 (slice 1/3): built as one of 3 slices",
        ),
        (
            lambda d: (d / "val-000000.tar").write_bytes(b"x" + (d / "val-000000.tar").read_bytes()[1:]),
            "val-000000.tar: size or sha256 differs",
        ),
        (lambda d: shutil.rmtree(d), "missing [1]"),
    ],
)
def test_merge_refuses_and_writes_no_manifest(two_slices, tmp_path, capsys, damage, message):
    out, damaged = copy_slices(two_slices, tmp_path)
    damage(damaged)
    assert main(["merge", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("unimumo-shards merge: error:") and message in err, err
    assert not (out / "manifest.json").exists()


def test_merge_of_listed_slice_dirs_and_no_second_merge(two_slices, tmp_path):
    out, _ = copy_slices(two_slices, tmp_path)
    dirs = [str(out / "slices" / name) for name in ("1-of-2", "0-of-2")]  # any order
    assert main(["merge", *dirs, "--out", str(tmp_path / "merged")]) == 0
    assert split_content(tmp_path / "merged", "val") == split_content(out / "slices" / "0-of-2", "val") + split_content(
        out / "slices" / "1-of-2", "val"
    )
    assert main(["merge", *dirs, "--out", str(tmp_path / "merged")]) == EXIT_USAGE  # never over a manifest


def test_device_and_slice_arguments_are_checked_at_start(synthetic_corpus, tmp_path, capsys):
    import torch

    args = build_argv(synthetic_corpus, tmp_path / "x", "train")
    if not torch.cuda.is_available():
        assert main(args + ["--device", "cuda"]) == EXIT_USAGE
        assert "--device cuda: no CUDA device is available here" in capsys.readouterr().err
    for bad in ("2/2", "1of2", "1/0"):
        assert main(args + ["--slice", bad]) == EXIT_USAGE
        assert f"--slice must be i/n with 0 <= i < n (e.g. 0/4), got {bad!r}" in capsys.readouterr().err
    assert main(args + ["--codec-batch", "0"]) == EXIT_USAGE
    assert not (tmp_path / "x").exists()
