"""Run metrics: OUT/metrics.jsonl + TensorBoard scalars on rank 0 (training and validation lines), throughput
and MFU estimates.

MFU = model FLOPs per token x tokens/s / (peak FLOP/s per device x devices); `flops_per_token` gives
the formula (6 N per token when every parameter on the path trains, plus the attention term).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from unimumo.tasks import STREAMS
from unimumo.train.stages import group_of

# dense bf16 peak FLOP/s per device, by substring of torch.cuda.get_device_name()
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "L4": 121e12,
    "V100": 125e12,
    "RTX 4090": 165e12,
}


def detect_peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of a known GPU, None on the CPU or an unknown device (pass --set log.peak_flops)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def flops_per_token(model: torch.nn.Module, streams: tuple[str, ...] = STREAMS, attention_context: int = 0) -> float:
    """Training FLOPs per code token (one time step of one stream), averaged over `streams` (equal token counts).

    A token's path is its own stream's parameter group plus the shared parameters (a model without groups: all of
    them); embeddings, the text encoder and the captioning modules are off it. Each path parameter costs 2 FLOPs
    forward and 2 backward through the activations, plus 2 for its weight gradient when it trains: 4 N + 2 N_trained
    (6 N when all train). Attention adds 12 L d per key attended (`attention_context` keys per query, L layers of
    width d: QK^T and AV are 2 d multiply-adds per key forward, x 3 with backward; the causal mask's skipped half is
    counted, as in PaLM's MFU).
    """
    counts = {stream: [0, 0] for stream in streams}  # stream -> [path parameters, trained path parameters]
    for name, param in model.named_parameters():
        group = group_of(model, name)
        if group in ("text", "captioning") or "embed" in name:
            continue
        for stream in streams:
            if group == stream or group not in STREAMS:
                counts[stream][0] += param.numel()
                counts[stream][1] += param.numel() if param.requires_grad else 0
    dense = sum(4.0 * total + 2.0 * trained for total, trained in counts.values()) / len(streams)
    if not attention_context:
        return dense
    return dense + 12.0 * model.config.num_hidden_layers * model.config.hidden_size * attention_context


def max_memory_bytes(device: torch.device) -> int:
    """Peak allocated accelerator memory, or the process's peak resident set size on the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class MetricsLogger:
    """Appends one JSON line per log interval and mirrors scalars to TensorBoard (rank 0 only)."""

    def __init__(self, out: Path, enabled: bool, tensorboard: bool):
        self.enabled = enabled
        self.path = Path(out) / "metrics.jsonl"
        self._file = open(self.path, "a", buffering=1) if enabled else None
        self._writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(Path(out) / "tensorboard"))

    def log(self, step: int, values: Mapping[str, float], split: str | None = None) -> None:
        """One line {"step", "time", values...}; `split` marks a line that is not training ("split": "val")."""
        if not self.enabled:
            return
        clean = {k: (float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None) for k, v in values.items()}
        marker = {"split": split} if split else {}
        self._file.write(json.dumps({"step": step, "time": time.time(), **marker, **clean}) + "\n")
        if self._writer is not None:
            for key, value in clean.items():
                if value is not None:
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._writer is not None:
            self._writer.close()


class WindowStats:
    """Running sums over one log interval: means of losses, rates of tokens and samples."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.tokens = self.samples = self.steps = 0
        self.start = time.perf_counter()

    def add(self, values: Mapping[str, float], tokens: int, samples: int) -> None:
        for key, value in values.items():
            if value is not None and math.isfinite(value):
                self.sums[key] = self.sums.get(key, 0.0) + value
                self.counts[key] = self.counts.get(key, 0) + 1
        self.tokens += tokens
        self.samples += samples
        self.steps += 1

    def summary(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        out = {key: self.sums[key] / self.counts[key] for key in self.sums}
        out.update(
            {
                "tokens_per_s": self.tokens / elapsed,
                "samples_per_s": self.samples / elapsed,
                "step_time_s": elapsed / max(self.steps, 1),
            }
        )
        return out


def summary_line(step: int, total: int, values: Mapping[str, float]) -> str:
    """The one-line console summary of a log interval."""
    parts = [f"step {step}/{total}"]
    for key in (
        "loss",
        "loss/music",
        "loss/motion",
        "loss/caption",
        "lr",
        "grad_norm",
        "tokens_per_s",
        "mfu",
        "skipped_steps",
    ):
        value = values.get(key)
        if value is not None:
            parts.append(f"{key} {value:.4g}")
    return " | ".join(parts)
