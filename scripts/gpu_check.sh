#!/usr/bin/env bash
# The prepared GPU check: run it once whenever a GPU machine is available, and put its table in the README
# with the device named. One call, about 6 minutes on an H100:
#   - stage 2 (stage2_joint's freeze plan) at the MusicGen-small shape (24 x 1024) in bf16, batch 16 x 500 code
#     steps, for STEPS steps (default 300): step time, tokens/s and MFU against the device's datasheet bf16 peak
#     (benchmarks/mfu.py);
#   - generation with and without the KV cache: tokens/s and the speed-up (benchmarks/generation.py);
#   - the motion tokenizer's batched encode on the GPU (benchmarks/motion_tokenizer.py);
#   - the shard builder with --device cuda against the bare codec on the GPU (benchmarks/shard_build_codec.py).
# Prints one markdown table (also written to OUT/results.md and OUT/results.json, OUT default gpu_check/).
#
#   bash scripts/gpu_check.sh [OUT]            # STEPS=300 DEVICE=cuda by default
#   DEVICE=cpu STEPS=2 QUICK=1 bash scripts/gpu_check.sh /tmp/check   # the same script on a CPU (smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-300}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
quick=()
[ -n "${QUICK:-}" ] && quick=(--quick)
small=()
[ "$DEVICE" = cpu ] && small=(--layers 1 --batch 1 --seq 50)  # the CPU smoke run: a shape that finishes
mkdir -p "$OUT"
log="$OUT/log.txt"
: > "$log"
run() {  # NAME ARGS...: run one benchmark, keep its output, fail with its log tail
  local name=$1; shift
  echo "[gpu_check] $name: $*" | tee -a "$log"
  if ! "$PYTHON" "$@" > "$OUT/$name.out" 2>&1; then
    tail -n 20 "$OUT/$name.out" >&2
    echo "[gpu_check] $name failed (full output: $OUT/$name.out)" >&2
    return 1
  fi
  cat "$OUT/$name.out" >> "$log"
}
"$PYTHON" -c "import torch; d='$DEVICE'; assert d == 'cpu' or torch.cuda.is_available(), 'no CUDA device'; \
print('[gpu_check] device:', torch.cuda.get_device_name(0) if d != 'cpu' else 'CPU', '| torch', torch.__version__)" \
  | tee -a "$log"
status=0
run mfu benchmarks/mfu.py --device "$DEVICE" --precision "$( [ "$DEVICE" = cpu ] && echo fp32 || echo bf16 )" \
  --steps "$STEPS" "${small[@]}" || status=1
run generation benchmarks/generation.py --device "$DEVICE" "${quick[@]}" || status=1
run motion_tokenizer benchmarks/motion_tokenizer.py --device "$DEVICE" "${quick[@]}" || status=1
run shard_build_codec benchmarks/shard_build_codec.py --device "$DEVICE" "${quick[@]}" || status=1
"$PYTHON" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from run_all import last_json_line, markdown_table, status_of
out = Path(sys.argv[1])
rows = []
for name in ("mfu", "generation", "motion_tokenizer", "shard_build_codec"):
    text = (out / f"{name}.out").read_text() if (out / f"{name}.out").exists() else ""
    row = last_json_line(text) or {"benchmark": name}
    row["command"] = f"python benchmarks/{name}.py (scripts/gpu_check.sh)"
    row["status"] = status_of(row, 0 if "ratio" in row else 1, "")
    rows.append(row)
FIGURES = {  # the absolute figures behind each ratio, for the README's GPU table
    "mfu": lambda d: f"{d['precision']}, {d['layers']} layers, batch {d['batch']} x {d['seq']}: {d['step_ms']} ms/step, "
                     f"{d['tokens_per_s']:,} tokens/s, {d['steps_measured']} steps",
    "generation_kv_cache": lambda d: f"{d['steps'] / d['cached_s']:.0f} steps/s cached, "
                                     f"{d['steps'] / d['recompute_s']:.0f} recomputed (batch {d['batch']})",
    "motion_tokenizer_batched_encode": lambda d: f"{d['batched_frames_per_s']:,.0f} frames/s batched",
    "shard_build_codec": lambda d: f"builder {d['builder_tracks_per_s']} tracks/s, codec {d['codec_tracks_per_s']} tracks/s",
}
for row in rows:
    if "detail" in row and row["benchmark"] in FIGURES:
        row["unit"] = f"{row['unit']}; {FIGURES[row['benchmark']](row['detail'])}"
table = markdown_table(rows)
(out / "results.md").write_text(table)
(out / "results.json").write_text(json.dumps(rows, indent=2))
print(table)
PY
exit $status
