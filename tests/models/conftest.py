"""Fixtures for the UniMuMo LM tests: a tiny T5 and a tiny MusicGen decoder saved locally, tiny UniMuMo models."""

from __future__ import annotations

import pytest
import torch
from transformers import MusicgenDecoderConfig, MusicgenForCausalLM, T5Config, T5ForConditionalGeneration

from testkit.model_fixtures import TEXT_VOCAB, build_model
from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=TEXT_VOCAB,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    path = tmp_path_factory.mktemp("t5")
    T5ForConditionalGeneration(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def musicgen_dir(tmp_path_factory):
    torch.manual_seed(1)
    config = MusicgenDecoderConfig(
        vocab_size=CODEBOOK_SIZE,
        num_codebooks=NUM_CODEBOOKS,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=128,
        max_position_embeddings=256,
        dropout=0.0,
    )
    path = tmp_path_factory.mktemp("musicgen")
    MusicgenForCausalLM(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def session_model(t5_dir):
    """A shared tiny model: tests that change weights must build their own."""
    return build_model(t5_dir)


@pytest.fixture(scope="session")
def full_musicgen_dir(tmp_path_factory):
    """A whole MusicgenForConditionalGeneration (T5 text encoder + projection + EnCodec + decoder), tiny."""
    from transformers import EncodecConfig, MusicgenConfig, MusicgenForConditionalGeneration

    torch.manual_seed(2)
    text = T5Config(
        vocab_size=TEXT_VOCAB,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
    )
    audio = EncodecConfig(
        codebook_size=CODEBOOK_SIZE,
        hidden_size=16,
        num_filters=4,
        num_lstm_layers=1,
        codebook_dim=16,
        upsampling_ratios=[8, 5, 4, 4],
        target_bandwidths=[2.2],
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=CODEBOOK_SIZE,
        num_codebooks=NUM_CODEBOOKS,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=128,
        dropout=0.0,
    )
    path = tmp_path_factory.mktemp("musicgen_full")
    MusicgenForConditionalGeneration(
        MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)
    ).save_pretrained(path)
    return str(path)
