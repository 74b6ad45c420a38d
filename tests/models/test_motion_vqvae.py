"""Motion VQ-VAE and MotionTokenizer: code rate, ragged batches, training, EMA codebooks, persistence, errors."""

import json

import numpy as np
import pytest
import torch

from unimumo.constants import CODEBOOK_SIZE, MOTION_FEATURE_DIM, NUM_CODEBOOKS
from unimumo.models.motion_quantizer import ResidualVectorQuantizer
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.motion_vqvae import MotionVQVAE, MotionVQVAEConfig
from unimumo.motion.humanml3d_features import MotionFormatError, joints_to_features
from unimumo.motion.reconstruction_error import feature_mpjpe_mm
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.stats import compute_feature_stats
from unimumo.motion.synthetic_dance import synthetic_smpl_dance


def dance_features(seconds, fps, seed=0, bpm=120.0):
    joints = smpl_to_joints22(*synthetic_smpl_dance(int(round(seconds * fps)) + 1, fps, bpm, seed))
    return joints_to_features(joints, fps=fps)  # exactly seconds * fps frames


@pytest.fixture(scope="module")
def tokenizer():
    return MotionTokenizer.from_random(seed=0)


# -- config -------------------------------------------------------------------------------------
def test_tiny_preset_keeps_the_real_code_space_and_rates():
    config = MotionVQVAEConfig.preset("tiny")
    assert (config.num_codebooks, config.codebook_size, config.feature_dim) == (
        NUM_CODEBOOKS,
        CODEBOOK_SIZE,
        MOTION_FEATURE_DIM,
    )
    assert config.frame_rate == 100 and config.frames_per_code == 2 and config.code_rate == 50
    assert MotionVQVAEConfig.preset("tiny", codebook_size=64).codebook_size == 64


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        MotionVQVAEConfig(hidden_size=0)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        MotionVQVAEConfig(ema_decay=1.5)
    with pytest.raises(ValueError, match="unknown MotionVQVAEConfig preset 'huge'"):
        MotionVQVAEConfig.preset("huge")


# -- encode / decode -------------------------------------------------------------------------------
def test_60_and_20_fps_clips_of_equal_duration_give_equal_code_lengths(tokenizer):
    for seconds in (1.0, 2.5, 4.1):
        codes60 = tokenizer.encode(dance_features(seconds, 60.0), fps=60.0)
        codes20 = tokenizer.encode(dance_features(seconds, 20.0), fps=20.0)
        assert codes60.shape == codes20.shape == (NUM_CODEBOOKS, round(seconds * 50))
        assert codes60.dtype == np.int64 and 0 <= codes60.min() and codes60.max() < CODEBOOK_SIZE


def test_ragged_batch_gives_the_same_codes_as_one_clip_at_a_time(tokenizer):
    clips = [dance_features(s, 20.0, seed=i) for i, s in enumerate((3.0, 1.0, 2.2, 0.5))]
    batched = tokenizer.encode(clips, fps=20.0)
    for clip, codes in zip(clips, batched):
        # integer codes: other batch shapes change latents by rounding at most, which moves a code only at a near-tie
        np.testing.assert_array_equal(codes, tokenizer.encode(clip, fps=20.0))
    stacked = tokenizer.encode(np.stack([clips[0], clips[0]]), fps=20.0)
    assert stacked.shape == (2, NUM_CODEBOOKS, 150)
    np.testing.assert_array_equal(stacked[1], batched[0])


