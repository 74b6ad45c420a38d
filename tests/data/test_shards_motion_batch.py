"""The builder's batched motion tokenizer: a chunk's pairs share `MotionTokenizer.encode` calls (build_worker.
encode_motions) and get the codes of per-pair encoding; a failing call fails its pairs, recorded, and the build goes
on."""

import json
from pathlib import Path

import numpy as np
import torch

from unimumo.cli.shards import main
from unimumo.data import build_worker
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.shards.format import META, MOTION_CODES, decode_sample
from unimumo.shards.tar_reader import read_shard


def samples(shards):
    """{key: raw sample} of the train split."""
    manifest = json.loads((shards / "manifest.json").read_text())
    return {
        raw["__key__"]: {k: v for k, v in raw.items() if not k.startswith("__")}
        for entry in manifest["shards"]
        if entry["split"] == "train"
        for raw in read_shard(str(shards / entry["name"]))
    }


def spy_on_drafts(monkeypatch) -> list:
    """Every (key, features, fps) the build hands to the motion tokenizer; the real encode_motions still runs."""
    seen, real = [], build_worker.encode_motions

    def spy(results):
        seen.extend((d.key, d.features.copy(), d.fps) for result in results for d in result.drafts)
        return real(results)

    monkeypatch.setattr(build_worker, "encode_motions", spy)  # --workers 1 (the default): runs in this process
    return seen


def decisive_frames(tokenizer: MotionTokenizer, features: np.ndarray, fps: float, slack: float) -> np.ndarray:
    """[T] bool: frames whose codes no latent moved by <= `slack` can change. At every level the nearest
    codebook entry beats the runner-up by more than 2 * slack in distance (distance is 1-Lipschitz, and while
    the picks agree a moved latent moves each level's residual by the same vector)."""
    model = tokenizer.model
    inputs, mask = tokenizer.prepare([features], fps)
    latents, _ = model.encode_latents(inputs, mask)  # what encode quantizes
    residual = latents[0].double()
    decisive = np.ones(len(residual), dtype=bool)
    for codebook in model.quantizer.codebooks.double():
        nearest = torch.cdist(residual, codebook).topk(2, largest=False)
        decisive &= (nearest.values[:, 1] - nearest.values[:, 0] > 2 * slack).numpy()
        residual = residual - codebook[nearest.indices[:, 0]]
    return decisive


def test_batched_motion_codes_equal_per_pair_encoding(synthetic_corpus, tiny_shards, tmp_path, monkeypatch):
    """Padding is masked like a lone clip's zero padding, but batching changes the convolutions' float32
    summation order: latents move by ~1.5e-7 (measured on this tokenizer), so codes could differ only where
    two codebook entries are tied to within that. Frames with a wider margin (slack 1e-5, ~70x the measured
    shift, so the float32 pick also equals the float64 margin's) must have equal codes. (On this corpus every
    code is equal; a build here is byte-identical to the per-pair encoding the builder used before.)"""
    drafts = spy_on_drafts(monkeypatch)
    out = tmp_path / "spied"
    assert main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS, "--codec-batch", "3")) == 0
    built = samples(out)
    tokenizer = MotionTokenizer.from_pretrained(synthetic_corpus / "models" / "motion_vqvae")
    assert {key for key, _, _ in drafts} == set(built) and len({fps for _, _, fps in drafts}) == 2  # AIST++, HumanML3D
    checked = total = 0
    for key, features, fps in drafts:
        codes = decode_sample({"__key__": key, **built[key]})[MOTION_CODES]
        single = tokenizer.encode(features, fps=fps)[:, : codes.shape[1]]
        decisive = decisive_frames(tokenizer, features, fps, slack=1e-5)[: codes.shape[1]]
        np.testing.assert_array_equal(codes[:, decisive], single[:, decisive], err_msg=key)
        checked, total = checked + decisive.sum(), total + decisive.size
    assert checked >= 0.99 * total  # the check has teeth: nearly every frame is decisive


def test_a_failing_motion_tokenizer_call_fails_its_pairs_and_the_build_goes_on(synthetic_corpus, tmp_path, monkeypatch):
    """The first chunk's 60 fps (AIST++) call raises: each of its pairs is a failure naming its motion file and
    track; every other sample, same chunk included, is that of the same build without the error, byte for byte."""
    args = (*TINY_SHARDS_ARGS, "--codec-batch", "4", "--max-failure-fraction", "1")  # 3 chunks of the 12 tracks
    assert main(build_argv(synthetic_corpus, tmp_path / "reference", "train", *args)) == 0
    real, failed = MotionTokenizer.encode, []

    def encode(self, features, fps, progress=False):
        if fps == 60.0 and not failed:
            failed.append(len(features))
            raise RuntimeError("CUDA out of memory (injected)")
        return real(self, features, fps, progress)

    monkeypatch.setattr(MotionTokenizer, "encode", encode)
    out = tmp_path / "failing"
    assert main(build_argv(synthetic_corpus, out, "train", *args)) == 0
    ours, reference = samples(out), samples(tmp_path / "reference")
    assert failed and failed[0] >= 2  # a batch of pairs, not a lone one
    records = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    tokenizer_failures = [r for r in records if r["stage"] == "motion_tokenizer"]
    assert len(tokenizer_failures) == failed[0]
    for record in tokenizer_failures:
        assert "RuntimeError: CUDA out of memory (injected)" in record["reason"] and record["split"] == "train"
    lost = [decode_sample({"__key__": key, **reference[key]})[META] for key in reference.keys() - ours.keys()]
    assert sorted((m["track_id"], m["motion_id"]) for m in lost) == sorted(
        (r["track_id"], Path(r["file"]).stem) for r in tokenizer_failures
    )
    assert all(m["source"] == "aist" for m in lost)
    assert {key: reference[key] for key in ours} == ours
    assert {m["track_id"] for m in lost} & {key.rsplit("-", 1)[0] for key in ours}  # their tracks' other pairs stay
    summary = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    assert (
        summary["failures"]
        == json.loads((tmp_path / "reference" / "manifest.json").read_text())["splits"]["train"]["failures"] + failed[0]
    )
