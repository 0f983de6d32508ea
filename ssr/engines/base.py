"""The one narrow interface every engine implements.

The reasoning loop only ever calls ``generate`` and ``score_digits`` on a list of
prompts, so batching across paths and problems happens in one place (the loop)
and each engine only has to make one batched call efficient.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence, Union


@dataclass(frozen=True)
class ChatPrompt:
    """Chat messages rendered with the model's own chat template.

    With ``continue_final=True`` the last message must be a partially written
    assistant turn: it is rendered as the generation prompt of the messages
    before it followed by the assistant text verbatim, so the model continues
    that text (this is how the step-wise loop extends a path one step at a
    time, under each model's own template).
    """

    messages: tuple[dict[str, str], ...]
    continue_final: bool = False

    @staticmethod
    def of(messages: Sequence[dict[str, str]], continue_final: bool = False) -> "ChatPrompt":
        return ChatPrompt(tuple(dict(m) for m in messages), continue_final)


@dataclass(frozen=True)
class Continuation:
    """``prompt`` followed by ``text``, tokenized apart and joined as token ids.

    The ids an engine feeds the model are the ids of ``prompt`` (exactly what a
    request for ``prompt`` alone would get) followed by the ids of ``text``.
    Scoring a step this way reads the path token for token as its draft step
    was generated from it, so the target's prefix cache of the path serves the
    scoring pass; re-tokenizing the joined text could shift a token at the seam.
    """

    prompt: "str | ChatPrompt"
    text: str


Prompt = Union[str, ChatPrompt, Continuation]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class GenerationResult:
    text: str
    # "stop" (a stop string or EOS), or "length" (hit max_tokens)
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    # prompt tokens served from the prefix cache; None when the engine does not report it
    cached_prompt_tokens: int | None = None
    # the stop string that ended generation, if the engine reports it
    stop_reason: str | None = None


@dataclass
class ScoreResult:
    """Next-token distribution restricted to the digits 0-9 (renormalised, sums to 1)."""

    probs: list[float]
    prompt_tokens: int
    cached_prompt_tokens: int | None = None

    @property
    def greedy(self) -> int:
        """The most likely digit; between equally likely digits, the higher. In bf16 two digit logits tie
        often enough to matter, and taking the lower one would lean greedy scoring toward rejection."""
        return max(range(10), key=lambda d: (self.probs[d], d))

    @property
    def tied(self) -> bool:
        """Whether another digit is exactly as likely as the greedy one (a tie ``greedy`` broke upward)."""
        top = self.probs[self.greedy]
        return sum(1 for p in self.probs if p == top) > 1

    @property
    def expected(self) -> float:
        return float(sum(d * p for d, p in enumerate(self.probs)))


@dataclass
class ModelInfo:
    """What a model costs, read from its configuration (not guessed).

    The FLOPs accounting (``ssr.analysis.flops``) uses these numbers; every result file
    stores them so that an evaluation can be traced to the models that ran.
    """

    name: str
    n_params: int  # parameters excluding the input embedding table
    n_layers: int
    hidden_size: int
    n_heads: int = 0
    n_kv_heads: int = 0
    head_dim: int = 0
    vocab_size: int = 0
    max_model_len: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def per_prompt_params(
    prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
) -> list[SamplingParams]:
    """Expand shared params to one per prompt (and check a per-prompt list's length)."""
    if isinstance(params, SamplingParams):
        return [params] * len(prompts)
    params = list(params)
    if len(params) != len(prompts):
        raise ValueError(f"got {len(params)} sampling params for {len(prompts)} prompts")
    return params


class EngineError(RuntimeError):
    """An engine could not be built or could not answer (bad path, dead server, ...).

    Raised by a batched call, it may concern only some of its requests (an over-long prompt): the
    scheduler retries the batch one problem at a time and fails only the problems that still fail.
    """


class EngineGone(EngineError):
    """The engine is gone for good (its process died, its server stayed unreachable past
    ``--wait_for_server``): no retry can help, the run stops; finished problems stay written."""


class Engine(abc.ABC):
    """A loaded model that serves batched generation and digit scoring."""

    #: short backend name ("vllm", "openai", "hf", "scripted", ...)
    backend: str = "abstract"

    @abc.abstractmethod
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        """Generate one continuation per prompt, in order, in as few engine calls as possible.

        ``params`` is either shared by all prompts or given per prompt (same
        length as ``prompts``): the reasoning loop batches paths of many
        problems whose seeds and remaining budgets differ, and a request's
        result must not depend on which other requests share its batch.
        ``sessions`` (optional, one per prompt) names each prompt's path; an engine
        spread over several servers sends one path's requests to the same one, so its
        prefix cache serves them. In-process engines ignore it.
        """

    @abc.abstractmethod
    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        """One forward pass per prompt: distribution of the next token over the digits 0-9."""

    @abc.abstractmethod
    def info(self) -> ModelInfo:
        """Parameter count and the shape numbers the FLOPs accounting needs."""

    @abc.abstractmethod
    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for ``prompt`` (chat template applied)."""

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    # ------------------------------------------------ the asynchronous interface (``--schedule async``)
    #: whether ``agenerate``/``ascore_digits`` let this engine work while the other one does
    supports_async: bool = False

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        """``generate`` awaitable from any event loop, so that many requests of both engines are in flight at
        once. Cancelling the awaiting task aborts the requests in the engine (their work stops)."""
        raise EngineError(self._no_async())

    async def ascore_digits(
        self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None
    ) -> list[ScoreResult]:
        """``score_digits`` awaitable from any event loop (see ``agenerate``)."""
        raise EngineError(self._no_async())

    def requests_in_flight(self) -> int | None:
        """Requests the engine is working on now (None: it cannot tell): after a run, 0 means no request was
        left running, cancelled ones included."""
        return None

    def _no_async(self) -> str:
        return (
            f"the {self.backend} engine has no asynchronous interface, so it cannot serve --schedule async "
            "(use vLLM in this process or OpenAI-compatible servers, or --schedule lockstep)"
        )

    def reset_cache(self) -> None:
        """Forget cached prompt prefixes, so the next request starts cold (benchmarks); no-op if none."""

    def close(self) -> None:
        """Release the model (GPU memory, server connections)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