def test_masked_frames_do_not_influence_the_valid_ones():
    torch.manual_seed(0)
    model = MotionVQVAE(MotionVQVAEConfig.preset("tiny")).eval()
    features = torch.randn(2, 40, MOTION_FEATURE_DIM)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 24:] = False
    garbage = features.clone()
    garbage[1, 24:] = 1e3 * torch.randn(16, MOTION_FEATURE_DIM)
    codes, garbage_codes = model.encode(features, mask), model.encode(garbage, mask)
    assert codes.shape == (2, NUM_CODEBOOKS, 20)
    # bitwise: identical arithmetic (same shapes; masked frames are zeroed before every convolution)
    torch.testing.assert_close(codes[:, :, :12], garbage_codes[:, :, :12], rtol=0, atol=0)
    alone = model.encode(features[1:, :24])
    torch.testing.assert_close(alone, codes[1:, :, :12], rtol=0, atol=0)  # integer codes, as in the ragged batch test
    with torch.no_grad():  # padded targets do not enter the loss either
        assert float(model(features, mask).loss) == pytest.approx(float(model(garbage, mask).loss), rel=1e-6)


def test_decode_returns_features_and_joints_at_the_requested_rate(tokenizer):
    codes = tokenizer.encode(dance_features(2.0, 60.0), fps=60.0)
    features = tokenizer.decode(codes, fps=20.0)
    assert features.shape == (40, MOTION_FEATURE_DIM) and features.dtype == np.float32
    assert tokenizer.decode(codes, fps=60.0).shape == (120, MOTION_FEATURE_DIM)
    assert tokenizer.decode(np.stack([codes, codes]), fps=20.0).shape == (2, 40, MOTION_FEATURE_DIM)
    assert tokenizer.decode_joints(codes, fps=20.0).shape == (40, 22, 3)


# -- training ----------------------------------------------------------------------------------------
def test_forward_reports_losses_and_codebook_health():
    torch.manual_seed(0)
    model = MotionVQVAE(MotionVQVAEConfig.preset("tiny", codebook_size=64))
    features, mask = torch.randn(3, 30, MOTION_FEATURE_DIM), torch.ones(3, 30, dtype=torch.bool)
    mask[2, 10:] = False
    out = model(features, mask)
    assert out.reconstruction.shape == features.shape and out.codes.shape == (3, NUM_CODEBOOKS, 15)
    assert torch.isclose(out.loss, out.recon_loss + model.config.commitment_weight * out.commit_loss)
    manual = ((out.reconstruction - features) ** 2)[mask].mean()
    assert torch.isclose(out.recon_loss, manual)
    assert out.mpjpe_mm.item() > 0 and not out.mpjpe_mm.requires_grad
    assert 1.0 <= float(out.perplexity) <= 64 and int(out.dead_codes) == NUM_CODEBOOKS * 64  # fresh: all restarted
    out.loss.backward()
    assert model.encoder.conv_in.weight.grad.abs().sum() > 0  # straight-through estimator reaches the encoder


def test_vqvae_overfits_a_tiny_set_and_reports_mpjpe():
    torch.manual_seed(0)
    clips = [dance_features(2.0, 20.0, seed=s, bpm=bpm) for s, bpm in enumerate((90.0, 120.0, 100.0, 140.0))]
    model = MotionVQVAE(MotionVQVAEConfig.preset("tiny", hidden_size=64))
    model.set_feature_stats(*compute_feature_stats(clips))
    inputs, mask = MotionTokenizer(model).prepare(clips, fps=20.0)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def step():
        out = model(inputs, mask)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        reconstruction, target = model.denormalize(out.reconstruction.detach()), model.denormalize(inputs).detach()
        mpjpe = feature_mpjpe_mm(reconstruction.numpy(), target.numpy(), mask.numpy())
        assert out.mpjpe_mm.item() == pytest.approx(mpjpe, rel=1e-3)  # what the trainer logs
        return out.recon_loss.item(), mpjpe

    first_loss, first_mpjpe = step()
    for _ in range(100):
        last_loss, last_mpjpe = step()
    print(f"recon loss {first_loss:.4f} -> {last_loss:.5f}; MPJPE {first_mpjpe:.1f} mm -> {last_mpjpe:.1f} mm")
    assert last_loss <= first_loss / 10
    assert last_mpjpe < first_mpjpe / 3


