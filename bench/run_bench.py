#!/usr/bin/env python
"""Benchmark SSR against its baselines on the same problems, models and seeds.

Runs, with one pair of engines loaded once, six arms: the baseline (target
alone), Parallel (N target paths), spec-reason (one path with step-level
speculative decoding), SSR (SPM + SSD on n paths) and SSR-Fast-1/2; each twice:
batched across problems (accuracy with repeats, throughput) and one problem at
a time (latency, the paper's setting). Every arm starts on cold prefix caches.
Writes ``report.md``, ``report.json`` and ``report.png`` to ``--out``.

    python bench/run_bench.py --preset cpu-demo --levels 1,2 --limit 20 --out bench/results/cpu-demo
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssr.command_line import add_run_args, config_from_args  # noqa: E402
from ssr.config import RunConfig  # noqa: E402
from bench.async_arms import ASYNC_ARMS, is_async, lockstep_of  # noqa: E402
from ssr.methods import is_speculative  # noqa: E402


def pick_problems(cfg: RunConfig, levels: str | None, limit: int | None) -> list:
    from ssr.datasets import load_problems, select_problems

    if cfg.problem_id != "all" or not levels:
        problems = select_problems(cfg.dataset_name, cfg.problem_id, cfg.data_dir)
    else:
        problems = load_problems(cfg.dataset_name, cfg.data_dir)
    if levels:
        wanted = {int(x) for x in levels.split(",")}
        problems = [p for p in problems if p.meta.get("level") in wanted]
    return problems[:limit] if limit else problems


LOCKSTEP_ARMS = ("baseline", "parallel", "spec-reason", "ssr", "ssr-fast1", "ssr-fast2")
ARMS = LOCKSTEP_ARMS + ASYNC_ARMS
MODES = ("batched", "sequential")


def method_configs(base: RunConfig, out: Path, n: int) -> dict[str, RunConfig]:
    """Every arm's configuration; an async arm is its lock-step arm under ``--schedule async`` (pre-drafting on)."""

    def make(method: str, **kw: Any) -> RunConfig:
        return dataclasses.replace(base, method=method, output_dir=str(out / "runs"), schedule="lockstep", **kw)

    lockstep = {
        "baseline": make("base"),
        "parallel": make("parallel", num_paths=n, use_role_prompts=False, use_method_prompts=False),
        "spec-reason": make("spec", num_paths=1, use_role_prompts=False),
        "ssr": make("ssr", method_num=n, fast=0),
        "ssr-fast1": make("ssr", method_num=n, fast=1),
        "ssr-fast2": make("ssr", method_num=n, fast=2),
    }
    asynchronous = {
        name: dataclasses.replace(lockstep[lockstep_of(name)], schedule="async", predraft=True) for name in ASYNC_ARMS
    }
    return lockstep | asynchronous


def pick_arms(text: str | None, backend: str | None) -> list[str]:
    """The arms ``--arms`` names, in the benchmark's order; by default all of them (the lock-step ones alone
    on the transformers backend, which runs one model at a time). ValueError says what is wrong."""
    if text is None:
        return [a for a in ARMS if backend != "hf" or not is_async(a)]
    names = [a.strip() for a in text.split(",") if a.strip()]
    unknown = sorted(set(names) - set(ARMS))
    if unknown or "baseline" not in names:
        raise ValueError(f"--arms must include baseline and name only {', '.join(ARMS)} (got {', '.join(unknown)})")
    return [a for a in ARMS if a in names]


