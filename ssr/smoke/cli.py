"""Run the smoke checks on the run folders of one or two output folders, print a table, exit non-zero on a failure.

    python scripts/gpu_smoke_check.py --first OUT/runner-v2 --first_runner v2 \
        --second OUT/runner-v1 --second_runner v1 --json OUT/checks.json

Each run folder (``<output_dir>/<method>/<dataset>/<tag>``, one per generation command) gets the record checks
and, when it has an ``engine.log`` (or one per shard), the plan and runner checks; run folders with the same
relative path in the two output folders are compared step by step.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from ssr.records import atomic_write_json, load_records, record_files
from ssr.smoke.checks import (
    CheckResult,
    check_distributions,
    check_plan_memory,
    check_prefix_cache,
    check_runner,
    check_schema,
    compare_runs,
)
from ssr.smoke.engine_log import read_engine_log

# ssr.cli writes engine.log, or engine.shard-K-of-N.log per job when --shard splits a run over jobs
ENGINE_LOGS = "engine*.log"


def run_folders(output_dir: str | Path) -> list[Path]:
    """Every folder below ``output_dir`` that holds result records."""
    return sorted({p.parent for p in record_files(output_dir)})


def check_run(
    folder: Path, *, runner: str | None = None, label: str = "", note: int | None = None
) -> list[CheckResult]:
    """Checks 1-4 (and the runner, when one is expected) on one run folder."""
    loaded = load_records(folder)
    records = loaded.records
    results = [check_distributions(records), check_prefix_cache(records, note=note), check_schema(records)]
    if loaded.skipped:
        results.append(CheckResult("records", False, f"{len(loaded.skipped)} unreadable: {loaded.skipped[0].reason}"))
    logs = sorted(folder.glob(ENGINE_LOGS))
    if logs:
        starts = [s for log in logs for s in read_engine_log(log)]
        results.append(check_plan_memory(records, starts))
        if runner:
            results.append(check_runner(starts, runner))
    else:
        results.append(CheckResult("plan vs vLLM", False, "no engine.log in the run folder"))
    for r in results:
        r.run = label or str(folder)
    return results


def check_outputs(
    first: Path,
    second: Path | None = None,
    *,
    first_runner: str | None = None,
    second_runner: str | None = None,
    note: int | None = None,
) -> list[CheckResult]:
    folders = run_folders(first)
    if not folders:
        return [CheckResult("records", False, "no result records", run=str(first))]
    results = []
    for folder in folders:
        rel = folder.relative_to(first)
        results += check_run(folder, runner=first_runner, label=f"{first.name}/{rel}", note=note)
        if second is None:
            continue
        other = second / rel
        if not other.is_dir():
            results.append(CheckResult("V2 vs V1", False, f"no run folder {other}", run=str(rel)))
            continue
        results += check_run(other, runner=second_runner, label=f"{second.name}/{rel}", note=note)
        compared = compare_runs(load_records(folder).records, load_records(other).records)
        compared.run = f"{first.name} vs {second.name}: {rel}"
        results.append(compared)
    return results


def format_table(results: Sequence[CheckResult]) -> str:
    rows = [("run", "check", "result", "detail")] + [
        (r.run, r.name, "ok" if r.passed else "FAILED", r.detail) for r in results
    ]
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed}/{len(results)} checks passed" + (f", {failed} FAILED" if failed else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", required=True, type=Path, help="an output folder of generation runs")
    parser.add_argument("--second", type=Path, help="a second output folder with the same runs, to compare with")
    parser.add_argument("--first_runner", choices=("v1", "v2"), help="the model runner the first runs must have used")
    parser.add_argument("--second_runner", choices=("v1", "v2"), help="the model runner of the second runs")
    parser.add_argument("--note_tokens", type=int, help="tokens of the judging note (default: counted with the "
                        "target's tokenizer)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = check_outputs(
        args.first, args.second, first_runner=args.first_runner, second_runner=args.second_runner,
        note=args.note_tokens,
    )
    print(format_table(results))
    if args.json:
        atomic_write_json(args.json, [dataclasses.asdict(r) for r in results])
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
