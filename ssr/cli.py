"""What the four generation scripts share: parse, load problems, run, summarise."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ssr.config import RunConfig, add_run_args, config_from_args


def build_parser(description: str, defaults: RunConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_args(parser, defaults)
    return parser


def main(method: str, description: str, argv: Sequence[str] | None = None, **defaults) -> int:
    """Entry point of a generation script; returns the process exit code."""
    from ssr.datasets import DatasetError, select_problems
    from ssr.engines.base import EngineError
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
    log_path = None if cfg.verbose else run_dir(cfg) / "engine.log"
    if log_path is not None:
        print(f"engine output: {log_path} (--verbose shows it here)", file=sys.stderr)

    try:
        with engine_output_to(log_path):
            summary = run_experiment(cfg, problems)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if log_path is not None:
            print(f"the engines' own output is in {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: finished problems are saved; rerun the same command to resume", file=sys.stderr)
        return 130
    done = summary.skipped + len(summary.written)
    line = f"{cfg.method}: {done}/{summary.total} results in {summary.output_dir}"
    if summary.skipped:
        line += f" ({summary.skipped} already done, skipped)"
    if summary.steps:
        line += f"; steps {summary.steps}, rewritten {summary.rewrites} ({summary.rewrites / summary.steps:.0%})"
    print(line + f"; {summary.seconds:.1f}s")
    return 0
