"""Builders shared by the UniMuMo LM tests (tiny configs, random codes and text) and their float tolerance."""

from __future__ import annotations

import torch

from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS
from unimumo.models.configuration_unimumo import UniMuMoConfig
from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

TEXT_VOCAB = 300

# The same logits recomputed with other shapes (another text length, batch composition or kernel path) differ by
# float rounding only: reordered sums move each value by a few ulps (3e-8, about 0.4 ulp of the largest float32
# logit, was seen for another text length). 256 ulps leaves that ~700x headroom and stays ~100x below what a text
# that reaches a stream does to its logits (>= 2e-3 in the tiny models, about 2e4 ulps).
ROUNDING_ULPS = 256


def tiny_config(**overrides) -> UniMuMoConfig:
    values = dict(dropout=0.0, condition_dropout=0.0)
    values.update(overrides)
    return UniMuMoConfig.preset("tiny", **values)


def build_model(t5_dir, seed: int = 0, **overrides) -> UniMuMoForConditionalGeneration:
    torch.manual_seed(seed)
    return UniMuMoForConditionalGeneration.from_components(tiny_config(**overrides), text_model_dir=t5_dir).eval()


def random_codes(batch: int, frames: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, CODEBOOK_SIZE, (batch, NUM_CODEBOOKS, frames), generator=generator)


def random_text(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Text ids ending in eos (1) with per-row padding (0) and the matching mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, TEXT_VOCAB, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    for row in range(batch):
        used = length - (row % 3)
        ids[row, used - 1] = 1
        ids[row, used:] = 0
        mask[row, used:] = 0
    return ids, mask


def rounding_tolerance(reference: torch.Tensor, ulps: int = ROUNDING_ULPS) -> float:
    """Absolute tolerance for `reference` recomputed in another summation order: `ulps` units in the last place of
    its dtype at its largest magnitude."""
    return ulps * torch.finfo(reference.dtype).eps * reference.abs().max().item()


def assert_equal_up_to_rounding(actual: torch.Tensor, expected: torch.Tensor, ulps: int = ROUNDING_ULPS) -> None:
    """`actual` is `expected` computed in another summation order (see ROUNDING_ULPS)."""
    torch.testing.assert_close(actual, expected, rtol=0, atol=rounding_tolerance(expected, ulps))
