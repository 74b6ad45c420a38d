"""MusicGen delay pattern for one code stream [B, K, T].

The delayed sequence has T + K positions. Position 0 is the start token (all codebooks `special_id`); codebook k of
frame t sits at position t + k + 1; every other slot holds `special_id`. The LM reads positions 0 .. T + K - 2 and the
output at position s predicts position s + 1, so the prediction of code (k, t) is read at position t + k.

Padding: a stream of `length` real frames padded to T (code mask [B, T], real frames first) keeps exactly the
positions its unpadded sequence has: input position s (0 .. T + K - 2) is valid when s < length + K - 1, i.e. when
the output read there predicts at least one real code ((k, s - k) with s - k < length). With the padded codes
replaced by `special_id` before delaying, the valid positions hold the same tokens as the unpadded sequence.
"""

from __future__ import annotations

import torch


def delay_codes(codes: torch.Tensor, special_id: int) -> torch.Tensor:
    """codes [B, K, T] -> delayed [B, K, T + K] with the start token at position 0."""
    batch, num_codebooks, num_frames = codes.shape
    delayed = codes.new_full((batch, num_codebooks, num_frames + num_codebooks), special_id)
    for k in range(num_codebooks):
        delayed[:, k, k + 1 : k + 1 + num_frames] = codes[:, k]
    return delayed


def undelay(per_position: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Outputs over input positions [B, K, S, ...] -> per-code outputs [B, K, num_frames, ...].

    Code (k, t) is read at input position t + k."""
    num_codebooks = per_position.shape[1]
    return torch.stack([per_position[:, k, k : k + num_frames] for k in range(num_codebooks)], dim=1)


def codes_from_delayed(delayed: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Inverse of `delay_codes`: delayed [B, K, >= T + K] -> codes [B, K, T]."""
    return undelay(delayed[:, :, 1:], num_frames)


def valid_codebooks(position: int, num_codebooks: int, num_frames: int, device=None) -> torch.Tensor:
    """Bool [K]: which codebooks hold a real code at delayed position `position + 1` (the one predicted at
    `position`)."""
    k = torch.arange(num_codebooks, device=device)
    return (k <= position) & (position < num_frames + k)


def valid_positions(code_mask: torch.Tensor, num_codebooks: int) -> torch.Tensor:
    """code mask [B, T] (True = real frame, real frames first) -> bool [B, T + K - 1]: the valid input positions."""
    lengths = code_mask.sum(dim=1)
    positions = torch.arange(code_mask.shape[1] + num_codebooks - 1, device=code_mask.device)
    return positions[None, :] < (lengths + num_codebooks - 1)[:, None]
