#!/usr/bin/env bash
# The paper's evidence in one command: every arm of Table 1 and Figures 2-4 of arXiv 2505.15340 under
# --preset paper, on AIME 2024 (ids 60-89), MATH-500 (ids 0-99) and LiveMathBench AMC_en, then the evals.
#
#   Table 1   baseline, spec-reason tau 7 and tau 9, SSR-Fast-1, SSR-Fast-2, SSR (5 paths)
#   Figure 3  Parallel N=5, Parallel-SPM N=5, SSR-m3, SSR-m5 (accuracy vs 1/normalised FLOPs)
#   Figure 4  Baseline, Parallel, Parallel-SPM (N=5, no speculative decoding)
#   Figure 2  one Parallel run with 9 paths: coverage (pass@k over its paths, k = 1..9) and its vote
#
# Accuracy arms: 6 repeats, problems batched, in OUTPUT/accuracy/<arm>/. Table 1's arms run again one problem
# at a time on repeat 0 (--max_concurrent_problems 1), the paper's Time, in OUTPUT/latency/<arm>/; the evals
# mark any latency measured under batching. Evals (spec_eval.py --alpha 0.047, baseline_eval.py for Figure 2)
# write OUTPUT/eval/<table or figure>/<dataset>/ (summary.json/csv, plots, report.html).
#
# Usage:  bash scripts/paper.sh [--datasets aime,math,live] [--arms NAMES|table1|figure2|figure3|figure4] [--repeats 6]
#                               [--output_dir results/paper] [--no_latency] [--own_prompts] [--dry_run]
# --dry_run prints every command and the runs (problem x repeat records) per arm, and runs nothing.
# Needs the authors' prompt texts imported once:
#     python scripts/import_reference_prompts.py PATH_TO_AUTHORS_CHECKOUT
# or --own_prompts to run with the project's set (the preset records that in every result).
# Reruns resume: every script skips the (problem, repeat)s it already finished. SSR_SWAP_MODELS=tiny runs every
# command on the tiny CPU models instead (a plumbing check on a small machine).
# Exit status: 0 when everything ran; 1 when a command failed (some problems, an engine or an eval; the others
# still run, and a rerun retries what failed); 2 when a generation command refused (usage, a folder of other
# settings, a plan that cannot fit): that stops the script at once.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"

for arg in "$@"; do
  if [[ "$arg" == "--dry_run" || "$arg" == "-h" || "$arg" == "--help" ]]; then
    exec "$PY" scripts/paper_plan.py --python "$PY" "$@"
  fi
done

plan="$("$PY" scripts/paper_plan.py --python "$PY" "$@")" || exit $?
total=$(grep -c . <<<"$plan")
status=0
i=0
while IFS=$'\t' read -r kind label cmd; do
  i=$((i + 1))
  echo "== [$i/$total] $kind $label: $cmd" >&2
  bash -c "$cmd" </dev/null
  rc=$?
  if [[ $rc -eq 0 ]]; then
    continue
  elif [[ $kind == gen && $rc -ne 1 ]]; then
    echo "paper.sh: stopped: '$label' exited $rc; fix the cause and rerun the same command to resume" >&2
    exit "$rc"
  fi
  echo "paper.sh: '$label' exited $rc; continuing (a rerun retries what failed)" >&2
  status=1
done <<<"$plan"
if [[ $status -ne 0 ]]; then
  echo "paper.sh: finished with failures (see above); rerun the same command to retry them" >&2
fi
exit "$status"
