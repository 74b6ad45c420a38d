"""The motion VQ-VAE in the music code space (model.codebook=music): the frozen codec parts, the recipe, its
training pairs, learning, and the tokenizer with and without the pair's music."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import EncodecModel

from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.motion_vqvae import MotionVQVAE
from unimumo.models.motion_vqvae_music import MusicCodebookMotionVQVAE
from unimumo.models.music_codec import tiny_random_encodec
from unimumo.train.recipes import RecipeError
from unimumo.train.stages import STAGES, apply_freeze_plan, build_components, build_recipe


@pytest.fixture(scope="module")
def codec():
    return tiny_random_encodec(seed=3)


def _model(codec, seed: int = 0) -> MusicCodebookMotionVQVAE:
    torch.manual_seed(seed)
    return MusicCodebookMotionVQVAE.from_music_codec(MotionVQVAEConfig.preset("tiny"), codec)


def _codec_codebooks(codec) -> list[torch.Tensor]:
    return [layer.codebook.embed for layer in codec.quantizer.layers[:4]]


def test_codes_are_the_codecs_own_rvq_codes_and_its_encoder_is_frozen(codec):
    model = _model(codec)
    latents = torch.randn(2, codec.config.codebook_dim, 9)
    _, codes, _ = model._quantize(latents)
    assert torch.equal(codes, codec.quantizer.encode(latents, bandwidth=2.2).transpose(0, 1))
    wav = torch.randn(1, 640 * 9) * 0.3
    with torch.no_grad():
        torch.testing.assert_close(model.music_features(wav, 1, 9), codec.encoder(wav[:, None]))
    rows = apply_freeze_plan(model, STAGES["motion_vqvae"])
    assert {row.group: row.trainable for row in rows} == {"motion": True, "music_codec": False}
    assert not any(p.requires_grad for p in model.music_encoder.parameters())
    assert not any(name.startswith("codebooks") for name, _ in model.named_parameters())  # buffers, no gradient


def test_export_holds_the_codecs_codebooks_bit_for_bit(codec, tmp_path):
    codec.save_pretrained(tmp_path / "encodec")
    recipe = build_recipe(
        "motion_vqvae",
        {
            "out": str(tmp_path / "run"),
            "model.preset": "tiny",
            "model.codebook": "music",
            "music_codec": str(tmp_path / "encodec"),
            "data.aist": str(tmp_path),
            "data.music4all": str(tmp_path),
        },
    )
    model = STAGES["motion_vqvae"].model(recipe, None)
    tokenizer = MotionTokenizer(model)
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    loaded = MotionTokenizer.from_pretrained(tmp_path / "tokenizer")
    saved_codec = EncodecModel.from_pretrained(tmp_path / "encodec")
    assert type(loaded.model) is MusicCodebookMotionVQVAE and loaded.fingerprint == tokenizer.fingerprint
    for level, embed in enumerate(_codec_codebooks(saved_codec)):
        assert loaded.model.codebooks[level].numpy().tobytes() == embed.numpy().tobytes()
    for name, value in saved_codec.encoder.state_dict().items():
        assert torch.equal(loaded.model.music_encoder.state_dict()[name], value), name
    assert tokenizer.fingerprint != MotionTokenizer(MotionTokenizer.from_random(seed=0).model).fingerprint


def test_recipe_selects_the_variant(tmp_path, capsys, monkeypatch):
    from unimumo.cli.train import main

    for name in ("UNIMUMO_MUSIC_CODEC", "UNIMUMO_MUSIC4ALL", "UNIMUMO_OVERRIDES"):
        monkeypatch.delenv(name, raising=False)
    base = {"out": str(tmp_path), "data.aist": str(tmp_path)}
    assert build_recipe("motion_vqvae", base).model.codebook == "independent"
    with pytest.raises(RecipeError, match="music_codec: model.codebook=music"):
        build_recipe("motion_vqvae", {**base, "model.codebook": "music", "data.music4all": str(tmp_path)})
    with pytest.raises(RecipeError, match="data.music4all"):
        build_recipe("motion_vqvae", {**base, "model.codebook": "music", "music_codec": str(tmp_path)})
    with pytest.raises(RecipeError, match="model.codebook: 'spotify' is not allowed"):
        build_recipe("motion_vqvae", {**base, "model.codebook": "spotify"})
    assert (
        main(
            [
                "--recipe",
                "motion_vqvae",
                "--out",
                str(tmp_path),
                "--aist",
                str(tmp_path),
                "--music4all",
                str(tmp_path),
                "--music-codec",
                str(tmp_path),
                "--set",
                "model.codebook=music",
                "--print-recipe",
            ]
        )
        == 0
    )
    recipe = json.loads(capsys.readouterr().out)
    assert recipe["model"]["codebook"] == "music" and recipe["music_codec"] == str(tmp_path)
    assert recipe["data"]["music4all"] == str(tmp_path)


def test_training_pairs_carry_the_music_under_the_motion(synthetic_corpus, tmp_path):
    corpus = synthetic_corpus
    recipe = build_recipe(
        "motion_vqvae",
        {
            "out": str(tmp_path),
            "model.preset": "tiny",
            "model.codebook": "music",
            "music_codec": str(corpus / "models" / "encodec"),
            "data.music4all": str(corpus / "music4all"),
            "data.aist": str(corpus / "aist"),
            "data.micro_batch": 3,
            "data.global_batch": 3,
            "data.window_s": 0.64,
        },
    )
    components = build_components(recipe)
    data = components.data
    assert len(data.clips) == len(data.music) > 0
    for clip, wav in zip(data.clips, data.music):  # 320 samples (of 32 kHz) per 100 Hz motion frame
        assert len(wav) == len(clip) * data.samples_per_frame
    batch = next(iter(data))
    assert batch["music"].shape == (3, 64 * 320) and batch["music"].abs().sum() > 0
    inputs = components.objective.inputs(batch, 0)
    assert set(inputs) == {"features", "mask", "music"}
    assert torch.isfinite(components.model(**inputs).loss)


def test_reconstruction_falls_and_codes_are_music_codes(codec):
    """A few hundred tiny steps on fixed windows: the loss falls; every quantised vector is a sum of codec
    codebook rows, the ones EnCodec itself picks for the same latents."""
    model = _model(codec, seed=1).train()
    generator = torch.Generator().manual_seed(0)
    time = torch.linspace(0, 6.28, 16)
    features = torch.randn(4, 1, 263, generator=generator) * torch.sin(
        time[:, None] * (1 + torch.arange(4.0))[:, None, None]
    ) + 0.1 * torch.randn(4, 16, 263, generator=generator)
    music = torch.randn(4, 8 * 640, generator=generator) * 0.3
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    codebooks = model.codebooks.clone()
    losses = []
    for _ in range(200):
        output = model(features, music=music)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(float(output.recon_loss.detach()))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10]), (losses[:10], losses[-10:])
    assert torch.equal(model.codebooks, codebooks)  # frozen
    model.eval()
    latents, _, masks = model._latents(features, None, music)
    codes = model.encode(features, music=music)
    assert torch.equal(codes, codec.quantizer.encode(latents.detach(), bandwidth=2.2).transpose(0, 1))
    quantized = sum(embed[codes[:, level]] for level, embed in enumerate(_codec_codebooks(codec)))
    assert torch.equal(model.lookup(codes), quantized.transpose(1, 2))


def test_tokenizer_encodes_with_the_pairs_music_and_silence_without(codec):
    tokenizer = MotionTokenizer.from_random(seed=0, music_codec=codec)
    assert tokenizer.needs_music and tokenizer.music_sampling_rate == 32000
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(60, 263)).astype(np.float32) * 0.1  # 3 s at 20 fps -> 150 codes
    silence = np.zeros(32000 * 3, dtype=np.float32)
    alone = tokenizer.encode(clip, fps=20.0)
    assert alone.shape == (4, 150)
    assert np.array_equal(alone, tokenizer.encode(clip, fps=20.0, music=silence))
    assert np.array_equal(alone, tokenizer.encode([clip], fps=20.0, music=[None])[0])
    short = silence[:32000]  # padded with silence
    assert np.array_equal(alone, tokenizer.encode(clip, fps=20.0, music=short))
    decoded = tokenizer.decode(alone, fps=20.0)
    assert decoded.shape == (60, 263)
    music_codes = rng.integers(0, 2048, size=(4, 150))
    assert not np.allclose(decoded, tokenizer.decode(alone, fps=20.0, music_codes=music_codes))
    with pytest.raises(ValueError, match="do not match"):
        tokenizer.decode(alone, fps=20.0, music_codes=music_codes[:, :10][None])
    independent = MotionTokenizer.from_random(seed=0)
    with pytest.raises(ValueError, match="independent of music"):
        independent.encode(clip, fps=20.0, music=silence)


def test_shard_builder_encodes_each_pair_with_its_music(synthetic_corpus, tmp_path):
    """The builder's per-chunk calls with a music-codebook tokenizer: each draft keeps its span of the track, and
    its codes are the tokenizer's codes of the motion with that music (not those of silence)."""
    from unimumo.data import build_worker
    from unimumo.data.build_config import BuildConfig
    from unimumo.data.shard_builder import motion_entries, pairing_jobs
    from unimumo.data.sources import music4all
    from unimumo.shards.format import MOTION_CODES, decode_sample

    models = synthetic_corpus / "models"
    codec = EncodecModel.from_pretrained(models / "encodec")
    tokenizer = MotionTokenizer.from_random(seed=0, music_codec=codec)
    with torch.no_grad():  # a strong music path, so that silence and music give other codes
        tokenizer.model.pre_mix.convs[-1].weight.mul_(50.0)
    tokenizer = MotionTokenizer(tokenizer.model)
    tokenizer.save_pretrained(tmp_path / "music_vqvae")
    config = BuildConfig(
        music4all=synthetic_corpus / "music4all",
        aist=synthetic_corpus / "aist",
        music_codec=models / "encodec",
        motion_tokenizer=tmp_path / "music_vqvae",
        text_tokenizer=models / "text_tokenizer.model",
        out=tmp_path / "shards",
        split="train",
        pairs_per_track=2,
    )
    context = build_worker.init_worker(config)
    entries, _ = motion_entries(config)
    pool = [entry for entry, failure in map(build_worker.scan_motion, entries) if failure is None]
    jobs = pairing_jobs(music4all.list_tracks(config.music4all, "train"), pool, config)[:2]
    results = [build_worker.pair_track(track) for track in build_worker.encode_chunk(jobs)]
    drafts = {
        draft.key: (draft, results_music)
        for result in results
        for draft, results_music in ((d, result.music[d.key]) for d in result.drafts)
    }
    assert drafts
    for draft, music in drafts.values():  # the track may end inside the last code step
        assert (draft.music_codes.shape[1] - 1) * 640 < len(music) <= draft.music_codes.shape[1] * 640
    completed = build_worker.encode_motions(results)
    samples = [sample for result in completed for sample in result.samples]
    assert len(samples) == len(drafts)
    differs = 0
    for sample in samples:
        decoded = decode_sample(sample)
        draft, music = drafts[sample["__key__"]]
        frames = draft.music_codes.shape[1]
        with_music = context.motion_tokenizer.encode(draft.features, fps=draft.fps, music=music)[:, :frames]
        silent = context.motion_tokenizer.encode(draft.features, fps=draft.fps)[:, :frames]
        assert np.array_equal(decoded[MOTION_CODES], with_music)
        differs += not np.array_equal(with_music, silent)
    assert differs > 0
    other = MotionTokenizer.from_random(seed=0, music_codec=tiny_random_encodec(seed=9))
    with pytest.raises(ValueError, match="music code space of another codec"):
        build_worker.check_code_space(other, context.codec, config)


