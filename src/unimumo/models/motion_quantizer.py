"""Residual vector quantiser with EMA codebooks, dead-code restart and commitment loss.

Level k quantises what levels 0..k-1 left over; the codebooks are not trained by gradients but
by exponential moving averages of the vectors assigned to each entry (VQ-VAE-2 / SoundStream).
A code whose EMA usage drops below `dead_code_threshold` is restarted from a random residual of
the current batch (Jukebox). Under torch.distributed the statistics are summed over ranks and
restart vectors come from rank 0, so every rank keeps the same codebooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

LAPLACE_EPS = 1e-5
NEAREST_BLOCK_ROWS = 256


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [M,D], straight-through: gradients flow to the input
    codes: torch.Tensor  # [K,M] long
    commit_loss: torch.Tensor  # scalar
    perplexity: torch.Tensor  # scalar, mean over levels of exp(entropy of code usage)
    dead_codes: (
        torch.Tensor
    )  # scalar long: in training the codes restarted by this step, else those below the threshold


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(tensor)
    return tensor


class ResidualVectorQuantizer(nn.Module):
    def __init__(
        self, num_codebooks: int, codebook_size: int, code_dim: int, ema_decay: float, dead_code_threshold: float
    ):
        super().__init__()
        self.num_codebooks, self.codebook_size, self.code_dim = num_codebooks, codebook_size, code_dim
        self.ema_decay, self.dead_code_threshold = ema_decay, dead_code_threshold
        self.register_buffer("codebooks", torch.empty(num_codebooks, codebook_size, code_dim))
        self.register_buffer("cluster_size", torch.zeros(num_codebooks, codebook_size))
        self.register_buffer("embed_sum", torch.zeros(num_codebooks, codebook_size, code_dim))
        self.reset_codebooks()

    @torch.no_grad()
    def reset_codebooks(self) -> None:
        """Random entries and zero usage: the first training step restarts every code from data."""
        self.codebooks.normal_(0.0, self.code_dim**-0.5)
        self.cluster_size.zero_()
        self.embed_sum.copy_(self.codebooks)

    def nearest(self, vectors: torch.Tensor, level: int) -> torch.Tensor:
        """Index of the closest entry of codebook `level` for each row of `vectors` [M,D]."""
        codebook = self.codebooks[level]
        squared_norms = codebook.pow(2).sum(-1)
        # |c|^2 - 2 v.c (|v|^2 is the same for every entry of a row), in row blocks that stay in cache.
        return (
            torch.cat(
                [
                    torch.addmm(squared_norms, block, codebook.t(), alpha=-2.0).argmin(-1)
                    for block in vectors.split(NEAREST_BLOCK_ROWS)
                ]
            )
            if len(vectors)
            else vectors.new_zeros(0, dtype=torch.long)
        )

    @torch.no_grad()
    def encode(self, vectors: torch.Tensor) -> torch.Tensor:
        """Codes [K,M] of `vectors` [M,D]; no statistics are touched."""
        codes, residual = [], vectors
        for level in range(self.num_codebooks):
            codes.append(self.nearest(residual, level))
            residual = residual - F.embedding(codes[-1], self.codebooks[level])
        return torch.stack(codes)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the entries picked by codes [K,M] -> [M,D]."""
        return sum(F.embedding(codes[level], self.codebooks[level]) for level in range(codes.shape[0]))

    def dead_mask(self) -> torch.Tensor:
        return self.cluster_size < self.dead_code_threshold

    def forward(self, vectors: torch.Tensor) -> QuantizerOutput:
        """Quantise `vectors` [M,D] (valid positions only); in training mode also update the codebooks."""
        residual = vectors
        quantized = torch.zeros_like(vectors)
        codes, commit_loss, perplexity = [], vectors.new_zeros(()), vectors.new_zeros(())
        dead_codes = (
            torch.zeros((), dtype=torch.long, device=vectors.device) if self.training else self.dead_mask().sum()
        )
        for level in range(self.num_codebooks):
            level_input = residual.detach()
            index = self.nearest(level_input, level)
            entry = F.embedding(index, self.codebooks[level])
            usage = torch.bincount(index, minlength=self.codebook_size).to(vectors.dtype)
            commit_loss = commit_loss + F.mse_loss(residual, entry.detach()) if len(index) else commit_loss
            probs = usage / usage.sum().clamp(min=1.0)
            perplexity = perplexity + torch.exp(-(probs * torch.log(probs.clamp(min=1e-10))).sum())
            if self.training:
                dead_codes = dead_codes + self._ema_update(level, level_input, index, usage)
            codes.append(index)
            quantized = quantized + entry
            residual = residual - entry.detach()
        quantized = vectors + (quantized - vectors).detach()
        return QuantizerOutput(quantized, torch.stack(codes), commit_loss, perplexity / self.num_codebooks, dead_codes)

    @torch.no_grad()
    def _ema_update(self, level: int, vectors: torch.Tensor, index: torch.Tensor, usage: torch.Tensor) -> int:
        """Move codebook `level` towards the mean of its assigned vectors; return how many codes were restarted."""
        sums = torch.zeros_like(self.embed_sum[level]).index_add_(0, index, vectors.to(self.embed_sum.dtype))
        usage, sums = _sum_over_ranks(usage.to(self.cluster_size.dtype).clone()), _sum_over_ranks(sums)
        decay = self.ema_decay
        self.cluster_size[level].mul_(decay).add_(usage, alpha=1.0 - decay)
        self.embed_sum[level].mul_(decay).add_(sums, alpha=1.0 - decay)
        total = self.cluster_size[level].sum()
        smoothed = (self.cluster_size[level] + LAPLACE_EPS) / (total + self.codebook_size * LAPLACE_EPS) * total
        self.codebooks[level].copy_(self.embed_sum[level] / smoothed.clamp(min=LAPLACE_EPS).unsqueeze(-1))
        return self._restart_dead_codes(level, vectors)

    @torch.no_grad()
    def _restart_dead_codes(self, level: int, vectors: torch.Tensor) -> int:
        dead = self.cluster_size[level] < self.dead_code_threshold
        num_dead = int(dead.sum())
        if num_dead == 0 or (len(vectors) == 0 and not _distributed()):
            return 0
        fresh = self.codebooks.new_zeros(num_dead, self.code_dim)
        if len(vectors):
            fresh = vectors[torch.randint(len(vectors), (num_dead,), device=vectors.device)].to(fresh.dtype)
        if _distributed():  # every rank joins, even one without valid vectors in this batch
            dist.broadcast(fresh, src=0)
        # A restarted code starts with exactly the threshold usage: it stays alive only if it gets used.
        self.codebooks[level][dead] = fresh
        self.embed_sum[level][dead] = fresh * self.dead_code_threshold
        self.cluster_size[level][dead] = self.dead_code_threshold
        return num_dead
