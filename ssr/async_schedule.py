"""The async schedule (``--schedule async``): every path of every problem advances on its own.

Under lock-step (``ssr.scheduler``) every round waits for its slowest request: all running paths draft, then
all are scored, then the rejected ones are rewritten, and one engine idles while the other works. Here each
path is an asyncio task that drafts its step, has it scored, has it rewritten if rejected and goes on,
never waiting for another path or problem; the requests of all paths meet in the engines' continuous
batching, each engine on its own cores or GPUs (``ssr.plan``). SPM runs per problem as soon as it starts.

Pre-drafting (``--predraft``): while a step is scored (and rewritten), the draft already writes the next step
as if the step were accepted. Accepted, the pre-draft is the next draft: the same prompt and seed as the
request lock-step would send (compared, not assumed). Rejected, it is cancelled in the engine and discarded.

The method is the one ``ssr.reasoning.Reasoner`` defines: the same requests, seeds and rules, through the
same step functions (``draft_params``, ``take_step``, ``fast_decision``, ``conclude``), so an async run writes
the records a lock-step run writes wherever the engine answers a request alike in any batch. Fast modes
decide by step index, as lock-step does: the decision for step k is taken once every running path has
finished step k or ended; steps beyond k, done or in flight, are cancelled and left out of the record.

One failure costs one problem: a request's ``EngineError`` cancels that problem's other requests and fails
it (no file); ``EngineGone`` stops the run, finished files kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence

from ssr import timeline
from ssr.engines.base import Engine, EngineError, EngineGone, Prompt, SamplingParams
from ssr.methods import method
from ssr.reasoning import PathState, ProblemOutcome, Request, make_paths, session_key, snapshot
from ssr.scheduler import Job, Scheduler


@dataclass
class Predraft:
    """A path's next step, drafted before its current step's score came back."""

    prompt: Prompt
    params: SamplingParams
    task: asyncio.Task
    event: timeline.Event

    def matches(self, prompt: Prompt, params: SamplingParams) -> bool:
        return self.prompt == prompt and self.params == params


class ProblemRun:
    """One (problem, repeat) under the async schedule: its path tasks, its requests and their timeline."""

    def __init__(self, sched: "AsyncScheduler", job: Job) -> None:
        self.sched = sched
        self.job = job
        self.cfg = sched.cfg
        self.reasoner = sched.reasoner
        self.problem = job.problem.problem
        self.key = job.key
        self.requests: set[asyncio.Task] = set()  # every request task still running (pre-drafts included)
        self.paths: list[PathState] = []
        self.history: dict[int, list[PathState]] = {}  # each path as it stood after each of its steps
        self.path_tasks: list[asyncio.Task] = []
        self.next_k = 0  # the step index whose fast-mode decision is pending
        self.decided: tuple[Any, list[PathState]] | None = None

    def clock(self) -> float:
        return time.perf_counter() - self.job.started

    # ---------------------------------------------------------------- one request
    async def request(
        self,
        model: str,
        kind: str,
        phase: str,
        prompt: Prompt,
        params: SamplingParams | None,
        path: int | None,
        step: int | None,
        event: timeline.Event | None = None,
    ) -> Any:
        engine: Engine | None = self.sched.engines.get(model)
        if engine is None:
            raise RuntimeError(f"method {self.cfg.method!r} asked for the {model} model, which was not loaded")
        session = session_key(self.key, path)
        ev = event or timeline.Event(model, phase, path, step, self.clock())
        if event is None:
            self.job.events.append(ev)
        accounted_phase = "draft" if phase == "predraft" else phase
        req = Request(model, kind, accounted_phase, [prompt], [params] if params else [], [session])
        started = time.perf_counter()
        try:
            if kind == "generate":
                (result,) = await engine.agenerate([prompt], [params], [session])
            else:
                (result,) = await engine.ascore_digits([prompt], [session])
        except asyncio.CancelledError:
            ev.end, ev.cancelled, ev.wasted = self.clock(), True, True
            raise
        except EngineError:
            ev.end, ev.wasted = self.clock(), True
            raise
        ended = time.perf_counter()
        ev.end = ended - self.job.started
        ev.prompt_tokens = result.prompt_tokens
        ev.tokens = getattr(result, "completion_tokens", 0)
        self.sched._account(self.job, req, [result], ended - started)
        self.sched.spans.setdefault(f"{model}.{kind}", []).append((started, ended))
        if kind == "score":
            self.sched._check_cache()
        return result

    def submit(self, *args: Any, event: timeline.Event | None = None) -> asyncio.Task:
        task = asyncio.ensure_future(self.request(*args, event=event))
        self.requests.add(task)
        task.add_done_callback(self.requests.discard)
        return task

    async def drive(self, gen: Generator[Request, list, Any]) -> Any:
        """Serve one of the Reasoner's generators (SPM's selection) request by request."""
        try:
            req = next(gen)
            while True:
                tasks = [
                    self.submit(req.model, req.kind, req.phase, p, req.params[i] if req.params else None, None, None)
                    for i, p in enumerate(req.prompts)
                ]
                req = gen.send(list(await asyncio.gather(*tasks)))
        except StopIteration as stop:
            return stop.value

    # ---------------------------------------------------------------- pre-drafts
    def predraft(self, ahead: PathState) -> Predraft:
        prompt, params = ahead.prompt(), self.reasoner.draft_params(self.key, ahead)
        ev = timeline.Event("draft", "predraft", ahead.index, len(ahead.steps), self.clock())
        self.job.events.append(ev)
        task = self.submit("draft", "generate", "predraft", prompt, params, ahead.index, len(ahead.steps), event=ev)
        return Predraft(prompt, params, task, ev)

    @staticmethod
    def discard(pre: Predraft) -> None:
        """A pre-draft the path will not use: cancelled in the engine if still running, else thrown away."""
        pre.event.wasted = True
        pre.task.cancel()

    # ---------------------------------------------------------------- one path
    async def walk(self, p: PathState) -> None:
        c, r = self.cfg, self.reasoner
        pre: Predraft | None = None
        try:
            while p.active and self.decided is None:
                k = len(p.steps)
                prompt, params = p.prompt(), r.draft_params(self.key, p)
                draft = None
                if pre is not None:
                    if pre.matches(prompt, params):
                        draft = await pre.task
                    else:  # cannot happen when the path took the accepted step; never used unchecked
                        self.discard(pre)
                    pre = None
                if draft is None:
                    draft = await self.submit("draft", "generate", "draft", prompt, params, p.index, k)
                score_prompt = r.score_prompt(self.problem, p, draft.text)
                if c.predraft and (ahead := r.if_accepted(p, draft)) is not None:
                    pre = self.predraft(ahead)
                score = await self.submit("target", "score", "score", score_prompt, None, p.index, k)
                value, rejected = r.step_value(score)
                rewrite = None
                if rejected:
                    if pre is not None:
                        self.discard(pre)
                        pre = None
                    rw_params = r.rewrite_params(self.key, p, params.max_tokens)
                    rewrite = await self.submit("target", "generate", "rewrite", prompt, rw_params, p.index, k)
                r.take_step(p, draft, score, value, rewrite)
                self.history[p.index].append(snapshot(p))
                self.check_fast()
        finally:
            if pre is not None:
                self.discard(pre)

    # ---------------------------------------------------------------- fast modes, by step index
    def state_at(self, p: PathState, k: int) -> PathState | None:
        """The path as it stood after step k (its end, if it ended sooner); None while it works on step k."""
        h = self.history[p.index]
        if len(h) > k:
            return h[k]
        return None if p.active else (h[-1] if h else p)

    def check_fast(self) -> None:
        if not self.cfg.fast or self.decided is not None:
            return
        while True:
            states = [self.state_at(p, self.next_k) for p in self.paths]
            if any(s is None for s in states):
                return
            decision = self.reasoner.fast_decision(states)  # type: ignore[arg-type]
            if decision is not None:
                self.decide(decision, states)  # type: ignore[arg-type]
                return
            if not any(s.active for s in states):  # type: ignore[union-attr]
                return  # every path ended by step k undecided: the majority vote concludes
            self.next_k += 1

    def decide(self, decision: Any, states: list[PathState]) -> None:
        k = self.next_k
        self.decided = (decision, [snapshot(s) for s in states])
        for ev in self.job.events:  # steps beyond k ran ahead of the decision: not in the record
            if ev.step is not None and ev.step > k:
                ev.wasted = True
        me = asyncio.current_task()
        for t in self.path_tasks:
            if t is not me:
                t.cancel()

    # ---------------------------------------------------------------- the problem
    async def solve(self) -> ProblemOutcome:
        c, r = self.cfg, self.reasoner
        m = method(c.method)
        selection = None
        if m.uses_spm(c):
            selection = await self.drive(r.select(self.problem, self.key))
        strategies = selection.strategies if selection is not None else None
        self.paths = make_paths(c, self.problem, m.path_count(c), strategies, r.ps)
        self.history = {p.index: [] for p in self.paths}
        self.path_tasks = [asyncio.ensure_future(self.walk(p)) for p in self.paths]
        try:
            await first_failure(self.path_tasks)
        finally:
            await self.cancel_all()
        if self.decided is not None:
            decision, states = self.decided
            return r.conclude(states, decision, selection)
        return r.conclude(self.paths, None, selection)

    async def cancel_all(self) -> None:
        """Cancel every path task and request still running, and wait until they have stopped."""
        left = [t for t in (*self.path_tasks, *self.requests) if not t.done()]
        for t in left:
            t.cancel()
        await asyncio.gather(*left, return_exceptions=True)


async def first_failure(tasks: Sequence[asyncio.Task]) -> None:
    """Wait for every task; the first one to raise (a cancelled one does not) cancels the rest and raises."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        errors = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
        if errors:
            for o in pending:
                o.cancel()
            raise next((e for e in errors if isinstance(e, EngineGone)), errors[0])  # type: ignore[misc]


