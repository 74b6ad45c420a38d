"""CLAP score (unimumo.eval.clap) against laion_clap run on the same tiny checkpoint, audio and captions.

Golden values: laion_clap 1.1.7 from PyPI (the package My_Eval's eval_clap.py imports; LAION-AI/CLAP@1fd4c37 holds
the same hook.py / htsat.py / model.py), in a scratch venv outside this repository with torch 2.13.0+cpu,
transformers 4.57.6, numpy 1.26.4, librosa 0.11.0. The script imported tests/testkit/clap_fixtures.py (now
unimumo.eval.random_eval_models: the same weights), wrote the
checkpoint and roberta directory with it (state-dict digest GOLDEN_DIGEST, checked below), then ran laion's own code:
`CLAP_Module(enable_fusion=False, device="cpu")`, `load_ckpt(ckpt=...)` (its strict load_state_dict),
`get_audio_embedding_from_filelist(x=FILES)`, `get_text_embedding(CAPTIONS)`, and `get_audio_embedding_from_data`
on the two in-memory clips of `_extra_clips` (after `np.random.seed(0)`; the long clip's crop offset it drew was
117952). Patched there, and only there: the hub downloads (roberta-base / bert / bart tokenizers and roberta-base's
model -> the tiny roberta directory; the weights are then overwritten by load_ckpt), the HTSAT size (laion's own
`HTSAT_Swin_Transformer` built with TINY_HTSAT instead of create_htsat_model's hard-coded tiny widths, and the
model config's embed_dim to match), and an empty torchvision module (imported by laion at module level, used only by
its fusion path). Command: `cd /tmp/h22clap && OMP_NUM_THREADS=1 venv/bin/python run_laion.py /work/main`.
Our embeddings matched laion's to 8e-8 (max abs over all 512 dims); the tolerance below is 1e-5, and the values it
separates (clip from clip, caption from caption) differ by more than 1e-2. The same comparison on a full-size checkpoint
(laion's unpatched HTSAT-tiny and a roberta-base-shaped text branch, random init, 635 MB, not kept) matched to 5e-8
(audio) and 1.2e-7 (text).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from unimumo.eval.clap import (
    CLIP_SAMPLES,
    ClapError,
    clap_score,
    fit_clip,
    load_audio,
    load_clap,
    quantize_int16,
)
from unimumo.eval.random_eval_models import (
    laion_state_dict,
    state_dict_digest,
    write_laion_checkpoint,
    write_roberta_dir,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "beats"
FILES = [ASSETS / f"{name}.flac" for name in ("loop_industrial", "loop_breakbeat", "loop_compus", "loop_garzul")]
CAPTIONS = [
    "the music has drums and a beat",
    "A low-quality recording of a live performance: electric guitar, bass and drums \u2014 the crowd is cheering, "
    "someone sings along.",
    "Caf\u00e9 jazz, soft piano.",
]
ATOL = 1e-5

GOLDEN_DIGEST = "9c5f366f9f4e719d50f914b77e77b4784511a417f9e037c35769049394e730f4"
GOLDEN_TOKEN_LENGTHS = [15, 77, 23]  # the second caption is truncated to 77 tokens
GOLDEN_CROP_OFFSET = 117952
# first six dimensions of each embedding
GOLDEN_AUDIO_HEAD = [
    [0.0510268, -0.0571397, 0.0364626, -0.1017703, -0.0316896, 0.0235296],
    [0.0288741, 0.0540329, -0.0387245, 0.0302417, 0.0093392, -0.0557271],
    [0.0297320, 0.0559416, -0.0390070, 0.0301430, 0.0078970, -0.0581538],
    [0.0452472, -0.0491818, 0.0448772, -0.0857500, -0.0276802, 0.0094304],
]
GOLDEN_TEXT_HEAD = [
    [0.0440197, -0.0239632, -0.0355382, -0.0027601, 0.0041828, 0.0749844],
    [0.0485441, -0.0113425, -0.0346061, -0.0186473, 0.0068099, 0.0646598],
    [0.0647976, -0.0035265, -0.0333614, -0.0066904, -0.0047961, 0.0740317],
]
GOLDEN_EXACT_HEAD = [0.0291192, 0.0557034, -0.0395651, 0.0297493, 0.0074015, -0.0599885]
GOLDEN_LONG_HEAD = [0.0659409, -0.0633765, 0.0317327, -0.0497380, -0.0301403, 0.0223987]
# cosines of every audio embedding (FILES, then exact and long) with every caption's: all 512 dimensions
GOLDEN_COS = [
    [0.0388182, 0.0270166, 0.0389379],
    [0.0436550, 0.0265107, 0.0451694],
    [0.0426666, 0.0258735, 0.0447872],
    [0.0279616, 0.0182126, 0.0314083],
    [0.0437336, 0.0269127, 0.0455187],
    [0.0298157, 0.0173212, 0.0283569],
]
GOLDEN_CLAP_SCORE = 0.036705341190099716  # My_Eval's mean over (FILES[i], CAPTIONS[i]), i < 3, on laion's embeddings


@pytest.fixture(scope="module")
def clap_files(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("clap")
    return write_laion_checkpoint(root / "630k-audioset-best.pt"), write_roberta_dir(root / "roberta-base")


@pytest.fixture(scope="module")
def scorer(clap_files):
    return load_clap(*clap_files)


def _extra_clips() -> list[np.ndarray]:
    """A clip of exactly 10 s and one of 16 s (cut at a random offset), from the raw 48 kHz loops."""
    compus = librosa.load(str(FILES[2]), sr=48000)[0]
    garzul = librosa.load(str(FILES[3]), sr=48000)[0]
    return [np.tile(compus, 2)[:CLIP_SAMPLES], np.tile(garzul, 2)]


def test_fixture_checkpoint_is_the_one_laion_ran(clap_files):
    loaded = torch.load(clap_files[0], map_location="cpu", weights_only=True)
    assert set(loaded) == {"epoch", "name", "state_dict"}
    assert all(key.startswith("module.") for key in loaded["state_dict"])
    state = {key.removeprefix("module."): value for key, value in loaded["state_dict"].items()}
    assert state_dict_digest(state) == GOLDEN_DIGEST


def test_embeddings_reproduce_laion_clap(scorer):
    audio = scorer.audio_embeddings([load_audio(path) for path in FILES])
    extra = scorer.audio_embeddings([quantize_int16(clip) for clip in _extra_clips()])
    text = scorer.text_embeddings(CAPTIONS)
    assert audio.shape == (4, 512) and text.shape == (3, 512) and audio.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.concatenate([audio, extra, text]), axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(audio[:, :6], GOLDEN_AUDIO_HEAD, atol=ATOL)
    np.testing.assert_allclose(text[:, :6], GOLDEN_TEXT_HEAD, atol=ATOL)
    np.testing.assert_allclose(extra[0, :6], GOLDEN_EXACT_HEAD, atol=ATOL)
    np.testing.assert_allclose(extra[1, :6], GOLDEN_LONG_HEAD, atol=ATOL)
    np.testing.assert_allclose(np.concatenate([audio, extra]) @ text.T, GOLDEN_COS, atol=ATOL)
    assert clap_score(audio[:3], text) == pytest.approx(GOLDEN_CLAP_SCORE, abs=ATOL)
    # batching does not change a clip's embedding (the batch norm runs on its running statistics)
    alone = scorer.audio_embeddings([load_audio(FILES[1])])
    np.testing.assert_allclose(alone[0], audio[1], atol=ATOL)


def test_tokenization_and_crop_follow_laion(scorer):
    tokens = scorer.tokenizer(CAPTIONS, padding="max_length", truncation=True, max_length=77)["input_ids"]
    assert [sum(token != 1 for token in row) for row in tokens] == GOLDEN_TOKEN_LENGTHS
    long = _extra_clips()[1]
    np.testing.assert_array_equal(fit_clip(long), long[GOLDEN_CROP_OFFSET : GOLDEN_CROP_OFFSET + CLIP_SAMPLES])
    assert not np.array_equal(fit_clip(long, crop_seed=1), fit_clip(long))


def test_fit_clip_repeats_short_clips_and_keeps_exact_ones():
    short = np.arange(1, 100001, dtype=np.float32)
    fitted = fit_clip(short)
    assert fitted.shape == (CLIP_SAMPLES,)
    np.testing.assert_array_equal(fitted[:400000], np.tile(short, 4))  # 4 whole copies fit, then zeros
    assert not fitted[400000:].any()
    exact = np.linspace(-1, 1, CLIP_SAMPLES, dtype=np.float32)
    np.testing.assert_array_equal(fit_clip(exact), exact)
    with pytest.raises(ClapError, match="mono audio"):
        fit_clip(np.zeros((2, 100), dtype=np.float32))


def test_quantize_int16_is_laions_round_trip():
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 0.99999, 1.0, 3.0], dtype=np.float32)
    expected = np.array([-32767, -32767, -16383, 0, 16383, 32766, 32767, 32767]) / 32767.0
    np.testing.assert_array_equal(quantize_int16(x), expected.astype(np.float32))
    assert quantize_int16(x).dtype == np.float32


def test_clap_score_is_the_mean_matched_cosine():
    rng = np.random.default_rng(0)
    a, t = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    cos = [float(x @ y / np.linalg.norm(x) / np.linalg.norm(y)) for x, y in zip(a, t)]
    assert clap_score(a, t) == pytest.approx(np.mean(cos))
    assert clap_score(3 * a, t) == pytest.approx(np.mean(cos))
    assert clap_score(a, a) == pytest.approx(1.0)
    with pytest.raises(ClapError, match="paired"):
        clap_score(a, t[:4])


def _rewrite(source: Path, target: Path, edit) -> Path:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target


def test_numpy_scalars_beside_the_weights_are_read(clap_files, tmp_path):
    def add_training_state(checkpoint):
        checkpoint["epoch"] = np.int64(45)
        checkpoint["optimizer"] = {"param_groups": [{"lr": np.float64(1e-4), "betas": (0.9, 0.99)}]}

    path = _rewrite(clap_files[0], tmp_path / "with_numpy.pt", add_training_state)
    assert load_clap(path, clap_files[1]).text_embeddings(CAPTIONS[:1]).shape == (1, 512)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c["state_dict"].pop("module.text_projection.2.bias"), "lacks weights for text_projection.linear2"),
        (
            lambda c: c["state_dict"].update({"module.audio_branch.extra.weight": torch.zeros(1)}),
            "unexpected key audio_branch.extra.weight",
        ),
        (
            lambda c: c["state_dict"].update({"module.text_projection.0.weight": torch.zeros(512, 32)}),
            r"text_projection.0.weight has shape \(512, 32\)",
        ),
        (
            lambda c: c["state_dict"].pop("module.audio_branch.logmel_extractor.melW"),
            "lacks audio_branch.logmel_extractor.melW",
        ),
        (
            lambda c: c["state_dict"]["module.audio_branch.layers.1.blocks.1.attn_mask"].zero_(),
            "attn_mask does not match HTSAT's geometry",
        ),
        (
            lambda c: c["state_dict"].update({"module.audio_branch.patch_embed.mel_conv2d.weight": torch.zeros(1)}),
            "feature-fusion CLAP checkpoint",
        ),
        (lambda c: c.update({"args": argparse.Namespace(lr=1e-4)}), "not a readable torch checkpoint of tensors"),
        (lambda c: c.update({"state_dict": {}}), "not a laion_clap checkpoint"),
    ],
    ids=["missing", "unexpected", "shape", "front-end", "geometry", "fusion", "pickled-object", "empty"],
)
def test_malformed_checkpoints_are_named(clap_files, tmp_path, edit, match):
    path = _rewrite(clap_files[0], tmp_path / "bad.pt", edit)
    with pytest.raises(ClapError, match=match) as error:
        load_clap(path, clap_files[1])
    assert str(path) in str(error.value)


def test_missing_files_and_text_dirs_are_named(clap_files, tmp_path):
    with pytest.raises(ClapError, match="checkpoint not found"):
        load_clap(tmp_path / "630k-audioset-best.pt", clap_files[1])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ClapError, match="garbage.pt: not a readable torch checkpoint"):
        load_clap(tmp_path / "garbage.pt", clap_files[1])
    with pytest.raises(ClapError, match="no config.json"):
        load_clap(clap_files[0], tmp_path)
    other = shutil.copytree(clap_files[1], tmp_path / "other-roberta")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] + 1}))
    with pytest.raises(ClapError, match=r"word_embeddings.weight has shape .*other-roberta/config.json"):
        load_clap(clap_files[0], other)
    with pytest.raises(ClapError, match="missing.wav: audio file not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(ClapError, match="garbage.pt: cannot read audio"):
        load_audio(tmp_path / "garbage.pt")


def test_fixture_state_dict_is_deterministic():
    assert state_dict_digest(laion_state_dict()) == GOLDEN_DIGEST
