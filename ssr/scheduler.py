"""Serves the requests of many problem coroutines with batched engine calls.

The scheduler keeps up to ``max_concurrent_problems`` problem coroutines
(``ssr.reasoning``) alive and serves their requests phase by phase: all
pending draft generations in one draft call, all scorings in one target
call, all target generations (SPM selections, rewrites, full paths) in one
target call.  A problem whose next request is of another kind waits for its
phase, so problems stay aligned and every call is as large as it can be.

One failure costs one problem: when a batched call raises ``EngineError``, its
requests are retried one problem at a time; a problem whose own call still fails
is dropped (its coroutine closed, ``on_fail`` told), every other one goes on with
its retried results. ``EngineGone`` (no retry can help) propagates: the run stops.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ssr import timeline
from ssr.config import RunConfig
from ssr.engines.base import Engine, EngineError, EngineGone, GenerationResult, ScoreResult
from ssr.reasoning import ProblemOutcome, Reasoner, Request

# Order in which the phases are served within a round.
PHASES: tuple[tuple[str, str], ...] = (("draft", "generate"), ("target", "score"), ("target", "generate"))

# The prefix-cache rule (``prefix_cache_warning``): scoring passes after a path's first step should be served
# mostly from the cache. Judged only after enough passes, and only when the tokens re-prefilled per pass are
# more than a step and the judging note: on short paths a low share costs nothing and says nothing.
CACHE_MIN_SHARE = 0.8
CACHE_MIN_PASSES = 32
CACHE_MIN_UNCACHED_PER_PASS = 256


def usage_block() -> dict[str, Any]:
    # sequential_forward_passes: the model's forward passes on this problem's critical path. One request
    # of a problem is served in one batched call, so it costs the longest of its generations (one pass
    # per token) or one pass for a scoring batch. On a GPU a pass at small batch costs about the same
    # whatever it carries, so this count is a model-free proxy of latency that FLOPs miss.
    return {"calls": 0, "prompt_tokens": 0, "cached_prompt_tokens": 0, "generated_tokens": 0, "cache_reported": False,
            "sequential_forward_passes": 0}


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Job:
    problem: Any  # ssr.datasets.Problem
    repeat: int
    path: Path
    coroutine: Any = None
    pending: Request | None = None
    started: float = 0.0
    started_unix: float = 0.0
    started_at: str = ""
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    scored_paths: set = field(default_factory=set)  # session keys of the paths scored at least once
    events: list[timeline.Event] = field(default_factory=list)  # its requests, for the record's timeline
    schedule: dict[str, Any] | None = None  # the record's schedule block, set when the problem is done

    @property
    def key(self) -> tuple:
        return (self.problem.dataset, self.problem.id, self.repeat)


@dataclass
class CacheTally:
    """The target's scoring passes after each path's first step, summed over the run."""

    passes: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    reported: bool = False  # whether the engine reports prefix-cache hits at all


def prefix_cache_warning(
    tally: CacheTally,
    *,
    min_share: float = CACHE_MIN_SHARE,
    min_passes: int = CACHE_MIN_PASSES,
    min_uncached_per_pass: float = CACHE_MIN_UNCACHED_PER_PASS,
) -> str | None:
    """The warning line when scoring passes re-prefill their paths, else None.

    Each scoring pass reads its whole path; with the path's blocks still cached only the new step and the
    judging note are computed. A low share means every pass re-prefills its path (cost grows with the square
    of the path length)."""
    if not tally.reported or tally.passes < min_passes or tally.prompt_tokens <= 0:
        return None
    share = tally.cached_prompt_tokens / tally.prompt_tokens
    uncached = (tally.prompt_tokens - tally.cached_prompt_tokens) / tally.passes
    if share >= min_share or uncached < min_uncached_per_pass:
        return None
    return (
        f"warning: the target's scoring passes after each path's first step were served {share:.0%} from the "
        f"prefix cache ({tally.cached_prompt_tokens}/{tally.prompt_tokens} prompt tokens over {tally.passes} "
        f"passes, ~{uncached:.0f} tokens recomputed per pass; expected > {min_share:.0%}): each pass re-prefills "
        "its path. Likely causes: prefix caching is off (enable_prefix_caching in --target_engine_args), or the "
        "KV cache is too small for the concurrency: lower --max_concurrent_problems, or raise "
        "--target_gpu_memory_utilization / --kv_cache_gib"
    )


def batch_events(
    req: Request, results: Sequence[GenerationResult | ScoreResult], submit: float, end: float
) -> list[timeline.Event]:
    """A request's prompts as timeline events; under lock-step each was in flight for its whole batched call."""
    return [
        timeline.Event(
            req.model,
            req.phase,
            req.paths[i] if i < len(req.paths) else None,
            req.step,
            submit,
            end,
            r.prompt_tokens,
            getattr(r, "completion_tokens", 0),
        )
        for i, r in enumerate(results)
    ]


