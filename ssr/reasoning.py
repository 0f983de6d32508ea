"""The reasoning loop of one problem, written as a coroutine.

Each method (base, parallel, spec, ssr) is a generator that yields
``Request`` objects (a batch of prompts for one model) and receives the
engine's results.  It never calls an engine itself: the scheduler in
``ssr.runner`` gathers the requests of every running problem and serves them
with one engine call per (model, kind), so the algorithm reads as if it ran
alone while all paths of all problems share each forward pass.

A speculative round of every path is: the draft proposes a step (text up to a
blank line), the target scores it 0-9 in one forward pass, and the target
rewrites the steps scoring below the threshold.  The rewrite request is
yielded even when empty so that problems stay in phase and batch together.

Scoring reads the path itself (``--score_prompt continuation``, the default and
the reference code's way): the path's own prompt token for token, the proposed
step, a short judging note, and an answer prefix whose next token is the
score.  The draft's generation, the scoring pass and a rewrite all start with
the same path prefix, so the target's prefix cache serves all of them.

A path ends on a complete ``\boxed{...}`` in a step, on end of turn, on a
repeated step or on the budget, never on answer extraction's textual fallbacks.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Sequence

from ssr.aggregation import Decision, PathOutcome, fast_decision, majority_vote, mean_step_score
from ssr.config import RunConfig
from ssr.methods import method
from ssr.engines.base import ChatPrompt, Continuation, Engine, GenerationResult, Prompt, SamplingParams, ScoreResult
from ssr.prompt_sets import PromptSet
from ssr.prompt_sets import load as load_prompt_set
from ssr.prompts import (
    RAW_THINK_OPEN,
    SCORE_METHODS,
    SCORE_PROMPTS,
    Strategy,
    answer_prefix,
    authors_answer,
    authors_path,
    authors_score,
    raw_prompt,
    role_for_path,
    scoring_continuation,
    selection_message,
    selection_prefix,
    solve_message,
    step_judging_message,
)
from ssr.records import STEP_STOP, Path, PathTokens, Step, clean_step, path_text
from ssr.selection import Selection, parse_selection

Equal = Callable[[str, str], bool]
Extract = Callable[[str], "str | None"]


@dataclass
class Request:
    model: str  # "target" | "draft"
    kind: str  # "generate" | "score"
    phase: str  # "select" | "draft" | "score" | "rewrite" | "generate" (for timing)
    prompts: list[Prompt]
    params: list[SamplingParams] = field(default_factory=list)
    # one key per prompt naming its path ("dataset/problem/repeat/path"): servers keep a path on one replica
    sessions: list[str] = field(default_factory=list)
    # for the timeline (ssr.timeline): each prompt's path index, and the step index of a speculative round
    paths: list[int] = field(default_factory=list)
    step: int | None = None


def session_key(key: tuple, path: Any = None) -> str:
    """A path's session key (a problem's, for requests of no path): stable across rounds and reruns."""
    return "/".join(str(k) for k in (*key, *(() if path is None else (path,))))


def continued(prompt_format: str, user_message: str, assistant_text: str) -> Prompt:
    """``assistant_text`` written after ``user_message``, for the model to continue, in the run's format
    (``authors``: a one-shot answer; a path of steps is ``authors_path``)."""
    if prompt_format == "raw":
        return raw_prompt(user_message, assistant_text)
    if prompt_format == "authors":
        return authors_answer(user_message, assistant_text)
    return ChatPrompt.of(
        [{"role": "user", "content": user_message}, {"role": "assistant", "content": assistant_text}],
        continue_final=True,
    )


@dataclass
class PathState:
    index: int
    user_message: str
    prompt_kind: str = "none"  # none | role | method
    role: str | None = None
    strategy: str | None = None
    text: str = ""
    steps: list[Step] = field(default_factory=list)
    finish_reason: str | None = None
    answer: str | None = None
    used_tokens: int = 0  # reasoning tokens written on this path (counts toward the budget)
    draft_generated: int = 0
    target_generated: int = 0

    prompt_format: str = "chat"

    @property
    def active(self) -> bool:
        return self.finish_reason is None

    def prompt(self) -> Prompt:
        """The path so far, to be continued: under the model's chat template, or as plain text."""
        if self.prompt_format == "authors":
            return authors_path(self.user_message, self.step_texts())
        return continued(self.prompt_format, self.user_message, self.text)

    def step_texts(self) -> list[str]:
        """The steps as the path holds them (a second ``</think>`` dropped), for the authors' join."""
        out: list[str] = []
        for s in self.steps:
            out.append(clean_step("".join(out), s.text))
        return out

    def mean_score(self) -> float | None:
        return mean_step_score([s.score for s in self.steps], [s.accepted for s in self.steps])

    def outcome(self) -> PathOutcome:
        return PathOutcome(self.index, self.answer, self.mean_score(), self.finish_reason == "answer", self.used_tokens)

    def to_record(self) -> Path:
        return Path(
            self.index,
            self.prompt_kind,
            self.role,
            self.strategy,
            self.text,
            self.answer,
            self.finish_reason,
            self.mean_score(),
            list(self.steps),
            PathTokens(self.draft_generated, self.target_generated, self.used_tokens),
        )


