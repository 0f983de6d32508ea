"""What the four generation scripts share: parse, check, plan, run, summarise.

Exit codes: 0 every (problem, repeat) of the run (of its shard) has a result; 1 the engines could not
load, an engine went away for good (finished files stay), or some problems failed (a rerun retries
them); 2 a usage error, a folder of other settings, or a plan that cannot fit, found before anything
loads; 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Sequence

from ssr.command_line import add_run_args, config_from_args
from ssr.config import RunConfig, parse_shard


def build_parser(description: str, defaults: RunConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_args(parser, defaults)
    return parser


def main(method: str, description: str, argv: Sequence[str] | None = None, **defaults) -> int:
    """Entry point of a generation script; returns the process exit code."""
    from ssr.datasets import DatasetError, select_problems
    from ssr.engines.base import EngineError, EngineGone
    from ssr.logs import engine_output_to
    from ssr.runner import SettingsMismatch, plan_jobs, run_dir, run_experiment

    parser = build_parser(description, RunConfig(method=method, **defaults))
    cfg = config_from_args(method, parser, argv)
    try:
        problems = select_problems(cfg.dataset_name, cfg.problem_id, cfg.data_dir)
        plan_jobs(cfg, problems)  # refuse a folder of other settings before any engine loads
    except (DatasetError, SettingsMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ssr.plan import PlanError, make_plan

    try:
        plan = make_plan(cfg)  # reads configs, never weights: a layout that cannot fit stops here
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cfg.dry_run:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    for line in plan.summary_lines():
        print(line, file=sys.stderr)
    if plan.concurrency and plan.concurrency != cfg.max_concurrent_problems:
        cfg = dataclasses.replace(cfg, max_concurrent_problems=plan.concurrency)

    shard = parse_shard(cfg.shard)
    log_name = f"engine.shard-{shard[0]}-of-{shard[1]}.log" if shard else "engine.log"  # jobs sharing the folder
    log_path = None if cfg.verbose else run_dir(cfg) / log_name
    if log_path is not None:
        print(f"engine output: {log_path} (--verbose shows it here)", file=sys.stderr)

    try:
        with engine_output_to(log_path):
            summary = run_experiment(cfg, problems, plan=plan)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, EngineGone):
            print("the run stopped: finished problems are saved; rerun the same command to resume", file=sys.stderr)
        if log_path is not None:
            print(f"the engines' own output is in {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: finished problems are saved; rerun the same command to resume", file=sys.stderr)
        return 130
    done = summary.skipped + len(summary.written)
    line = f"{cfg.method}: {done}/{summary.total} results in {summary.output_dir}"
    if cfg.shard:
        line += f" (shard {cfg.shard})"
    if summary.skipped:
        line += f" ({summary.skipped} already done, skipped)"
    if summary.steps:
        line += f"; steps {summary.steps}, rewritten {summary.rewrites} ({summary.rewrites / summary.steps:.0%})"
    print(line + f"; {summary.seconds:.1f}s")
    if summary.failed:
        print(
            f"error: {len(summary.failed)} problem(s) failed and have no result file (listed in "
            f"{summary.summary_file}); rerun the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
