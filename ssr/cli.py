"""What the four generation scripts share: parse, load problems, run, report."""

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

    parser = build_parser(description, RunConfig(method=method, **defaults))
    cfg = config_from_args(method, parser, argv)
    _validate(parser, cfg)
    try:
        problems = select_problems(cfg.dataset_name, cfg.problem_id, cfg.data_dir)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ssr.engines import default_backend
    from ssr.logs import engine_output_to
    from ssr.runner import run_dir, run_experiment

    # record the backend that really ran, not "default"
    cfg.backend = cfg.backend or default_backend()
    log_path = None if cfg.verbose else run_dir(cfg) / "engine.log"
    if log_path is not None:
        print(f"engine output: {log_path} (--verbose shows it here)", file=sys.stderr)

    try:
        with engine_output_to(log_path):
            report = run_experiment(cfg, problems)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if log_path is not None:
            print(f"the engines' own output is in {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: finished problems are saved; rerun the same command to resume", file=sys.stderr)
        return 130
    done = report.skipped + len(report.written)
    line = f"{cfg.method}: {done}/{report.total} results in {report.output_dir}"
    if report.skipped:
        line += f" ({report.skipped} already done, skipped)"
    if report.steps:
        line += f"; steps {report.steps}, rewritten {report.rewrites} ({report.rewrites / report.steps:.0%})"
    print(line + f"; {report.seconds:.1f}s")
    return 0


def _validate(parser: argparse.ArgumentParser, cfg: RunConfig) -> None:
    checks = [
        (cfg.repeat_id >= 1, "--repeat_id must be >= 1"),
        (cfg.num_paths >= 1, "--num_paths must be >= 1"),
        (cfg.method_num >= 1, "--method_num must be >= 1"),
        (cfg.token_budget >= 1, "--token_budget must be >= 1"),
        (cfg.max_step_tokens >= 1, "--max_step_tokens must be >= 1"),
        (cfg.max_concurrent_problems >= 1, "--max_concurrent_problems must be >= 1"),
        (0.0 <= cfg.score_threshold <= 10.0, "--score_threshold must be within 0..10"),
        (cfg.temperature >= 0.0, "--temperature must be >= 0"),
        (0.0 < cfg.top_p <= 1.0, "--top_p must be in (0, 1]"),
    ]
    for ok, message in checks:
        if not ok:
            parser.error(message)