@dataclass
class ProblemOutcome:
    paths: list[PathState]
    decision: Decision
    selection: Selection | None = None


def request_seed(base: int, *parts: Any) -> int:
    """A seed that depends only on the request's identity, never on its batch."""
    digest = hashlib.sha256(repr((base, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def step_score(score: ScoreResult, method: str) -> float:
    if method == "greedy":
        return float(score.greedy)
    if method == "average":
        return score.expected
    raise ValueError(f"unknown score method {method!r} ({' | '.join(SCORE_METHODS)})")


def ended_by_stop_string(result: GenerationResult) -> bool:
    return result.finish_reason == "stop" and result.stop_reason is not None


def apply_step(
    path: PathState,
    step: Step,
    result: GenerationResult,
    budget: int,
    step_answer: Extract,
) -> None:
    """Append an accepted or rewritten step to the path and decide whether the path ends.

    ``step_answer`` must answer only for a complete ``\\boxed{...}`` (``extraction.boxed_answer``):
    "the final answer is 5, but wait" is a thought, not the end of a path.
    """
    text = clean_step(path.text, step.text)
    previous = path.steps[-1].text if path.steps else None
    step.ended_on_blank = ended_by_stop_string(result)
    path.steps.append(step)
    path.used_tokens += step.final_tokens
    path.text = path_text(path.steps)
    answer = step_answer(text)
    if answer is not None:
        path.answer, path.finish_reason = answer, "answer"
    elif previous is not None and text.strip() == clean_step(path.text, previous).strip():
        path.finish_reason = "repeated"
    elif result.finish_reason == "stop" and not ended_by_stop_string(result):
        path.finish_reason = "eos"  # the model ended its turn without a boxed answer
    elif path.used_tokens >= budget:
        path.finish_reason = "budget"


def make_paths(
    cfg: RunConfig, problem: str, n: int, strategies: Sequence[Strategy] | None, ps: PromptSet | None = None
) -> list[PathState]:
    paths = []
    fmt = cfg.prompt_format
    for i in range(n):
        if strategies is not None:
            s = strategies[i]
            msg = solve_message(problem, strategy=s, ps=ps)
            paths.append(PathState(i, msg, "method", strategy=s.name, prompt_format=fmt))
        elif cfg.use_role_prompts:
            r = role_for_path(i, ps)
            paths.append(PathState(i, solve_message(problem, role=r, ps=ps), "role", role=r, prompt_format=fmt))
        else:
            paths.append(PathState(i, solve_message(problem, ps=ps), prompt_format=fmt))
    return paths


Coroutine = Generator[Request, list, ProblemOutcome]


def snapshot(path: PathState) -> PathState:
    """A copy of the path as it stands, that later steps leave alone."""
    return dataclasses.replace(path, steps=list(path.steps))


def generation_prompt(target: Engine) -> str:
    """The target's rendering of an empty assistant turn: the Reasoner reads from it whether the template
    opens a thinking block (every user of a Reasoner probes the target this way)."""
    return target.render(ChatPrompt.of([{"role": "user", "content": "."}]))


class Reasoner:
    """Builds the coroutine of one (problem, repeat) for a method; runs nothing itself."""

    def __init__(
        self,
        cfg: RunConfig,
        target_generation_prompt: str,
        equal: Equal,
        extract: Extract,
        step_answer: Extract,
        prompt_set: PromptSet | None = None,
    ) -> None:
        self.cfg = cfg
        # the texts: loaded (and validated) once per run, from --prompt_set
        self.ps = prompt_set if prompt_set is not None else load_prompt_set(cfg.prompt_set)
        # the target's rendering of an empty assistant turn: tells whether it opens <think>
        # (the raw format always opens one; the authors' format writes its own)
        self.gen_prompt = RAW_THINK_OPEN if cfg.prompt_format == "raw" else target_generation_prompt
        self.equal = equal
        self.extract = extract  # a path's answer from its text, by --answer_rule (extraction.path_answer_function)
        self.step_answer = step_answer  # whether a step ends its path: a complete box only, never a fallback

    # --- building blocks -------------------------------------------------
    def _sampling(self, max_tokens: int, seed: int, stop: Sequence[str] = ()) -> SamplingParams:
        c = self.cfg
        return SamplingParams(
            temperature=c.temperature, top_p=c.top_p, max_tokens=max(1, max_tokens), stop=tuple(stop), seed=seed
        )

    def answer_prompt(self, user_message: str, prefix: str) -> Prompt:
        """A one-shot answer (SPM, message scoring): the thinking block closed, then ``prefix``."""
        if self.cfg.prompt_format == "authors":
            return authors_answer(user_message, prefix)
        return continued(self.cfg.prompt_format, user_message, answer_prefix(self.gen_prompt, prefix))

    def score_prompt(self, problem: str, path: PathState, step: str) -> Prompt:
        ps = self.ps
        if self.cfg.score_prompt == "continuation":
            if self.cfg.prompt_format == "authors":  # one string, tokenized whole, as theirs
                return authors_score(path.user_message, path.step_texts(), step, ps)
            return Continuation(path.prompt(), scoring_continuation(step, ps))
        if self.cfg.score_prompt == "grader":  # the separate judging message (ablation; the value old records hold)
            message = step_judging_message(problem, path.text, step, ps)
            return self.answer_prompt(message, ps.text("score_prefix"))
        raise ValueError(f"unknown score prompt {self.cfg.score_prompt!r} ({' | '.join(SCORE_PROMPTS)})")

    def select(self, problem: str, key: tuple) -> Generator[Request, list, Selection]:
        c, ps = self.cfg, self.ps
        pool = ps.pool(c.strategy_pool_size)
        n = c.method_num
        prompt = self.answer_prompt(selection_message(problem, n, pool, ps), selection_prefix(n, ps))
        # Greedy and short: SPM is a choice, not a solution. The set says how many tokens n codes take (the
        # authors': 2n - 1, a letter and a comma each); the authors' format sends no stop string, as theirs.
        stop = () if c.prompt_format == "authors" else ("\n",)
        params = SamplingParams(
            temperature=0.0, top_p=1.0, max_tokens=ps.max_tokens(n), stop=stop,
            seed=request_seed(c.seed, *key, "select"),
        )
        (result,) = yield Request("target", "generate", "select", [prompt], [params], [session_key(key)])
        return parse_selection(result.text, n, pool, repeats=ps.spm_repeats)

    def _paths_for(
        self, problem: str, key: tuple, n: int, use_spm: bool
    ) -> Generator[Request, list, tuple[list[PathState], Selection | None]]:
        selection = None
        strategies = None
        if use_spm:
            selection = yield from self.select(problem, key)
            strategies = selection.strategies
        return make_paths(self.cfg, problem, n, strategies, self.ps), selection

    # --- methods ---------------------------------------------------------
    def direct(self, problem: str, key: tuple, n: int, use_spm: bool) -> Coroutine:
        """Baseline and Parallel: each path is one target generation up to the token budget."""
        c = self.cfg
        paths, selection = yield from self._paths_for(problem, key, n, use_spm)
        params = [self._sampling(c.token_budget, request_seed(c.seed, *key, p.index, "generate")) for p in paths]
        sessions = [session_key(key, p.index) for p in paths]
        results = yield Request("target", "generate", "generate", [p.prompt() for p in paths], params, sessions)
        for p, r in zip(paths, results):
            p.text = r.text
            p.used_tokens = p.target_generated = r.completion_tokens
            p.answer = self.extract(r.text)
            p.finish_reason = "answer" if p.answer is not None else ("budget" if r.finish_reason == "length" else "eos")
        decision = majority_vote([p.outcome() for p in paths], self.equal, c.tie_break)
        return ProblemOutcome(paths, decision, selection)

    # --- one speculative step, in pieces both schedules share (ssr.scheduler, ssr.async_schedule) ---------
    def draft_params(self, key: tuple, path: PathState) -> SamplingParams:
        """The draft's request for the path's next step: its seed names the path and the step, never a batch,
        so every schedule sends the same request."""
        c = self.cfg
        return self._sampling(
            min(c.max_step_tokens, c.token_budget - path.used_tokens),
            request_seed(c.seed, *key, path.index, len(path.steps), "draft"),
            [STEP_STOP],
        )

    def rewrite_params(self, key: tuple, path: PathState, max_tokens: int) -> SamplingParams:
        """The target's rewrite of the path's next step, as long as its draft could be."""
        seed = request_seed(self.cfg.seed, *key, path.index, len(path.steps), "rewrite")
        return self._sampling(max_tokens, seed, [STEP_STOP])

    def step_value(self, score: ScoreResult) -> tuple[float, bool]:
        """The step's score by ``--score_method``, and whether it is rejected (below the threshold)."""
        value = step_score(score, self.cfg.score_method)
        return value, value < self.cfg.score_threshold

    def take_step(
        self, path: PathState, draft: GenerationResult, score: ScoreResult, value: float,
        rewrite: GenerationResult | None,
    ) -> None:
        """Append the scored step (the draft, or its rewrite) to the path; the path may end here."""
        step = Step(
            draft.text,
            value,
            list(score.probs),
            rewrite is None,
            rewrite.text if rewrite else None,
            draft.completion_tokens,
            rewrite.completion_tokens if rewrite else 0,
            score.prompt_tokens,
            score.cached_prompt_tokens,
        )
        path.draft_generated += draft.completion_tokens
        path.target_generated += step.rewrite_tokens
        apply_step(path, step, rewrite or draft, self.cfg.token_budget, self.step_answer)
        if not path.active and path.answer is None and (fallback := self.extract(path.text)) is not None:
            # --answer_rule lenient: a path that ended without a box answers by the textual fallbacks,
            # as a direct path does (the boxed rule finds nothing here: a box would have ended it)
            path.answer, path.finish_reason = fallback, "answer"

    def if_accepted(self, path: PathState, draft: GenerationResult) -> PathState | None:
        """The path as it will be if ``draft`` is accepted (a copy), or None when accepting it ends the path:
        what a pre-draft of the next step continues."""
        ahead = snapshot(path)
        self.take_step(ahead, draft, ScoreResult([0.1] * 10, 0), self.cfg.score_threshold, None)
        return ahead if ahead.active else None

    def conclude(
        self, paths: list[PathState], decision: Decision | None, selection: Selection | None
    ) -> ProblemOutcome:
        """The problem's outcome: a fast mode's decision (paths still running stop), else the majority vote."""
        c = self.cfg
        if decision is not None:
            for p in paths:
                if p.active:
                    p.finish_reason = "stopped_fast"
        else:
            # --tie_break code governs fast-mode votes only: the authors' full SSR script breaks ties by score
            decision = majority_vote([p.outcome() for p in paths], self.equal, c.tie_break if c.fast else "paper")
        return ProblemOutcome(paths, decision, selection)

    def fast_decision(self, paths: Sequence[PathState]) -> Decision | None:
        c = self.cfg
        return fast_decision([p.outcome() for p in paths], c.fast, self.equal, c.tie_break) if c.fast else None

    def speculative(self, problem: str, key: tuple, n: int, use_spm: bool) -> Coroutine:
        """Step-level speculative decoding on every path (spec-reason, and SSR with SPM), in lock-step rounds:
        every running path drafts its next step, all are scored, the rejected ones rewritten."""
        paths, selection = yield from self._paths_for(problem, key, n, use_spm)
        decision: Decision | None = None
        rnd = 0
        while decision is None and any(p.active for p in paths):
            active = [p for p in paths if p.active]
            index = [p.index for p in active]
            params = [self.draft_params(key, p) for p in active]
            sessions = [session_key(key, p.index) for p in active]
            prompts = [p.prompt() for p in active]
            drafts = yield Request("draft", "generate", "draft", prompts, params, sessions, index, rnd)
            score_prompts = [self.score_prompt(problem, p, d.text) for p, d in zip(active, drafts)]
            scores = yield Request("target", "score", "score", score_prompts, [], sessions, index, rnd)
            values = [self.step_value(s) for s in scores]
            rejected = [i for i, (_, low) in enumerate(values) if low]
            rewrites = yield Request(
                "target", "generate", "rewrite",
                [prompts[i] for i in rejected],
                [self.rewrite_params(key, active[i], params[i].max_tokens) for i in rejected],
                [sessions[i] for i in rejected],
                [index[i] for i in rejected],
                rnd,
            )
            rewrite_of = dict(zip(rejected, rewrites))
            for i, (p, d, s, (v, _)) in enumerate(zip(active, drafts, scores, values)):
                self.take_step(p, d, s, v, rewrite_of.get(i))
            rnd += 1
            decision = self.fast_decision(paths)
        return self.conclude(paths, decision, selection)

    def coroutine(self, problem: str, key: tuple) -> Coroutine:
        """The coroutine of one (problem, repeat), as the method table (``ssr.methods``) says."""
        m = method(self.cfg.method)
        return getattr(self, m.coroutine)(problem, key, m.path_count(self.cfg), m.uses_spm(self.cfg))