class Scheduler:
    """Serves the requests of many problem coroutines with batched engine calls."""

    def __init__(
        self,
        cfg: RunConfig,
        engines: dict[str, Engine | None],
        reasoner: Reasoner,
        on_done: Callable[[Job, ProblemOutcome], None],
        on_fail: Callable[[Job, EngineError], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self.cfg = cfg
        self.engines = engines
        self.reasoner = reasoner
        self.on_done = on_done
        self.on_fail = on_fail
        self.warn = warn
        self.engine_seconds: dict[str, float] = {}
        self.later_scoring = CacheTally()
        self.cache_warned = False

    def _open(self, job: Job) -> None:
        """The job's clock and usage counters, at its start."""
        job.started = time.perf_counter()
        job.started_unix = time.time()
        job.started_at = now_utc()
        job.usage = {
            "target": usage_block()
            | {"scoring_calls": 0, "scoring_prompt_tokens": 0, "scoring_cached_prompt_tokens": 0, "scoring_ties": 0}
        }
        if self.engines.get("draft") is not None:
            job.usage["draft"] = usage_block()

    def _start(self, job: Job) -> None:
        self._open(job)
        job.coroutine = self.reasoner.coroutine(job.problem.problem, job.key)
        self._advance(job, None)

    def _advance(self, job: Job, results: list | None) -> None:
        try:
            job.pending = job.coroutine.send(results) if results is not None else next(job.coroutine)
        except StopIteration as stop:
            job.pending = None
            wall = time.perf_counter() - job.started
            job.schedule = timeline.block("lockstep", False, job.events, wall, job.started_unix)
            self.on_done(job, stop.value)

    def _fail(self, job: Job, error: EngineError) -> None:
        job.coroutine.close()
        job.pending = None
        if self.on_fail is None:
            raise error
        self.on_fail(job, error)

    def _account(
        self, job: Job, req: Request, results: Sequence[GenerationResult | ScoreResult], seconds: float
    ) -> None:
        job.phase_seconds[req.phase] = job.phase_seconds.get(req.phase, 0.0) + seconds
        u = job.usage[req.model]
        if results:
            u["sequential_forward_passes"] += (
                1 if req.kind == "score" else max(max(r.completion_tokens, 1) for r in results)
            )  # type: ignore[union-attr]
        for i, r in enumerate(results):
            cached = r.cached_prompt_tokens
            if cached is not None:
                u["cache_reported"] = True
            if isinstance(r, ScoreResult):
                u["scoring_calls"] += 1
                u["scoring_prompt_tokens"] += r.prompt_tokens
                u["scoring_cached_prompt_tokens"] += cached or 0
                u["scoring_ties"] += int(r.tied)
                self._tally_scoring(job, req.sessions[i] if i < len(req.sessions) else i, r)
            else:
                u["calls"] += 1
                u["prompt_tokens"] += r.prompt_tokens
                u["cached_prompt_tokens"] += cached or 0
                u["generated_tokens"] += r.completion_tokens

    def _tally_scoring(self, job: Job, path_key: Any, r: ScoreResult) -> None:
        if path_key not in job.scored_paths:  # a path's first scoring pass has nothing of the path cached yet
            job.scored_paths.add(path_key)
            return
        t = self.later_scoring
        t.passes += 1
        t.prompt_tokens += r.prompt_tokens
        t.cached_prompt_tokens += r.cached_prompt_tokens or 0
        t.reported = t.reported or r.cached_prompt_tokens is not None

    def _call(self, engine: Engine | None, model: str, kind: str, batch: list[Job]) -> list:
        prompts = [p for j in batch for p in j.pending.prompts]
        if not prompts:
            return []
        if engine is None:
            raise RuntimeError(f"method {self.cfg.method!r} asked for the {model} model, which was not loaded")
        sessions = [s for j in batch for s in j.pending.sessions] or None
        if kind == "generate":
            return engine.generate(prompts, [p for j in batch for p in j.pending.params], sessions)
        return engine.score_digits(prompts, sessions)

    def _answers(self, model: str, kind: str, batch: list[Job]) -> list[list | EngineError]:
        """Each job's results, or the error its own request raised."""
        engine = self.engines.get(model)
        try:
            results = self._call(engine, model, kind, batch)
        except EngineGone:
            raise
        except EngineError as exc:
            if len(batch) == 1:
                return [exc]
            return [self._alone(engine, model, kind, job) for job in batch]
        answers, offset = [], 0
        for job in batch:
            n = len(job.pending.prompts)
            answers.append(results[offset : offset + n])
            offset += n
        return answers

    def _alone(self, engine: Engine | None, model: str, kind: str, job: Job) -> list | EngineError:
        try:
            return self._call(engine, model, kind, [job])
        except EngineGone:
            raise
        except EngineError as exc:
            return exc

    def serve(self, jobs: list[Job], model: str, kind: str) -> None:
        """One engine call for every pending request of (model, kind); on an EngineError, one per problem."""
        batch = [j for j in jobs if j.pending is not None and j.pending.model == model and j.pending.kind == kind]
        if not batch:
            return
        called = any(j.pending.prompts for j in batch)
        t0 = time.perf_counter()
        answers = self._answers(model, kind, batch)
        t1 = time.perf_counter()
        seconds = t1 - t0 if called else 0.0
        if called:
            phase_key = f"{model}.{kind}"
            self.engine_seconds[phase_key] = self.engine_seconds.get(phase_key, 0.0) + seconds
        for job, mine in zip(batch, answers):
            if isinstance(mine, EngineError):
                self._fail(job, mine)
                continue
            req = job.pending
            if req.prompts:
                self._account(job, req, mine, seconds)
                job.events.extend(batch_events(req, mine, t0 - job.started, t1 - job.started))
            self._advance(job, mine)
        if kind == "score":
            self._check_cache()

    def _check_cache(self) -> None:
        if self.cache_warned:
            return
        line = prefix_cache_warning(self.later_scoring)
        if line is not None:
            self.cache_warned = True
            if self.warn is not None:
                self.warn(line)

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
