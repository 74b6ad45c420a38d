"""Key/value cache for incremental UniMuMo decoding.

Self-attention keys/values live in buffers preallocated for the whole generation, so a decoding step writes one
slot per token instead of re-concatenating the prefix. The time step of every cached token is kept so that a step
feeding several time steps at once still gets the block-causal mask. Cross-attention keys/values of the (fixed)
text condition are computed once per layer.
"""

from __future__ import annotations

import torch


class UniMuMoKVCache:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.length = 0  # tokens committed to the cache (music and motion together)
        self.num_steps = 0  # time steps committed per stream
        self.key_times = torch.empty(0, dtype=torch.long)
        self._self_attention: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._cross_attention: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def update_self_attention(self, layer_idx: int, key: torch.Tensor, value: torch.Tensor):
        """Write new keys/values [B, H, N, Dh] after the committed ones; return all of them (committed + new)."""
        end = self.length + key.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache overflow: {end} tokens > capacity {self.capacity}")
        if layer_idx not in self._self_attention:
            shape = (*key.shape[:2], self.capacity, key.shape[3])
            self._self_attention[layer_idx] = (key.new_zeros(shape), value.new_zeros(shape))
        keys, values = self._self_attention[layer_idx]
        keys[:, :, self.length : end] = key
        values[:, :, self.length : end] = value
        return keys[:, :, :end], values[:, :, :end]

    def cross_attention(self, layer_idx: int):
        return self._cross_attention.get(layer_idx)

    def set_cross_attention(self, layer_idx: int, key: torch.Tensor, value: torch.Tensor) -> None:
        self._cross_attention[layer_idx] = (key, value)

    def commit(self, token_times: torch.Tensor, num_steps: int) -> None:
        """Mark the tokens of the step just run (their time steps `token_times`) as cached."""
        self.key_times = torch.cat([self.key_times.to(token_times.device), token_times])
        self.length += token_times.numel()
        self.num_steps += num_steps
