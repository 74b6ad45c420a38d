"""Model FLOPs utilisation of a stage-2 training step at the MusicGen-small shape.

One step = forward + backward + AdamW step of `stage2_joint` (its freeze plan: music, motion and shared modules
train; the T5 text encoder and the captioning modules are frozen) on a batch of music and motion code windows of
--seq time steps each, with text conditions. The model is the `small` preset (1024 wide, 24 layers, 16 heads, FFN
4096, a music and a motion FFN expert in every block, t5-base-shaped text encoder); attention is PyTorch SDPA;
bf16 autocast where the device supports it (fp32 weights and optimizer, as DeepSpeed's bf16 keeps fp32 masters).

FLOPs per token (`unimumo.train.step_metrics.flops_per_token`, the trainer's own estimate): a token is one time step
of one stream; with N the non-embedding parameters on its path (its stream's expert FFNs and heads plus the shared
attention and norms) and N_trained those that train, 4 N + 2 N_trained (= 6 N here), plus 12 L d per attended key:
2 (T + K - 1) self-attention keys (both delayed streams) + the text length of cross-attention keys. The frozen text
encoder's forward is not counted. MFU = FLOPs per token x tokens per second / peak FLOP/s.

Peak: on CUDA the dense bf16 datasheet figure of a known GPU (step_metrics.PEAK_BF16_FLOPS) or --peak-tflops; the
target is >= 45 % on an H100. On the CPU the figure is a CPU figure: the peak is this machine's measured fp32 matmul
throughput with the same threads, and the default shape is cut (--layers 2 --batch 1) to finish in < 2 min on 2
cores; it is not comparable with the GPU target.

    python benchmarks/mfu.py --device cuda [--layers 24] [--batch 16] [--seq 500] [--peak-tflops 989]
    python benchmarks/mfu.py [--quick]          # on a machine without a GPU: a CPU figure
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from unimumo.models.configuration_unimumo import UniMuMoConfig  # noqa: E402
from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration  # noqa: E402
from unimumo.train.stages import STAGES, apply_freeze_plan, optimizer_groups  # noqa: E402
from unimumo.train.step_metrics import detect_peak_flops, flops_per_token  # noqa: E402

TEXT_LEN = 64  # text tokens per condition (recipe data.max_text_len)
STAGE = "stage2_joint"
STREAMS = STAGES[STAGE].streams


def measured_cpu_peak(size: int = 2048, repeats: int = 5) -> float:
    """Best fp32 matmul FLOP/s of this machine with the current torch threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best


def make_batch(config: UniMuMoConfig, batch: int, seq: int, device: torch.device, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    codes = [
        torch.randint(0, config.codebook_size, (batch, config.num_codebooks, seq), generator=generator) for _ in STREAMS
    ]
    text = [
        torch.randint(2, config.text_encoder_config["vocab_size"], (batch, TEXT_LEN), generator=generator)
        for _ in STREAMS
    ]
    values = {f"{s}_codes": c for s, c in zip(STREAMS, codes)} | {f"{s}_text_ids": t for s, t in zip(STREAMS, text)}
    return {k: v.to(device) for k, v in values.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu | cuda | cuda:N (default cuda when available)",
    )
    parser.add_argument("--layers", type=int, default=None, help="decoder blocks (default 24 on CUDA, 2 on the CPU)")
    parser.add_argument("--batch", type=int, default=None, help="samples per step (default 16 on CUDA, 1 on the CPU)")
    parser.add_argument("--seq", type=int, default=500, help="code time steps per stream (default 500 = 10 s)")
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default 20 on CUDA, 3 on the CPU)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured steps first (default 2)")
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="auto: bf16 autocast on a GPU that supports it, else fp32",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="peak TFLOP/s of the device (default: datasheet bf16 of a known GPU; measured on the CPU)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer measured steps (run_all --quick)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if on_gpu and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    layers = args.layers or (24 if on_gpu else 2)
    batch = args.batch or (16 if on_gpu else 1)
    steps = args.steps or max(1, (20 if on_gpu else 3) // (2 if args.quick else 1))
    bf16 = args.precision == "bf16" or (args.precision == "auto" and on_gpu and torch.cuda.is_bf16_supported())

    torch.manual_seed(0)
    config = UniMuMoConfig.preset("small", num_hidden_layers=layers, max_position_embeddings=max(2048, args.seq + 8))
    model = UniMuMoForConditionalGeneration(config)
    apply_freeze_plan(model, STAGES[STAGE])
    model.to(device).train()
    model.text_encoder.eval()
    optimizer = torch.optim.AdamW(optimizer_groups(model, 0.01), lr=1e-4, **({"fused": True} if on_gpu else {}))
    trained = [p for p in model.parameters() if p.requires_grad]
    inputs = make_batch(config, batch, args.seq, device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        step()
    sync()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    step_s = (time.perf_counter() - started) / steps

    context = 2 * (args.seq + config.num_codebooks - 1) + TEXT_LEN
    per_token = flops_per_token(model, STREAMS, attention_context=context)
    tokens = batch * args.seq * len(STREAMS)
    achieved = per_token * tokens / step_s
    if args.peak_tflops:
        peak, peak_source = args.peak_tflops * 1e12, "--peak-tflops"
    elif on_gpu:
        peak, peak_source = detect_peak_flops(device), f"datasheet bf16 ({torch.cuda.get_device_name(device)})"
        if peak is None:
            parser.error(f"unknown GPU {torch.cuda.get_device_name(device)!r}: pass --peak-tflops")
    else:
        peak, peak_source = measured_cpu_peak(), f"measured fp32 matmul, {torch.get_num_threads()} threads"
    mfu = achieved / peak
    where = torch.cuda.get_device_name(device) if on_gpu else "CPU"
    kind = "" if on_gpu else " (a CPU figure: not comparable with the GPU target of 45 % on an H100)"
    print(
        f"{STAGE} step on {where}: {layers} layers x 1024, batch {batch} x {args.seq} steps x {len(STREAMS)} "
        f"streams, {'bf16' if bf16 else 'fp32'}: {step_s * 1e3:.1f} ms/step, {tokens / step_s:,.0f} tokens/s, "
        f"{per_token / 1e9:.3f} GFLOP/token, {achieved / 1e12:.2f} TFLOP/s of {peak / 1e12:.2f} ({peak_source}): "
        f"MFU {100 * mfu:.1f} %{kind}"
    )
    print(
        json.dumps(
            {
                "benchmark": "mfu",
                "ratio": round(mfu, 4),
                "target": 0.45,
                "target_applies": on_gpu,
                "unit": "MFU, stage-2 step" + ("" if on_gpu else " (CPU figure; target is for an H100)"),
                "detail": {
                    "device": where,
                    "layers": layers,
                    "batch": batch,
                    "seq": args.seq,
                    "precision": "bf16" if bf16 else "fp32",
                    "step_ms": round(step_s * 1e3, 2),
                    "tokens_per_s": round(tokens / step_s),
                    "flops_per_token": per_token,
                    "attention_context": context,
                    "peak_flops": peak,
                    "peak_source": peak_source,
                    "steps_measured": steps,
                    "threads": torch.get_num_threads(),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
