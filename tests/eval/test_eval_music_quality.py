"""FAD and KL (unimumo.eval.music_quality, vggish, panns) against the published evaluation code, on fixed inputs.

Inputs: unimumo.eval.random_eval_models (formerly testkit.music_eval_models; the same weights): random-weight VGGish
and PANNs Cnn14 at their real sizes, saved in torchvggish's `vggish-10086976.pth` and PANNs' `Cnn14_16k_mAP=0.438.pth`
formats (state digests below); testkit.music_eval_models: four clip pairs (generated at 32 kHz, reference at 16 kHz)
cut from tests/assets/beats/.

Golden values: the upstream code run outside this repository on exactly these files
(`python /tmp/h22nets/golden.py <fixture dir>`, this project's .venv packages: torch 2.13.0+cpu, numpy 2.4.6,
scipy 1.17.1, librosa 0.11.0; plus torchaudio 2.11.1, whose `functional.resample` is the same code as 2.2.2's, and
torchlibrosa 0.1.0):
* "resample" (the published path, the default): haoheliu/audioldm_eval@3bbfeba21e094f5fde4ce9c94971c6ced7307b1d
  `EvaluationHelper(16000, cpu).main(generated, reference)` as Cralence/My_Eval@ce5b01d57d56ecd12c79947fbe40d1266b9f3803
  eval_music.py calls it (3bbfeba = a93d8d8ef23895653af2d98a1bc6aea0c93cd8b7, main when the authors evaluated, plus
  a librosa keyword fix in the TacotronSTFT that FAD and KL do not use), with
  `torch.hub.load("harritaylor/torchvggish", "vggish")` served from
  harritaylor/torchvggish@f3f90969ce8fb77a05d984b892ddf662e8466377 and its weight URL from the VGGish file, Cnn14's
  checkpoint from the PANNs file, `torchaudio.load` done by soundfile (float32; the same samples for 16-bit WAV);
* "decimate+resample": My_Eval@ce5b01d `audio_eval/datasets/load_mel.py` `WaveDataset.read_from_file` on the same
  files, the same upstream Cnn14 and `calculate_kl`;
* "decimate": My_Eval@ce5b01d `audio_eval/metrics/fad.py` `load_audio_task` on the same files, the same upstream
  VGGish (a clip under 0.96 s makes no example: upstream's VGG raises and the file is skipped), its
  `calculate_embd_statistics` and `calculate_frechet_distance`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from testkit.music_eval_models import CLIP_PAIRS, write_clip_pairs
from unimumo.eval.music_quality import (
    LOADERS,
    MusicQualityError,
    frechet_distance,
    kl_divergences,
    load_panns,
    load_vggish,
    panns_outputs,
    read_audio,
    sinc_resample,
    to_16k,
    vggish_embeddings,
)
from unimumo.eval.panns import Cnn14
from unimumo.eval.random_eval_models import state_digest, write_panns_checkpoint, write_vggish_checkpoint
from unimumo.eval.vggish import VGGish

VGGISH_DIGEST = "dc7a4eb8ceb581ee"
PANNS_DIGEST = "07912f25422c5483"
GOLDEN = {
    "resample": {
        "fad": 841.3342858195107,
        "kl_softmax": 1.807555913925171,
        "kl_sigmoid": 51.68335723876953,
        "embeddings": (8, 9),  # VGGish examples of the generated and the reference set
        "gen0_embedding0": [-1.73128080368042, -6.672413349151611, 1.685002088546753, 1.4336966276168823],
        "gen0_logits": [1.74971342086792, -1.3017233610153198, 0.7901292443275452, -0.032029420137405396],
    },
    "decimate+resample": {
        "kl_softmax": 3.0928821563720703,
        "kl_sigmoid": 87.81839752197266,
        "gen0_logits": [4.971040725708008, -2.741121292114258, 0.6455927491188049, -0.7970619201660156],
    },
    "decimate": {"fad": 673.4246591315052, "embeddings": (2, 7)},
}
# torchaudio.functional.resample(clip_a's 32 kHz samples, 32000, 16000)
TORCHAUDIO_CLIP_A = {
    "len": 24000,
    "sum": 0.03212154906850628,
    "at_1000": [
        -0.007003619335591793,
        -0.009998079389333725,
        -0.011535035446286201,
        -0.023120451718568802,
        -0.010802564211189747,
    ],
}


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music_quality")
    write_vggish_checkpoint(root / "vggish-10086976.pth")
    write_panns_checkpoint(root / "Cnn14_16k_mAP=0.438.pth")
    write_clip_pairs(root)
    return root


@pytest.fixture(scope="module")
def models(fixture_dir):
    return load_vggish(fixture_dir / "vggish-10086976.pth"), load_panns(fixture_dir / "Cnn14_16k_mAP=0.438.pth")


def _clips(fixture_dir: Path, side: str, loader: str) -> list[np.ndarray]:
    return [to_16k(*read_audio(fixture_dir / side / f"{name}.wav"), loader=loader) for name in sorted(CLIP_PAIRS)]


@pytest.fixture(scope="module")
def reference_outputs(fixture_dir, models) -> list[dict[str, np.ndarray]]:
    """Cnn14 outputs of the 16 kHz reference clips, which no loader resamples (all but `decimate` read them alike)."""
    return [panns_outputs(models[1], clip) for clip in _clips(fixture_dir, "reference", "resample")]


def test_fad_and_kl_match_audioldm_eval(fixture_dir, models, reference_outputs):
    vggish, panns = models
    # the golden values hold for these weights: a changed generator shows here, not as a metric mismatch
    assert state_digest(vggish.state_dict()) == VGGISH_DIGEST
    assert state_digest(panns.state_dict()) == PANNS_DIGEST
    gen, ref = _clips(fixture_dir, "generated", "resample"), _clips(fixture_dir, "reference", "resample")
    gen_emb = [vggish_embeddings(vggish, clip) for clip in gen]
    ref_emb = [vggish_embeddings(vggish, clip) for clip in ref]
    golden = GOLDEN["resample"]
    assert (sum(map(len, gen_emb)), sum(map(len, ref_emb))) == golden["embeddings"]
    np.testing.assert_allclose(gen_emb[0][0, :4], golden["gen0_embedding0"], rtol=1e-5, atol=1e-5)
    fad = frechet_distance(np.concatenate(gen_emb), np.concatenate(ref_emb))
    assert fad == pytest.approx(golden["fad"], rel=1e-6)

    gen_out, ref_out = [panns_outputs(panns, clip) for clip in gen], reference_outputs
    assert gen_out[0]["logits"].shape == (527,) and gen_out[0]["embedding"].shape == (2048,)
    np.testing.assert_allclose(gen_out[0]["logits"][:4], golden["gen0_logits"], rtol=1e-5, atol=1e-5)
    kl = kl_divergences(gen_out, ref_out)
    assert kl["kl_softmax"] == pytest.approx(golden["kl_softmax"], rel=1e-5)
    assert kl["kl_sigmoid"] == pytest.approx(golden["kl_sigmoid"], rel=1e-5)

    # the FAD of a set with itself is 0 up to the square root's rounding (9 examples of 128-d: singular covariance;
    # upstream's own calculate_frechet_distance gives -1.7e-4 on it)
    ref_set = np.concatenate(ref_emb)
    assert abs(frechet_distance(ref_set, ref_set)) < 1e-3
    # KL of a set with itself is 0 but for the 1e-6 added to the generated side: -sum p log(1 + 1e-6 / p), in
    # (-527e-6, 0) for 527 classes
    assert -527e-6 < kl_divergences(ref_out, ref_out)["kl_softmax"] < 0


def test_my_eval_loader_variants_match_its_audio_eval(fixture_dir, models, reference_outputs):
    vggish, panns = models
    golden = GOLDEN["decimate+resample"]
    ref = _clips(fixture_dir, "reference", "decimate+resample")
    assert all(np.array_equal(a, b) for a, b in zip(ref, _clips(fixture_dir, "reference", "resample")))
    gen_out = [panns_outputs(panns, clip) for clip in _clips(fixture_dir, "generated", "decimate+resample")]
    np.testing.assert_allclose(gen_out[0]["logits"][:4], golden["gen0_logits"], rtol=1e-5, atol=1e-5)
    kl = kl_divergences(gen_out, reference_outputs)
    assert kl == pytest.approx({"kl_softmax": golden["kl_softmax"], "kl_sigmoid": golden["kl_sigmoid"]}, rel=1e-5)

    golden = GOLDEN["decimate"]
    gen_emb = [vggish_embeddings(vggish, clip) for clip in _clips(fixture_dir, "generated", "decimate")]
    ref_emb = [vggish_embeddings(vggish, clip) for clip in _clips(fixture_dir, "reference", "decimate")]
    assert (sum(map(len, gen_emb)), sum(map(len, ref_emb))) == golden["embeddings"]
    fad = frechet_distance(np.concatenate(gen_emb), np.concatenate(ref_emb))
    assert fad == pytest.approx(golden["fad"], rel=1e-6)


def test_resample_is_torchaudios(fixture_dir):
    audio, sr = read_audio(fixture_dir / "generated" / "clip_a.wav")
    assert sr == 32000
    out = sinc_resample(torch.from_numpy(audio), sr, 16000)[0]
    assert len(out) == TORCHAUDIO_CLIP_A["len"]
    assert float(out.double().sum()) == pytest.approx(TORCHAUDIO_CLIP_A["sum"], abs=1e-6)
    np.testing.assert_allclose(out[1000:1005].numpy(), TORCHAUDIO_CLIP_A["at_1000"], atol=1e-7)


def test_loaders_read_as_their_sources():
    t = np.arange(64000) / 32000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t) + 0.5, np.zeros_like(t)]).astype(np.float32)  # 2 s at 32 kHz
    resampled = to_16k(stereo, 32000)  # first channel, mean removed, 2 s at 16 kHz
    assert resampled.shape == (32000,) and abs(resampled.mean()) < 1e-3 and resampled.std() > 0.6
    slip = to_16k(stereo, 32000, loader="decimate+resample")  # a quarter of the samples: 1 s, padded to 2 s
    assert slip.shape == (32000,) and np.all(slip[16001:] == 0) and slip[:15990].std() > 0.6
    decimated = to_16k(stereo, 32000, loader="decimate")  # channels' mean, every second sample, as it is
    np.testing.assert_allclose(decimated, stereo.mean(axis=0)[::2], atol=1e-7)
    short = to_16k(np.full(8000, 0.5, dtype=np.float32), 16000)  # mean removed, padded to 2 s
    assert short.shape == (32000,) and np.all(short == 0)
    assert to_16k(stereo[0], 48000, loader="decimate+resample").shape == (32000,)
    assert set(LOADERS) == {"resample", "decimate+resample", "decimate"}
    with pytest.raises(MusicQualityError, match="unknown audio loader 'fast'"):
        to_16k(stereo, 32000, loader="fast")
    with pytest.raises(MusicQualityError, match="16 kHz and 32 kHz audio only"):
        to_16k(stereo, 44100, loader="decimate")


def test_frechet_distance_formula():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 3))
    assert abs(frechet_distance(a, a)) < 1e-9
    # 1-d: N(0, 1) vs N(1, 4): 1 + 1 + 4 - 2 * sqrt(4) = 2 (exact moments by construction)
    unit = np.array([-1.0, 1.0, -1.0, 1.0])[:, None] * math.sqrt(3 / 4)
    assert frechet_distance(unit, 1 + 2 * unit) == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(MusicQualityError, match="same D and N >= 2"):
        frechet_distance(a, a[:, :2])


def test_kl_divergences_formula():
    gen = [{"logits": np.array([0.0, 1.0, 2.0])}, {"logits": np.array([1.0, 1.0, 1.0])}]
    ref = [{"logits": np.array([2.0, 1.0, 0.0])}, {"logits": np.array([0.0, 0.0, 3.0])}]

    def kl(p, q):  # KL(p || q + 1e-6) summed over classes
        return float(np.sum(p * (np.log(p) - np.log(q + 1e-6))))

    def softmax(x):
        return np.exp(x) / np.exp(x).sum()

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    pairs = [(g["logits"], r["logits"]) for g, r in zip(gen, ref)]
    out = kl_divergences(gen, ref)
    assert out["kl_softmax"] == pytest.approx(np.mean([kl(softmax(r), softmax(g)) for g, r in pairs]), rel=1e-5)
    assert out["kl_sigmoid"] == pytest.approx(np.mean([kl(sigmoid(r), sigmoid(g)) for g, r in pairs]), rel=1e-5)
    with pytest.raises(MusicQualityError, match="1 generated and 2 reference"):
        kl_divergences(gen[:1], ref)


def _hollow_state(model_class) -> dict[str, torch.Tensor]:
    """Every key at its shape, each tensor one stored zero (stride 0): a few bytes on disk."""
    with torch.device("meta"):
        shapes = model_class().state_dict()
    return {k: torch.zeros((1,) * v.ndim, dtype=v.dtype).expand(v.shape) for k, v in shapes.items()}


class _NotATensor:
    pass


def test_checkpoints_in_published_layouts_load_and_bad_ones_are_named(tmp_path):
    # PANNs' training checkpoints: torch's legacy format, a sampler state of numpy arrays beside the model
    state = _hollow_state(Cnn14)
    legacy = tmp_path / "Cnn14_16k_mAP=0.438.pth"
    sampler = {"indexes_per_class": [np.arange(4, dtype=np.int64)], "queue": [0], "pointers_of_classes": [0]}
    torch.save({"iteration": 1, "model": state, "sampler": sampler}, legacy, _use_new_zipfile_serialization=False)
    assert isinstance(load_panns(legacy), Cnn14)

    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(MusicQualityError, match=r"bad\.pth: no 'model' entry"):
        load_panns(bad)
    renamed = dict(state)
    renamed["fc_audio.weight"] = renamed.pop("fc_audioset.weight")
    torch.save({"model": renamed}, bad)
    with pytest.raises(MusicQualityError, match=r"missing keys fc_audioset\.weight, unexpected keys fc_audio\.weight"):
        load_panns(bad)
    vggish = _hollow_state(VGGish)
    vggish["embeddings.4.weight"] = torch.zeros(1).expand(64, 4096)
    torch.save(vggish, bad)
    with pytest.raises(MusicQualityError, match=r"embeddings\.4\.weight \(64, 4096\) \(expected \(128, 4096\)\)"):
        load_vggish(bad)
    torch.save({"features.0.weight": _NotATensor()}, bad)
    with pytest.raises(MusicQualityError, match=r"bad\.pth: not a readable VGGish checkpoint \(it holds \S+NotATensor"):
        load_vggish(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MusicQualityError, match=r"bad\.pth: not a readable PANNs Cnn14 checkpoint \(its contents"):
        load_panns(bad)
    with pytest.raises(MusicQualityError, match=r"missing\.pth: no such VGGish checkpoint file"):
        load_vggish(tmp_path / "missing.pth")