def run_arms(
    cfg: RunConfig,
    configs: dict[str, RunConfig],
    todo: dict[str, list],
    out: Path,
    arms: dict[str, dict[str, Any]],
    folders: dict[str, dict[str, Path]],
) -> float:
    """Load one pair of engines for ``cfg``'s schedule, run ``configs`` in both modes on cold caches, close
    the engines; returns the seconds the engines took to load."""
    from ssr.methods import method as method_of
    from ssr.plan import build_engines
    from ssr.runner import run_dir, run_experiment

    t_load = time.perf_counter()
    target, draft = build_engines(cfg, need_draft=any(method_of(c.method).needs_draft for c in configs.values()))
    load_seconds = time.perf_counter() - t_load
    engines = {"target": target, "draft": draft}
    try:
        for mode in MODES:
            for name, c in configs.items():
                c = dataclasses.replace(
                    c,
                    output_dir=str(out / f"runs-{mode}"),
                    max_concurrent_problems=cfg.max_concurrent_problems if mode == "batched" else 1,
                    repeat_id=cfg.repeat_id if mode == "batched" else 1,
                )
                eng = engines if method_of(c.method).needs_draft else {"target": target, "draft": None}
                for e in eng.values():
                    if e is not None:
                        e.reset_cache()  # every arm starts cold: no prompt prefix left over from another arm
                print(f"[bench] {mode} {name}: {len(todo[mode])} problems x {c.repeat_id} repeat(s)", flush=True)
                rep = run_experiment(c, todo[mode], eng)
                done = len(rep.written)
                arms[mode][name] = {
                    "problems": len(todo[mode]),
                    "repeats": c.repeat_id,
                    "seconds": rep.seconds,
                    "written": done,
                    "skipped": rep.skipped,
                    "engine_seconds": rep.engine_seconds,
                    "records_per_hour": 3600 * done / rep.seconds if rep.seconds and done else None,
                }
                folders[mode][name] = run_dir(c)
    finally:
        target.close()
        if draft is not None:
            draft.close()
    return load_seconds