def test_trainer_trains_the_variant_and_its_export_keeps_the_codec(synthetic_corpus, tmp_path):
    """unimumo-train --recipe motion_vqvae --set model.codebook=music (one CPU process): the loss is finite, the
    validation pass reports MPJPE on held-out pairs, and the export is a music-codebook tokenizer holding the
    codec's encoder and codebooks unchanged."""
    from testkit.training_runs import train_one_process

    corpus, out = synthetic_corpus, tmp_path / "vq_music"
    lines = train_one_process(
        "motion_vqvae",
        out,
        {
            "model.preset": "tiny",
            "model.codebook": "music",
            "steps": 4,
            "data.window_s": 0.32,
            "data.micro_batch": 2,
            "data.global_batch": 2,
            "optim.lr": 1e-3,
            "schedule.warmup_steps": 1,
            "log.every": 1,
            "log.progress_bar": "false",
            "validation.every": 4,
            "validation.batches": 1,
        },
        "--music4all",
        str(corpus / "music4all"),
        "--aist",
        str(corpus / "aist"),
        "--music-codec",
        str(corpus / "models" / "encodec"),
    )
    train = [line for line in lines if line.get("split") != "val"]
    assert [line["step"] for line in train] == [1, 2, 3, 4]
    assert all(np.isfinite(line["loss/recon"]) and line["dead_codes"] == 0 for line in train)
    assert any(np.isfinite(line.get("val/mpjpe_mm", np.nan)) for line in lines)
    tokenizer = MotionTokenizer.from_pretrained(out / "export")
    codec = EncodecModel.from_pretrained(corpus / "models" / "encodec")
    assert type(tokenizer.model) is MusicCodebookMotionVQVAE and tokenizer.needs_music
    for level, embed in enumerate(_codec_codebooks(codec)):
        assert tokenizer.model.codebooks[level].numpy().tobytes() == embed.numpy().tobytes()
    for name, value in codec.encoder.state_dict().items():
        assert torch.equal(tokenizer.model.music_encoder.state_dict()[name], value), name
    assert not torch.all(tokenizer.model.feature_std == 1)


