"""Fixtures shared by the evaluation tests."""

import pytest


@pytest.fixture(scope="module")
def tiny_model(synthetic_corpus, tmp_path_factory):
    """A tiny random UniMuMo exported in HF format (T5 parts from the corpus's tiny T5)."""
    import torch

    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    torch.manual_seed(0)
    config = UniMuMoConfig.preset("tiny", num_hidden_layers=1)
    t5 = str(synthetic_corpus / "models" / "t5")
    model = UniMuMoForConditionalGeneration.from_components(config, text_model_dir=t5)
    out = tmp_path_factory.mktemp("tiny_unimumo") / "export"
    model.save_pretrained(out)
    return out
