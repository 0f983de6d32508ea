"""A deterministic engine for control-flow tests of the loop (no model behind it).

Its outputs are pure functions of the request (rendered prompt and seed), so a
problem's result cannot depend on which other requests share its batch: that
is what lets the tests check concurrency invariance and resumption exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Callable, Sequence

from ssr.engines.base import (
    ChatPrompt,
    Continuation,
    Engine,
    GenerationResult,
    ModelInfo,
    Prompt,
    SamplingParams,
    ScoreResult,
    per_prompt_params,
)

# (rendered prompt, params) -> (text, finish_reason, stop_reason)
GenerateFn = Callable[[str, SamplingParams], tuple[str, str, "str | None"]]
# rendered prompt -> the score digit to put all probability on, or a 10-list of probabilities
ScoreFn = Callable[[str], "int | list[float]"]


def stable_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")


def hashed_steps(answer_after: int = 4, answers: int = 3) -> GenerateFn:
    """Writes 'Step k ...' lines; after ``answer_after`` steps a boxed answer in 0..answers-1."""

    def fn(prompt: str, params: SamplingParams) -> tuple[str, str, str | None]:
        k = prompt.count("Step ")
        h = stable_int(prompt, params.seed)
        if k >= answer_after:
            return f"So the answer is \\boxed{{{h % answers}}}", "stop", None
        return f"Step {k}: consider {h % 97}", "stop", "\n\n"

    return fn


def hashed_scores(prompt: str) -> int:
    return stable_int(prompt) % 10


class ScriptedEngine(Engine):
    backend = "scripted"

    def __init__(
        self, generate_fn: GenerateFn, score_fn: ScoreFn = hashed_scores, name: str = "scripted", n_params: int = 1000
    ):
        self.generate_fn = generate_fn
        self.score_fn = score_fn
        self.name = name
        self.n_params = n_params
        self.calls: list[tuple[str, int]] = []  # (kind, batch size) per engine call
        self.seen: list[str] = []

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if isinstance(prompt, Continuation):
            return self.render(prompt.prompt) + prompt.text
        msgs = list(prompt.messages)
        tail = ""
        if prompt.continue_final:
            tail = msgs.pop()["content"]
        body = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in msgs)
        return body + "<assistant>" + tail

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompts: Sequence[Prompt], params, sessions=None) -> list[GenerationResult]:
        plist = per_prompt_params(prompts, params)
        self.calls.append(("generate", len(prompts)))
        out = []
        for p, sp in zip(prompts, plist):
            rendered = self.render(p)
            self.seen.append(rendered)
            text, reason, stop = self.generate_fn(rendered, sp)
            n = self.count_tokens(text)
            if n > sp.max_tokens:
                text, reason, stop = " ".join(text.split()[: sp.max_tokens]), "length", None
                n = sp.max_tokens
            out.append(GenerationResult(text, reason, self.count_tokens(rendered), n, 0, stop))
        return out

    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        self.calls.append(("score", len(prompts)))
        out = []
        for p in prompts:
            rendered = self.render(p)
            v = self.score_fn(rendered)
            probs = list(v) if isinstance(v, list) else [1.0 if d == v else 0.0 for d in range(10)]
            out.append(ScoreResult(probs, self.count_tokens(rendered), 0))
        return out

    # ---------------------------------------------------------------- the asynchronous interface
    # Each request sleeps ``seconds_per_token`` per generated token (a scoring pass as one token) on the
    # caller's loop, so requests of two engines overlap in time as on real engines; a cancelled request stops.
    supports_async = True
    seconds_per_token: float = 0.0
    in_flight: int = 0
    cancelled: int = 0

    async def _wait(self, tokens: int) -> None:
        self.in_flight += 1
        try:
            await asyncio.sleep(self.seconds_per_token * max(tokens, 1))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def agenerate(self, prompts: Sequence[Prompt], params, sessions=None) -> list[GenerationResult]:
        out = self.generate(prompts, params, sessions)
        await self._wait(max((r.completion_tokens for r in out), default=1))
        return out

    async def ascore_digits(self, prompts: Sequence[Prompt], sessions=None) -> list[ScoreResult]:
        out = self.score_digits(prompts, sessions)
        await self._wait(1)
        return out

    def requests_in_flight(self) -> int:
        return self.in_flight

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name, n_params=self.n_params, n_layers=2, hidden_size=8, n_heads=2, n_kv_heads=2, head_dim=4
        )


def chat_user_text(rendered: str) -> str:
    """The user message inside a rendered prompt (for score functions that read the step)."""
    start = rendered.find("<user>") + len("<user>")
    return rendered[start : rendered.find("</user>")]


__all__ = ["ChatPrompt", "ScriptedEngine", "hashed_steps", "hashed_scores", "chat_user_text", "stable_int"]


def comparable_records(folder) -> dict:
    """``{(problem_id, repeat): stored record}`` of a run folder without what differs between two equal runs
    (timings, the config naming its folder), so runs can be compared record for record."""
    from ssr.records import load_records, to_json

    out = {}
    for r in load_records(folder).records:
        rec = to_json(r)
        for key in ("timing", "config", "schedule"):
            rec.pop(key, None)
        out[(r.problem_id, r.repeat)] = rec
    return out