# -- EMA codebook and dead-code restart -------------------------------------------------------------
def test_ema_update_moves_used_codes_to_the_decayed_mean():
    quantizer = ResidualVectorQuantizer(1, 4, 2, ema_decay=0.5, dead_code_threshold=0.6)
    far = torch.tensor([[0.0, 0.0], [1.0, 0.0], [100.0, 100.0], [-100.0, 100.0]])
    quantizer.codebooks[0], quantizer.cluster_size[0], quantizer.embed_sum[0] = far, torch.ones(4), far.clone()
    vectors = torch.tensor([[0.2, 0.0], [0.4, 0.0], [1.2, 0.0], [1.0, 0.0]])
    out = quantizer.train()(vectors)
    assert out.codes.tolist() == [[0, 0, 1, 1]]
    # usage: 0.5 * 1 + 0.5 * 2 = 1.5 for codes 0 and 1; sums: 0.5 * old + 0.5 * (0.6, 2.2)
    torch.testing.assert_close(
        quantizer.codebooks[0, :2], torch.tensor([[0.2, 0.0], [1.6 / 1.5, 0.0]]), atol=1e-4, rtol=0
    )
    # codes 2 and 3 fell to usage 0.5 < 0.6: restarted from the batch with the threshold as usage
    assert int(out.dead_codes) == 2
    for row in quantizer.codebooks[0, 2:]:
        assert any(torch.equal(row, v) for v in vectors)
    torch.testing.assert_close(quantizer.cluster_size[0], torch.tensor([1.5, 1.5, 0.6, 0.6]))


def test_dead_code_restart_revives_codes_that_were_never_used():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    data = (centres[:, None] + 0.05 * torch.randn(4, 16, 2)).reshape(-1, 2)
    quantizer = ResidualVectorQuantizer(1, 4, 2, ema_decay=0.8, dead_code_threshold=1.0)
    far = torch.tensor([[0.0, 0.0], [1.0, 0.0], [100.0, 100.0], [-100.0, 100.0]])
    quantizer.codebooks[0], quantizer.cluster_size[0], quantizer.embed_sum[0] = far, 16 * torch.ones(4), 16 * far
    before = quantizer.encode(data)[0]
    assert set(before.tolist()) == {0, 1}  # codes 2 and 3 are dead
    error_before = (quantizer.lookup(quantizer.encode(data)) - data).norm(dim=-1).mean()
    quantizer.train()
    for _ in range(30):
        quantizer(data[torch.randperm(len(data))])
    after = quantizer.encode(data)[0]
    assert set(after.tolist()) == {0, 1, 2, 3}  # every code is in use again
    error_after = (quantizer.lookup(quantizer.encode(data)) - data).norm(dim=-1).mean()
    assert error_after < error_before / 10
    assert quantizer.codebooks[0, 2:].abs().max() < 10  # the far-away entries were replaced from the data


# -- persistence ------------------------------------------------------------------------------------
def test_save_load_gives_identical_codes_and_fingerprint(tokenizer, tmp_path):
    clip = dance_features(2.0, 60.0, seed=3)
    tokenizer.save_pretrained(tmp_path / "tok")
    tokenizer.save_pretrained(tmp_path / "tok")  # overwriting an existing directory is atomic too
    loaded = MotionTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.fingerprint == tokenizer.fingerprint
    np.testing.assert_array_equal(loaded.encode(clip, fps=60.0), tokenizer.encode(clip, fps=60.0))
    torch.testing.assert_close(loaded.model.feature_std, tokenizer.model.feature_std, rtol=0, atol=0)


def test_fingerprint_tracks_seed_weights_and_statistics():
    a, b = MotionTokenizer.from_random(seed=0), MotionTokenizer.from_random(seed=0)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert MotionTokenizer.from_random(seed=1).fingerprint != a.fingerprint
    model = b.model
    model.set_feature_stats(model.feature_mean + 1.0, model.feature_std)
    assert MotionTokenizer(model).fingerprint != a.fingerprint
    model.quantizer.cluster_size.add_(5.0)  # EMA bookkeeping does not change any code
    assert MotionTokenizer(model).fingerprint == MotionTokenizer(b.model).fingerprint


