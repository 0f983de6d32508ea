"""Runs one experiment: every (problem, repeat) of a config, batched, resumable, shardable.

``ssr.scheduler`` serves the problems' requests with batched engine calls; this
module decides what to run and writes what comes out.

Each finished problem is written at once, atomically; a rerun skips files
that are complete, so a killed run resumes where it stopped. It skips them
only if they were made with this run's settings (``ssr.config.identity``):
a folder holding records of other settings is refused, never mixed.

A problem whose engine request fails (``EngineError``) costs only itself: it gets
no result file (a rerun retries it) and is named in the run summary. An engine
gone for good (``EngineGone``) stops the run; finished files stay.

``--shard K/N`` runs the K-th of N disjoint shares of the (problem, repeat)s, so N
jobs can write into one folder; each writes its own run summary
(``run_summary.shard-K-of-N.json``, else ``run_summary.json``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ssr.config import RunConfig, identity_differences, parse_shard, run_tag
from ssr.engines.base import Engine, EngineError
from ssr.methods import method
from ssr.reasoning import ProblemOutcome, Reasoner, generation_prompt
from ssr.records import (
    Record,
    Selection,
    Timing,
    Usage,
    atomic_write_json,
    is_complete,
    read_record,
    result_filename,
    write_record,
)
from ssr.scheduler import PHASES, CacheTally, Job, Scheduler, now_utc, prefix_cache_warning

__all__ = [
    "PHASES",
    "Failure",
    "Job",
    "RunSummary",
    "Scheduler",
    "SettingsMismatch",
    "build_record",
    "plan_jobs",
    "prefix_cache_warning",
    "run_dir",
    "run_experiment",
    "shard_share",
    "summary_path",
]


def run_dir(cfg: RunConfig) -> Path:
    """<output_dir>/<method>/<dataset>/<tag>: the tag names the main settings and hashes the rest."""
    return Path(cfg.output_dir) / cfg.method / cfg.dataset_name / run_tag(cfg)


def summary_path(cfg: RunConfig) -> Path:
    """The run summary's file: one per shard, so jobs sharing a folder never overwrite each other's."""
    shard = parse_shard(cfg.shard)
    name = f"run_summary.shard-{shard[0]}-of-{shard[1]}.json" if shard else "run_summary.json"
    return run_dir(cfg) / name


def _id_order(problem_id: Any) -> tuple:
    return (0, problem_id, "") if isinstance(problem_id, int) else (1, 0, str(problem_id))


def shard_share(items: Iterable[tuple[Any, int]], shard: str | None) -> list[tuple[Any, int]]:
    """The (problem, repeat)s of shard ``K/N``, in the order given; all of them when ``shard`` is None.

    Sorted by (dataset, problem id, repeat), the i-th item goes to shard ``i mod N + 1``. Dealt round-robin,
    the shares differ by at most one item and each mixes every part of the id range (a Slurm array's jobs
    end together), where a hash of the ids would leave small runs lopsided. The price: the shares depend on
    the selection, so every job of one run is given the same --problem_id and --repeat_id (a job given
    another selection could redo another's items; records are written atomically, so that costs time, not
    results). The union over K = 1..N is every item; no item is in two shares.
    """
    items = list(items)
    parsed = parse_shard(shard)
    if parsed is None:
        return items
    k, n = parsed
    order = sorted(range(len(items)), key=lambda i: (str(items[i][0].dataset), _id_order(items[i][0].id), items[i][1]))
    mine = {i for rank, i in enumerate(order) if rank % n == k - 1}
    return [item for i, item in enumerate(items) if i in mine]


@dataclass
class Failure:
    """A (problem, repeat) whose engine request failed on its own: no result file, a rerun retries it."""

    dataset: str
    problem_id: Any
    repeat: int
    message: str

    def line(self) -> str:
        return f"failed: problem {self.problem_id} repeat {self.repeat}: {self.message}"


@dataclass
class RunSummary:
    total: int
    skipped: int
    written: list[Path]
    output_dir: Path
    seconds: float
    engine_seconds: dict[str, float]
    steps: int = 0
    rewrites: int = 0
    failed: list[Failure] = field(default_factory=list)
    summary_file: Path | None = None


def build_record(
    cfg: RunConfig, job: Job, outcome: ProblemOutcome, models_info: dict, plan: dict | None = None
) -> Record:
    return Record(
        method=cfg.method,
        dataset=job.problem.dataset,
        problem_id=job.problem.id,
        repeat=job.repeat,
        problem=job.problem.problem,
        gold_answer=job.problem.answer,
        final_answer=outcome.decision.answer,
        answer_reason=outcome.decision.reason,
        votes=outcome.decision.votes,
        selection=Selection(**outcome.selection.to_dict()) if outcome.selection else None,
        paths=[p.to_record() for p in outcome.paths],
        usage={role: Usage(**u) for role, u in job.usage.items()},
        timing=Timing(time.perf_counter() - job.started, job.phase_seconds, job.started_at, now_utc()),
        models=models_info,
        config=cfg.to_dict(),
        plan=plan,
        schedule=job.schedule,
    )


class SettingsMismatch(Exception):
    """Complete records in the run folder were made with other settings: resuming would mix two runs."""


def plan_jobs(cfg: RunConfig, problems: Sequence[Any]) -> tuple[list[Job], int]:
    """Jobs still to run (of this run's shard), and how many were skipped as already complete.

    A complete record is kept only if its recorded settings are this run's (``ssr.config.identity``);
    otherwise nothing runs and ``SettingsMismatch`` names the settings that differ.
    """
    out = run_dir(cfg)
    todo, skipped = [], 0
    differing: dict[str, tuple[Any, Any]] = {}
    mismatched = 0
    for prob, r in shard_share(((p, r) for p in problems for r in range(cfg.repeat_id)), cfg.shard):
        path = out / result_filename(prob.id, r)
        if not cfg.overwrite and is_complete(path):
            diff = identity_differences(cfg, read_record(path).config)
            if diff:
                mismatched += 1
                differing = {**diff, **differing}
            skipped += 1
            continue
        todo.append(Job(prob, r, path))
    if differing:
        what = ", ".join(f"--{k} (recorded {then!r}, now {now!r})" for k, (then, now) in sorted(differing.items()))
        raise SettingsMismatch(
            f"{mismatched} complete record(s) in {out} were made with other settings: {what}. Rerun with the recorded "
            "settings, choose another --output_dir, or pass --overwrite to redo them"
        )
    return todo, skipped


def _share(cached: int, prompt: int) -> float | None:
    return round(cached / prompt, 4) if prompt else None


def _summary_json(
    cfg: RunConfig, plan: dict | None, summary: RunSummary, started_at: str, later: CacheTally, warned: bool,
    usage: dict[str, Any], stopped: str | None,
) -> dict[str, Any]:
    return {
        "started_at": started_at,
        "finished_at": now_utc(),
        "stopped": stopped,  # why the run stopped before its end (the engine gone, interrupted); None: it ran through
        "shard": cfg.shard,
        "counts": {
            "total": summary.total,
            "skipped": summary.skipped,
            "written": len(summary.written),
            "failed": len(summary.failed),
        },
        "failed": [dataclasses.asdict(f) for f in summary.failed],
        "seconds": round(summary.seconds, 3),
        "engine_seconds": {k: round(v, 3) for k, v in summary.engine_seconds.items()},
        "steps": summary.steps,
        "rewrites": summary.rewrites,
        # the target's scoring passes served from the prefix cache: all of them, and those after each path's
        # first step (what the cache should serve); shares are None when the engine does not report caching
        "prefix_cache": {
            "reported": usage["reported"],
            "scoring_prompt_tokens": usage["prompt"],
            "scoring_cached_prompt_tokens": usage["cached"],
            "scoring_share": _share(usage["cached"], usage["prompt"]) if usage["reported"] else None,
            "later_passes": later.passes,
            "later_prompt_tokens": later.prompt_tokens,
            "later_cached_prompt_tokens": later.cached_prompt_tokens,
            "later_share": _share(later.cached_prompt_tokens, later.prompt_tokens) if later.reported else None,
            "warned": warned,
        },
        "config": cfg.to_dict(),
        "plan": plan,
    }


def run_experiment(
    cfg: RunConfig,
    problems: Sequence[Any],
    engines: dict[str, Engine | None] | None = None,
    equal: Callable[[str, str], bool] | None = None,
    plan: Any = None,
) -> RunSummary:
    """Run every (problem, repeat) of ``cfg`` (of its ``--shard``) that is not done yet; engines are built if not
    given, from ``plan`` (``ssr.plan``) when one is given; its ``to_dict()`` goes into every record.

    A path's answer is read from its text by ``--answer_rule`` (``extraction.path_answer_function``: the
    last box or box group, or with the textual fallbacks); a step ends its path only on
    ``extraction.boxed_answer``; answers are compared with ``equal`` (default: the grader's).
    The run summary is written to ``summary_path(cfg)`` at the end, and also when the run stops early.
    """
    from ssr import extraction, grading

    equal = equal or grading.is_equivalent
    t0 = time.perf_counter()
    started_at = now_utc()
    plan_dict = plan.to_dict() if plan is not None else None
    todo, skipped = plan_jobs(cfg, problems)
    summary = RunSummary(len(todo) + skipped, skipped, [], run_dir(cfg), 0.0, {}, summary_file=summary_path(cfg))
    usage = {"reported": False, "prompt": 0, "cached": 0}
    sched: Scheduler | None = None

    def write_summary(stopped: str | None) -> None:
        summary.seconds = time.perf_counter() - t0
        later, warned = (sched.later_scoring, sched.cache_warned) if sched else (CacheTally(), False)
        if sched is not None:
            summary.engine_seconds = sched.engine_seconds
        atomic_write_json(
            summary.summary_file, _summary_json(cfg, plan_dict, summary, started_at, later, warned, usage, stopped)
        )

    if not todo:
        write_summary(None)
        return summary
    owned = engines is None
    try:
        if engines is None:
            from ssr.plan import build_engines

            # the plan is handed on only when there is one, so build_engines' older callers' form still serves
            extra = {"plan": plan} if plan is not None else {}
            target, draft = build_engines(cfg, need_draft=method(cfg.method).needs_draft, **extra)
            engines = {"target": target, "draft": draft}
        target = engines["target"]
        assert target is not None
        models_info = {name: (dataclasses.asdict(e.info()) if e is not None else None) for name, e in engines.items()}
        extract = extraction.path_answer_function(cfg.answer_rule)
        reasoner = Reasoner(cfg, generation_prompt(target), equal, extract, extraction.boxed_answer)
        counters = {"tokens": 0}
        bar = _progress_bar(cfg, summary.total, skipped)

        def say(line: str) -> None:
            from ssr.logs import terminal

            if bar is not None:
                bar.write(line, file=terminal())
            else:
                print(line, file=terminal(), flush=True)

        def on_done(job: Job, outcome: ProblemOutcome) -> None:
            record = build_record(cfg, job, outcome, models_info, plan_dict)
            write_record(job.path, record)
            summary.written.append(job.path)
            summary.steps += record.stats.steps
            summary.rewrites += record.stats.rewrites
            counters["tokens"] += sum(record.generated_tokens(role) for role in record.usage)
            t = job.usage["target"]
            usage["reported"] = usage["reported"] or bool(t["cache_reported"])
            usage["prompt"] += t["scoring_prompt_tokens"]
            usage["cached"] += t["scoring_cached_prompt_tokens"]
            if bar is not None:
                bar.update(1)

        def on_fail(job: Job, error: EngineError) -> None:
            failure = Failure(job.problem.dataset, job.problem.id, job.repeat, str(error) or type(error).__name__)
            summary.failed.append(failure)
            say(failure.line() + " (no result file; a rerun retries it)")

        def progress(active: int, prompts: int) -> None:
            if bar is None:
                return
            elapsed = max(time.perf_counter() - t0, 1e-9)
            post = {"active": active, "paths": prompts, "tok/s": f"{counters['tokens'] / elapsed:.1f}"}
            if summary.steps:
                post["accept"] = f"{1 - summary.rewrites / summary.steps:.2f}"
            if summary.failed:
                post["failed"] = len(summary.failed)
            bar.set_postfix(post, refresh=False)

        if cfg.schedule == "async":
            from ssr.async_schedule import AsyncScheduler

            sched = AsyncScheduler(cfg, engines, reasoner, on_done, on_fail=on_fail, warn=say)
        else:
            sched = Scheduler(cfg, engines, reasoner, on_done, on_fail=on_fail, warn=say)
        try:
            sched.run(todo, progress)
        except BaseException as exc:  # the engine gone, an interrupt: say so beside the files written so far
            write_summary(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if bar is not None:
                bar.close()
    finally:
        if owned and engines is not None:
            for e in engines.values():
                if e is not None:
                    e.close()
    write_summary(None)
    return summary


def _progress_bar(cfg: RunConfig, total: int, done: int):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    from ssr.logs import terminal

    return tqdm(
        total=total,
        initial=done,
        desc=f"{cfg.method}:{cfg.dataset_name}",
        unit="problem",
        file=terminal(),
        dynamic_ncols=True,
    )
