"""Runs one experiment: every (problem, repeat) of a config, batched, resumable.

The scheduler keeps up to ``max_concurrent_problems`` problem coroutines
(``ssr.reasoning``) alive and serves their requests phase by phase: all
pending draft generations in one draft call, all scorings in one target
call, all target generations (SPM selections, rewrites, full paths) in one
target call.  A problem whose next request is of another kind waits for its
phase, so problems stay aligned and every call is as large as it can be.

Each finished problem is written at once, atomically; a rerun skips files
that are complete, so a killed run resumes where it stopped. It skips them
only if they were made with this run's settings (``ssr.config.identity``):
a folder holding records of other settings is refused, never mixed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ssr.config import RunConfig, identity_differences, run_tag
from ssr.engines.base import Engine, GenerationResult, ScoreResult
from ssr.methods import method
from ssr.reasoning import ProblemOutcome, Reasoner, Request, generation_prompt
from ssr.records import Record, Selection, Timing, Usage, is_complete, read_record, result_filename, write_record

# Order in which the phases are served within a round.
PHASES: tuple[tuple[str, str], ...] = (("draft", "generate"), ("target", "score"), ("target", "generate"))


def run_dir(cfg: RunConfig) -> Path:
    """<output_dir>/<method>/<dataset>/<tag>: the tag names the main settings and hashes the rest."""
    return Path(cfg.output_dir) / cfg.method / cfg.dataset_name / run_tag(cfg)


def _usage_block() -> dict[str, Any]:
    # sequential_forward_passes: the model's forward passes on this problem's critical path. One request
    # of a problem is served in one batched call, so it costs the longest of its generations (one pass
    # per token) or one pass for a scoring batch. On a GPU a pass at small batch costs about the same
    # whatever it carries, so this count is a model-free proxy of latency that FLOPs miss.
    return {"calls": 0, "prompt_tokens": 0, "cached_prompt_tokens": 0, "generated_tokens": 0, "cache_reported": False,
            "sequential_forward_passes": 0}


@dataclass
class Job:
    problem: Any  # ssr.datasets.Problem
    repeat: int
    path: Path
    coroutine: Any = None
    pending: Request | None = None
    started: float = 0.0
    started_at: str = ""
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.problem.dataset, self.problem.id, self.repeat)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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


class Scheduler:
    """Serves the requests of many problem coroutines with batched engine calls."""

    def __init__(
        self,
        cfg: RunConfig,
        engines: dict[str, Engine | None],
        reasoner: Reasoner,
        on_done: Callable[[Job, ProblemOutcome], None],
    ):
        self.cfg = cfg
        self.engines = engines
        self.reasoner = reasoner
        self.on_done = on_done
        self.engine_seconds: dict[str, float] = {}

    def _start(self, job: Job) -> None:
        job.started = time.perf_counter()
        job.started_at = _now()
        job.usage = {
            "target": _usage_block()
            | {"scoring_calls": 0, "scoring_prompt_tokens": 0, "scoring_cached_prompt_tokens": 0, "scoring_ties": 0}
        }
        if self.engines.get("draft") is not None:
            job.usage["draft"] = _usage_block()
        job.coroutine = self.reasoner.coroutine(job.problem.problem, job.key)
        self._advance(job, None)

    def _advance(self, job: Job, results: list | None) -> None:
        try:
            job.pending = job.coroutine.send(results) if results is not None else next(job.coroutine)
        except StopIteration as stop:
            job.pending = None
            self.on_done(job, stop.value)

    def _account(
        self, job: Job, req: Request, results: Sequence[GenerationResult | ScoreResult], seconds: float
    ) -> None:
        job.phase_seconds[req.phase] = job.phase_seconds.get(req.phase, 0.0) + seconds
        u = job.usage[req.model]
        if results:
            u["sequential_forward_passes"] += (
                1 if req.kind == "score" else max(max(r.completion_tokens, 1) for r in results)
            )  # type: ignore[union-attr]
        for r in results:
            cached = r.cached_prompt_tokens
            if cached is not None:
                u["cache_reported"] = True
            if isinstance(r, ScoreResult):
                u["scoring_calls"] += 1
                u["scoring_prompt_tokens"] += r.prompt_tokens
                u["scoring_cached_prompt_tokens"] += cached or 0
                u["scoring_ties"] += int(r.tied)
            else:
                u["calls"] += 1
                u["prompt_tokens"] += r.prompt_tokens
                u["cached_prompt_tokens"] += cached or 0
                u["generated_tokens"] += r.completion_tokens

    def serve(self, jobs: list[Job], model: str, kind: str) -> None:
        """One engine call for every pending request of (model, kind)."""
        batch = [j for j in jobs if j.pending is not None and j.pending.model == model and j.pending.kind == kind]
        if not batch:
            return
        prompts = [p for j in batch for p in j.pending.prompts]
        results: list = []
        seconds = 0.0
        if prompts:
            engine = self.engines[model]
            if engine is None:
                raise RuntimeError(f"method {self.cfg.method!r} asked for the {model} model, which was not loaded")
            t0 = time.perf_counter()
            sessions = [s for j in batch for s in j.pending.sessions] or None
            if kind == "generate":
                results = engine.generate(prompts, [p for j in batch for p in j.pending.params], sessions)
            else:
                results = engine.score_digits(prompts, sessions)
            seconds = time.perf_counter() - t0
            phase_key = f"{model}.{kind}"
            self.engine_seconds[phase_key] = self.engine_seconds.get(phase_key, 0.0) + seconds
        offset = 0
        for job in batch:
            req = job.pending
            mine = results[offset : offset + len(req.prompts)]
            offset += len(req.prompts)
            if req.prompts:
                self._account(job, req, mine, seconds)
            self._advance(job, mine)

    def run(self, todo: Sequence[Job], progress: Callable[[int, int], None] | None = None) -> None:
        waiting = deque(todo)
        active: list[Job] = []
        limit = max(1, self.cfg.max_concurrent_problems)

        def refill() -> None:
            while waiting and len(active) < limit:
                job = waiting.popleft()
                self._start(job)
                if job.pending is not None:
                    active.append(job)

        while waiting or active:
            refill()
            for model, kind in PHASES:
                self.serve(active, model, kind)
                active[:] = [j for j in active if j.pending is not None]
                refill()  # between phases, so a freed slot is used in this round
            if progress:
                progress(len(active), sum(len(j.pending.prompts) for j in active if j.pending))


def build_record(cfg: RunConfig, job: Job, outcome: ProblemOutcome, models_info: dict) -> Record:
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
        timing=Timing(time.perf_counter() - job.started, job.phase_seconds, job.started_at, _now()),
        models=models_info,
        config=cfg.to_dict(),
    )


class SettingsMismatch(Exception):
    """Complete records in the run folder were made with other settings: resuming would mix two runs."""


def plan_jobs(cfg: RunConfig, problems: Sequence[Any]) -> tuple[list[Job], int]:
    """Jobs still to run, and how many were skipped as already complete.

    A complete record is kept only if its recorded settings are this run's (``ssr.config.identity``);
    otherwise nothing runs and ``SettingsMismatch`` names the settings that differ.
    """
    out = run_dir(cfg)
    todo, skipped = [], 0
    differing: dict[str, tuple[Any, Any]] = {}
    mismatched = 0
    for prob in problems:
        for r in range(cfg.repeat_id):
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


def run_experiment(
    cfg: RunConfig,
    problems: Sequence[Any],
    engines: dict[str, Engine | None] | None = None,
    equal: Callable[[str, str], bool] | None = None,
) -> RunSummary:
    """Run every (problem, repeat) of ``cfg`` that is not done yet; engines are built if not given.

    A finished text's answer is ``extraction.extract_answer`` (fallbacks allowed); a step ends its path
    only on ``extraction.boxed_answer``; answers are compared with ``equal`` (default: the grader's).
    """
    from ssr import extraction, grading

    equal = equal or grading.is_equivalent
    t0 = time.perf_counter()
    todo, skipped = plan_jobs(cfg, problems)
    total = len(todo) + skipped
    out_dir = run_dir(cfg)
    if not todo:
        return RunSummary(total, skipped, [], out_dir, 0.0, {})
    owned = engines is None
    if engines is None:
        from ssr.engines import build_engines

        target, draft = build_engines(cfg, need_draft=method(cfg.method).needs_draft)
        engines = {"target": target, "draft": draft}
    try:
        target = engines["target"]
        assert target is not None
        models_info = {name: (dataclasses.asdict(e.info()) if e is not None else None) for name, e in engines.items()}
        reasoner = Reasoner(cfg, generation_prompt(target), equal, extraction.extract_answer, extraction.boxed_answer)
        written: list[Path] = []
        counters = {"steps": 0, "rewrites": 0, "tokens": 0}
        bar = _progress_bar(cfg, total, skipped)

        def on_done(job: Job, outcome: ProblemOutcome) -> None:
            record = build_record(cfg, job, outcome, models_info)
            write_record(job.path, record)
            written.append(job.path)
            counters["steps"] += record.stats.steps
            counters["rewrites"] += record.stats.rewrites
            counters["tokens"] += sum(record.generated_tokens(role) for role in record.usage)
            if bar is not None:
                bar.update(1)

        def progress(active: int, prompts: int) -> None:
            if bar is None:
                return
            elapsed = max(time.perf_counter() - t0, 1e-9)
            post = {"active": active, "paths": prompts, "tok/s": f"{counters['tokens'] / elapsed:.1f}"}
            if counters["steps"]:
                post["accept"] = f"{1 - counters['rewrites'] / counters['steps']:.2f}"
            bar.set_postfix(post, refresh=False)

        sched = Scheduler(cfg, engines, reasoner, on_done)
        try:
            sched.run(todo, progress)
        finally:
            if bar is not None:
                bar.close()
        return RunSummary(
            total,
            skipped,
            written,
            out_dir,
            time.perf_counter() - t0,
            sched.engine_seconds,
            counters["steps"],
            counters["rewrites"],
        )
    finally:
        if owned:
            for e in engines.values():
                if e is not None:
                    e.close()


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
