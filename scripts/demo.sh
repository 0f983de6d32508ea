#!/usr/bin/env bash
# The main job on a CPU, from a fresh checkout: install, set up the two real demo models, run full SSR
# on a few MATH-500 problems, and print the evaluation table.
#   bash scripts/demo.sh                      # problems 0-3
#   PROBLEMS=0-9 bash scripts/demo.sh         # more problems
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_cpu.sh
python -m pip install -q -e ".[demo]"
export SSR_DATA_DIR="${SSR_DATA_DIR:-$(cd .. && pwd)/shared/data}"
python scripts/setup_cpu_demo.py
OUT="${OUT:-results/demo}"
python base_test.py --preset cpu-demo --problem_id "${PROBLEMS:-0-3}" --output_dir "$OUT"
python spec_scale_reason_2.py --preset cpu-demo --problem_id "${PROBLEMS:-0-3}" --output_dir "$OUT"
python spec_eval.py --result_dir "$OUT/ssr" --baseline_dir "$OUT/base" --out "$OUT"