def test_evaluation_decodes_with_the_pairs_music_codes(codec):
    from unimumo.eval.generation import decode_motions

    tokenizer = MotionTokenizer.from_random(seed=0, music_codec=codec)
    with torch.no_grad():  # a strong music path in the decoder
        tokenizer.model.post_mix.convs[-1].weight.mul_(50.0)
    rng = np.random.default_rng(1)
    codes, music_codes = rng.integers(0, 2048, size=(2, 3, 4, 50))
    silent = decode_motions(tokenizer, codes, 20.0, "test", batch_size=1)
    paired = decode_motions(tokenizer, codes, 20.0, "test", batch_size=1, music_codes=music_codes)
    for row in range(3):
        assert np.allclose(paired[row], tokenizer.decode_joints(codes[row], fps=20.0, music_codes=music_codes[row]))
        assert not np.allclose(paired[row], silent[row])
    independent = MotionTokenizer.from_random(seed=0)  # takes no music: the music codes are not its input
    assert np.allclose(
        decode_motions(independent, codes, 20.0, "test", music_codes=music_codes)[0],
        independent.decode_joints(codes[0], fps=20.0),
    )


def test_the_independent_class_refuses_a_music_codebook_config(codec):
    config = _model(codec).config
    with pytest.raises(ValueError, match="is a MusicCodebookMotionVQVAE"):
        MotionVQVAE(config)