class AsyncScheduler(Scheduler):
    """Runs up to ``max_concurrent_problems`` problems at once, each path of each as its own task.

    Same callbacks and counters as the lock-step ``Scheduler`` (``on_done``, ``on_fail``, ``engine_seconds``:
    here each engine's busy seconds per kind of request, the union of their spans over the run)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, engine in self.engines.items():
            if engine is not None and not engine.supports_async:
                raise EngineError(f"{name}: {engine._no_async()}")
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.in_flight: dict[tuple, ProblemRun] = {}

    def run(self, todo: Sequence[Job], progress: Callable[[int, int], None] | None = None) -> None:
        asyncio.run(self._run(list(todo), progress))
        self.engine_seconds = {k: timeline.length(timeline.union(v)) for k, v in self.spans.items()}

    async def _run(self, todo: list[Job], progress: Callable[[int, int], None] | None) -> None:
        waiting = deque(todo)
        running: set[asyncio.Task] = set()
        limit = max(1, self.cfg.max_concurrent_problems)
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    running.add(asyncio.ensure_future(self._problem(waiting.popleft())))
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                errors = [t.exception() for t in done if t.exception() is not None]
                if errors:  # EngineGone, or a bug: the run stops
                    raise errors[0]  # type: ignore[misc]
                if progress:
                    progress(len(running), sum(len(r.requests) for r in self.in_flight.values()))
        finally:
            for t in running:
                t.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _problem(self, job: Job) -> None:
        self._open(job)
        run = ProblemRun(self, job)
        self.in_flight[job.key] = run
        try:
            outcome = await run.solve()
        except EngineGone:
            raise
        except EngineError as exc:
            if self.on_fail is None:
                raise
            self.on_fail(job, exc)
            return
        finally:
            del self.in_flight[job.key]
        wall = time.perf_counter() - job.started
        job.schedule = timeline.block("async", bool(self.cfg.predraft), job.events, wall, job.started_unix)
        self.on_done(job, outcome)