def machine() -> dict[str, Any]:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        import vllm

        info["vllm"] = vllm.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            info["mem_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser, RunConfig(dataset_name="math", problem_id="all", num_paths=3, method_num=3))
    parser.add_argument("--levels", default=None, help="MATH-500 difficulty levels to keep, e.g. 1,2")
    parser.add_argument("--limit", type=int, default=None, help="first N problems after filtering")
    parser.add_argument("--sequential_limit", type=int, default=None,
                        help="problems for the one-problem-at-a-time latency arms (default: all), first repeat only")
    parser.add_argument(
        "--arms",
        default=None,
        help=f"comma-separated subset of {','.join(ARMS)} (baseline is required; default: all, the lock-step ones "
        "alone on --backend hf). The *-async arms are the speculative arms under --schedule async, on their own "
        "engines, each pinned to its own cores (--target_cpus / --draft_cpus), loaded after the lock-step ones close",
    )
    parser.add_argument("--out", default="bench/results/run")
    parser.add_argument(
        "--compare_to", default=None, metavar="REPORT_JSON", help="an earlier report.json to compare scoring costs with"
    )
    parser.add_argument(
        "--rerender",
        default=None,
        metavar="OUT_DIR",
        help="run nothing: recompute the derived statistics of OUT_DIR/report.json from its run folders "
        "and rewrite its report.md and report.png",
    )
    argv = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(argv)
    if args.rerender:
        return rerender(Path(args.rerender), args.compare_to)
    # the bench's own options (--levels, --limit, ...) are not RunConfig fields and are left out here
    cfg = config_from_args("ssr", parser, argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        names = pick_arms(args.arms, cfg.backend)
    except ValueError as exc:
        parser.error(str(exc))
    problems = pick_problems(cfg, args.levels, args.limit)
    if not problems:
        print("error: no problems selected", file=sys.stderr)
        return 2

    from ssr.analysis.evaluate import Options, evaluate

    configs = {k: v for k, v in method_configs(cfg, out, cfg.method_num).items() if k in names}
    seq_problems = problems[: args.sequential_limit] if args.sequential_limit else problems
    todo = {"batched": problems, "sequential": seq_problems}
    arms: dict[str, dict[str, Any]] = {m: {} for m in MODES}
    folders: dict[str, dict[str, Path]] = {m: {} for m in MODES}
    load_seconds: dict[str, float] = {}
    # the lock-step engines (both cores each, taking turns), closed before the async ones (each on its own cores)
    # load: never two unpinned engines working at once
    for schedule in ("lockstep", "async"):
        mine = {k: v for k, v in configs.items() if v.schedule == schedule}
        if mine:
            engine_cfg = dataclasses.replace(cfg, schedule=schedule)
            load_seconds[schedule] = run_arms(engine_cfg, mine, todo, out, arms, folders)
    # each mode's arms in the benchmark's order (the async ones ran after every lock-step one)
    arms = {m: {k: arms[m][k] for k in names if k in arms[m]} for m in MODES}
    folders = {m: {k: folders[m][k] for k in names if k in folders[m]} for m in MODES}

    def ev(mode: str) -> dict[str, Any]:
        f = folders[mode]
        result = evaluate([str(x) for x in f.values()], Options(ks=[1], baseline_dir=str(f["baseline"])))
        for line in [f"skipped {s.path}: {s.reason}" for s in result.skipped] + result.notes:
            print(f"[eval] {line}", file=sys.stderr)
        payload = result.payload()
        by_dir = {r["run_dir"]: r for r in payload["runs"]}
        payload["by_arm"] = {name: by_dir.get(str(d)) for name, d in f.items()}
        return payload

    evaluation = {mode: ev(mode) for mode in MODES}
    report = {
        "command": "python " + " ".join(shlex.quote(a) for a in ["bench/run_bench.py", *argv]),
        "machine": machine(),
        "config": cfg.to_dict(),
        "problems": [{"dataset": p.dataset, "id": p.id, "level": p.meta.get("level")} for p in problems],
        "sequential_problems": len(seq_problems),
        "engine_load_seconds": sum(load_seconds.values()),
        "engine_load_seconds_by_schedule": load_seconds,
        "arms": arms,
        "evaluation": evaluation,
    }
    return finish(out, report, folders, args.compare_to)


def finish(out: Path, report: dict[str, Any], folders: dict[str, dict[str, Path]], compare_to: str | None) -> int:
    """Add the statistics derived from the run folders, then write report.json, report.png and report.md."""
    from bench.async_arms import equality, schedule_stats
    from bench.bounds import analyse, arm_records, async_bounds, phase_share, prefix_cache, unit_costs
    from bench.markdown import write_markdown, write_plot

    records = {name: arm_records(f) for name, f in folders["sequential"].items()}
    seq = {name: unit_costs(recs) for name, recs in records.items()}
    speculative = [name for name, recs in records.items() if recs and is_speculative(recs[0].method)]
    report["phase_share"] = {name: phase_share(seq[name]) for name in speculative}
    report["prefix_cache"] = {name: prefix_cache(seq[name]) for name in speculative}
    report["bounds"] = analyse(seq, folders["batched"], report["arms"], report["config"]["target_model"])
    # the schedules: busy, overlap and pre-draft numbers of every arm with timelines, async vs lock-step records
    report["schedule"] = {
        mode: {name: stats for name, f in by_arm.items() if (stats := schedule_stats(f)) is not None}
        for mode, by_arm in folders.items()
    }
    report["equality"] = equality(folders)
    report["bounds"]["async"] = async_bounds(records, report["schedule"], report["arms"])
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    write_plot(report, out / "report.png")
    previous = json.loads(Path(compare_to).read_text()) if compare_to else None
    (out / "report.md").write_text(write_markdown(report, previous))
    print((out / "report.md").read_text())
    return 0


def rerender(out: Path, compare_to: str | None) -> int:
    """Recompute a finished benchmark's derived statistics from its run folders (after a change to the analysis)."""
    path = out / "report.json"
    if not path.is_file():
        print(f"error: {path} not found: --rerender takes the --out folder of a finished benchmark", file=sys.stderr)
        return 2
    from bench.markdown import is_per_arm

    report = json.loads(path.read_text())
    if not is_per_arm(report):
        print(
            f"error: {path} is in the report format before the per-arm benchmark (no 'arms', as bench/results/cpu-demo "
            "and cpu-demo-continuation): --rerender reads only per-arm reports; its records stay readable",
            file=sys.stderr,
        )
        return 2
    folders: dict[str, dict[str, Path]] = {}
    for mode in MODES:
        by_arm = (report.get("evaluation", {}).get(mode) or {}).get("by_arm") or {}
        folders[mode] = {}
        for name, ev in by_arm.items():
            d = Path(ev["run_dir"])
            d = d if d.is_absolute() or d.is_dir() else REPO / d
            if not d.is_dir():
                print(f"error: the run folder of {mode} {name} is gone: {d}", file=sys.stderr)
                return 2
            folders[mode][name] = d
    return finish(out, report, folders, compare_to)


if __name__ == "__main__":
    sys.exit(main())
