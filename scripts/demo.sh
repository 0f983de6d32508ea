#!/usr/bin/env bash
# The main job on a CPU, from a fresh checkout: install, set up the two real demo models, run the baseline
# and full SSR on a few MATH-500 problems, and print the evaluation table.
#   bash scripts/demo.sh                      # the cpu-demo preset's four level-1 problems
#   PROBLEMS=0-9 bash scripts/demo.sh         # other problems
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_ROOT_USER_ACTION=ignore  # the demo runs as root in containers; pip's warning about it is noise here
bash scripts/install_cpu.sh
python -m pip install -q -e ".[demo]"
export SSR_DATA_DIR="${SSR_DATA_DIR:-$(cd .. && pwd)/shared/data}"
python scripts/setup_cpu_demo.py
OUT="${OUT:-results/demo}"
PICK=()
if [[ -n "${PROBLEMS:-}" ]]; then PICK=(--problem_id "$PROBLEMS"); fi
python base_test.py --preset cpu-demo ${PICK[@]+"${PICK[@]}"} --output_dir "$OUT"
python spec_scale_reason_2.py --preset cpu-demo ${PICK[@]+"${PICK[@]}"} --output_dir "$OUT"
python spec_eval.py --result_dir "$OUT/ssr" --baseline_dir "$OUT/base" --out "$OUT"
echo
echo "Result files: $OUT/base and $OUT/ssr (one JSON per problem and repeat); open $OUT/report.html in a browser"
echo "to read every path, step score and rewrite."