def test_a_modified_checkpoint_is_rejected(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "tok")
    record = tmp_path / "tok" / "motion_tokenizer.json"
    record.write_text(json.dumps({"fingerprint": "0" * 64}))
    with pytest.raises(ValueError, match="does not match the loaded weights"):
        MotionTokenizer.from_pretrained(tmp_path / "tok")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        MotionTokenizer.from_pretrained(tmp_path / "missing")


# -- bad inputs -----------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors(tokenizer):
    good = dance_features(1.0, 20.0)
    with pytest.raises(MotionFormatError, match=r"motion clip 1: expected motion features \[N,263\]"):
        tokenizer.encode([good, good[:, :200]], fps=20.0)
    bad = good.copy()
    bad[5, 9] = np.nan
    with pytest.raises(MotionFormatError, match="motion clip 0: .*NaN/inf .*frame 5, channel 9"):
        tokenizer.encode(bad, fps=20.0)
    with pytest.raises(MotionFormatError, match="too short: 2 frames at 1000.0 fps give no code"):
        tokenizer.encode(good[:2], fps=1000.0)
    with pytest.raises(ValueError, match=r"lie in \[0, 2048\)"):
        tokenizer.decode(np.full((4, 10), 2048))
    with pytest.raises(ValueError, match=r"\[4,T\]"):
        tokenizer.decode(np.zeros((3, 10), dtype=np.int64))
    with pytest.raises(ValueError, match=r"features \[B,N,263\]"):
        tokenizer.model(torch.zeros(1, 10, 12))


# -- data parallel ------------------------------------------------------------------------------------
def _train_quantizers_on_rank(rank, world_size, workdir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{workdir}/rendezvous", rank=rank, world_size=world_size)
    torch.manual_seed(100 + rank)  # each rank draws its own restart candidates; rank 0's must win
    results = {}
    for threshold in (0.0, 1.5):  # without restarts, then with restarts
        quantizer = _shared_start_quantizer(threshold).train()
        restarted = sum(int(quantizer(_rank_batch(rank, step)).dead_codes) for step in range(5))
        results[threshold] = (quantizer.codebooks, quantizer.cluster_size, restarted)
    torch.save(results, f"{workdir}/rank{rank}.pt")
    dist.destroy_process_group()


def _shared_start_quantizer(threshold):
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(2, 8, 3, ema_decay=0.7, dead_code_threshold=threshold)
    quantizer.cluster_size.fill_(2.0)
    quantizer.embed_sum.copy_(quantizer.codebooks * 2.0)
    return quantizer


def _rank_batch(rank, step):
    return torch.randn(12, 3, generator=torch.Generator().manual_seed(1000 * rank + step))


@pytest.mark.slow  # two spawned processes: 10-30 s, mostly importing torch
def test_codebooks_stay_identical_across_data_parallel_ranks(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_train_quantizers_on_rank, args=(2, tmp_path), nprocs=2, start_method="spawn")
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert rank0[0.0][2] == 0 and rank0[1.5][2] > 0  # the second run really restarted codes
    for threshold in (0.0, 1.5):
        torch.testing.assert_close(rank0[threshold][0], rank1[threshold][0], rtol=0, atol=0)
        torch.testing.assert_close(rank0[threshold][1], rank1[threshold][1], rtol=0, atol=0)
    # Without restarts, two ranks behave exactly like one process that sees both ranks' batches.
    single = _shared_start_quantizer(0.0).train()
    for step in range(5):
        single(torch.cat([_rank_batch(0, step), _rank_batch(1, step)]))
    torch.testing.assert_close(rank0[0.0][0], single.codebooks, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rank0[0.0][1], single.cluster_size, rtol=1e-5, atol=1e-6)