def test_a_saved_variant_reloads_through_auto_model(codec, tmp_path):
    """The variant has its own model_type: `AutoModel.from_pretrained` (after `import unimumo`) gives a
    MusicCodebookMotionVQVAE with the same weights and codes, as it gives a MotionVQVAE for the independent one."""
    from transformers import AutoConfig, AutoModel

    from unimumo.models.configuration_motion_vqvae import MusicCodebookMotionVQVAEConfig

    tokenizer = MotionTokenizer.from_random(seed=0, music_codec=codec)
    tokenizer.save_pretrained(tmp_path / "music_vqvae")
    assert json.loads((tmp_path / "music_vqvae" / "config.json").read_text())["model_type"] == (
        "unimumo_motion_vqvae_music"
    )
    assert type(AutoConfig.from_pretrained(tmp_path / "music_vqvae")) is MusicCodebookMotionVQVAEConfig
    loaded = AutoModel.from_pretrained(tmp_path / "music_vqvae")
    assert type(loaded) is MusicCodebookMotionVQVAE and not loaded.training
    assert MotionTokenizer(loaded).fingerprint == tokenizer.fingerprint
    clip = np.random.default_rng(0).normal(size=(40, 263)).astype(np.float32) * 0.1
    music = np.random.default_rng(1).normal(size=32000 * 2).astype(np.float32) * 0.3
    codes = tokenizer.encode(clip, 20.0, music=music)
    assert np.array_equal(MotionTokenizer(loaded).encode(clip, 20.0, music=music), codes)
    with pytest.raises(ValueError, match="codebook must be 'music'"):
        MusicCodebookMotionVQVAEConfig(**{**loaded.config.to_dict(), "codebook": "independent"})
