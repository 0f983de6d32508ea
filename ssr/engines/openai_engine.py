"""An engine over OpenAI-compatible servers' ``/v1/completions`` (vLLM serve, SGLang, ...), one or many replicas.

Chat templates are rendered here with the model's Hugging Face tokenizer and the raw text is sent as a
completion prompt (with ``add_special_tokens: false``, the token rule of ``ssr.engines.conventions``), so
the server needs no chat support and every engine sees the same text. The transport (replicas, routing
by session key, the session header, waiting for servers, retries) is ``ssr.engines.http_client``.

Synchronous and async use: ``generate`` / ``score_digits`` (the ``Engine`` interface) block the calling
thread while the batch runs on the engine's private event loop. ``await agenerate(...)`` / ``await
ascore_digits(...)`` take the same arguments and can be awaited from any event loop (an async
scheduler's): the requests still run on the engine's loop, under its one ``max_inflight`` limit, and
the caller's loop stays free while they do. Prompts are tokenized in the caller's thread.

Every sampling field is sent: a vLLM server fills each field a request leaves unset from the model's
``generation_config.json`` (``top_k``, ``min_p``, ``repetition_penalty``, ...), while the in-process
engine samples with ``vllm.SamplingParams`` defaults; sending those defaults makes both sample alike.

Extras sent for vLLM servers: ``add_special_tokens``, and for digit scoring ``allowed_token_ids`` and
``logprob_token_ids`` (vLLM >= 0.3x returns the log-probabilities of exactly the ten digit tokens). A
server that answers without some digits in ``top_logprobs`` gets its scores renormalised over the digits
it did return (``partial_digit_scores`` counts such answers). A server whose HTTP 400 names those two
fields is asked again without them (plain ``logprobs=10``), from then on; any other 400 (an over-long
prompt, ...) is an ``EngineError`` for that request and the restriction stays.

Prefix-cache hits come from ``usage.prompt_tokens_details.cached_tokens``: start vLLM with
``--enable-prompt-tokens-details`` (otherwise it is None).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from ssr.engines.base import (
    Continuation,
    Engine,
    EngineError,
    GenerationResult,
    ModelInfo,
    Prompt,
    SamplingParams,
    ScoreResult,
)
from ssr.engines.conventions import (
    DIGITS,
    check_prompt_length,
    digit_token_ids,
    encode,
    load_config,
    load_tokenizer,
    looks_like_path,
    model_info_from_config,
    normalise_digit_logprobs,
    prompt_token_ids,
    render_prompt,
    request_params,
    truncate_at_stop,
)
from ssr.engines.http_client import LoopThread, RequestRejected, ServerPool, api_root, gather_all

log = logging.getLogger(__name__)

__all__ = ["NEUTRAL_SAMPLING", "OpenAIEngine", "api_root", "generation_body", "names_digit_fields", "scoring_body"]

#: The in-process defaults (``vllm.SamplingParams``, vLLM 0.32) of every field a vLLM server would otherwise
#: take from the model's generation_config.json: the keys of ``CompletionRequest._DEFAULT_SAMPLING_PARAMS``
#: (vllm/entrypoints/openai/completion/protocol.py) besides temperature and top_p, which every request sets.
NEUTRAL_SAMPLING: dict[str, Any] = {
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
DIGIT_FIELDS = ("allowed_token_ids", "logprob_token_ids")


def generation_body(model: str | None, prompt: str | list[int], p: SamplingParams) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": prompt,
        "n": 1,
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        **NEUTRAL_SAMPLING,
        "seed": p.seed,
        "stop": list(p.stop),
        "add_special_tokens": False,
    }


def scoring_body(model: str | None, prompt: str | list[int], digit_ids: Sequence[int] | None) -> dict[str, Any]:
    """One forward pass; with ``digit_ids`` the sampled token is a digit and exactly their logprobs return."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "n": 1,
        "max_tokens": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        **NEUTRAL_SAMPLING,
        "logprobs": 10,
        "add_special_tokens": False,
    }
    if digit_ids:
        body.update(allowed_token_ids=list(digit_ids), logprob_token_ids=list(digit_ids))
    return body


def names_digit_fields(error: RequestRejected) -> bool:
    """Whether a rejection is about the digit restriction (the only 400 that turning it off can cure)."""
    return error.status == 400 and any(f in error.message for f in DIGIT_FIELDS)


def session_keys(sessions: Sequence[str] | None, n: int) -> list[str | None]:
    if sessions is None:
        return [None] * n
    if len(sessions) != n:
        raise ValueError(f"got {len(sessions)} session keys for {n} prompts")
    return list(sessions)


class OpenAIEngine(Engine):
    backend = "openai"
    supports_async = True

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str | None,
        *,
        tokenizer: str | None,
        role: str = "target",
        api_key: str | None = None,
        timeout: float = 600.0,
        max_inflight: int = 64,
        wait_for_server: float = 600.0,
        session_header: str | None = "x-user-id",
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        max_model_len: int | None = None,
        transport: Any = None,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise EngineError(f"the openai backend needs --{role}_base_url")
        self.base_urls = [api_root(u) for u in urls]
        self.base_url = ",".join(self.base_urls)
        self.model = model
        self.role = role
        self.tokenizer_name = tokenizer or model
        if not self.tokenizer_name:
            raise EngineError(
                "the openai backend needs a tokenizer (name or folder) to render prompts and count tokens"
            )
        self.tokenizer = load_tokenizer(self.tokenizer_name)
        self._digit_ids = digit_token_ids(self.tokenizer)
        self.max_model_len = max_model_len
        self._send_vllm_extras = True
        self.partial_digit_scores = 0
        self._on_wire = 0  # requests sent and not yet answered (changed only on the engine's loop)
        self._info: ModelInfo | None = None
        pool_args = dict(
            role=role, api_key=api_key, timeout=timeout, max_inflight=max_inflight, wait_for_server=wait_for_server,
            session_header=session_header, max_retries=max_retries, retry_backoff=retry_backoff, transport=transport,
        )
        self._loop = LoopThread(f"ssr-{role}-http")
        try:
            self.pool: ServerPool = self._loop.run(self._start(pool_args))
        except BaseException:
            self._loop.close()
            raise

    async def _start(self, pool_args: dict[str, Any]) -> ServerPool:
        """On the engine's loop: wait for every replica, then learn the served model and its length limit."""
        pool = ServerPool(self.base_urls, **pool_args)
        try:
            await pool.wait_until_up()
            for replica in pool.replicas:
                self._check_models(replica.url, await pool.request("GET", "/models", replica=replica))
        except BaseException:
            await pool.aclose()
            raise
        return pool

    def _check_models(self, url: str, data: dict[str, Any]) -> None:
        models = data.get("data") or []
        ids = [m.get("id") for m in models]
        if self.model not in ids:
            if ids and (self.model is None or len(ids) == 1):
                if self.model is not None:
                    log.warning("server at %s serves %r, not %r: using %r", url, ids[0], self.model, ids[0])
                self.model = ids[0]
            elif ids:
                raise EngineError(f"server at {url} does not serve {self.model!r}; it serves {ids}")
        entry = next((m for m in models if m.get("id") == self.model), None)
        if entry and entry.get("max_model_len"):
            n = int(entry["max_model_len"])
            self.max_model_len = n if self.max_model_len is None else min(self.max_model_len, n)

    # ------------------------------------------------------------ prompts
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def count_tokens(self, text: str) -> int:
        return len(encode(self.tokenizer, text))

    def _texts(self, prompts: Sequence[Prompt]) -> list[str | list[int]]:
        """What goes into each request's ``prompt`` field: the rendered text, or token ids.

        A ``Continuation`` is sent as token ids (the completions API takes a list of ints), so the server
        sees its two pieces tokenized apart, as the in-process engines do; anything else is sent as text.
        """
        texts: list[str | list[int]] = [
            prompt_token_ids(self.tokenizer, p) if isinstance(p, Continuation) else self.render(p) for p in prompts
        ]
        if self.max_model_len is not None:
            for t in texts:
                check_prompt_length(self._n_tokens(t), self.max_model_len, f"{self.model} at {self.base_url}")
        return texts

    def _n_tokens(self, prompt: str | list[int]) -> int:
        return len(prompt) if isinstance(prompt, list) else self.count_tokens(prompt)

    # ------------------------------------------------------------ Engine API
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        plist = request_params(prompts, params)
        if not prompts:
            return []
        return self._loop.run(self._generations(self._texts(prompts), plist, session_keys(sessions, len(prompts))))

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        """``generate`` for an event loop (see the module doc)."""
        plist = request_params(prompts, params)
        if not prompts:
            return []
        keys = session_keys(sessions, len(prompts))
        return await self._loop.run_async(self._generations(self._texts(prompts), plist, keys))

    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        if not prompts:
            return []
        return self._loop.run(self._scores(self._texts(prompts), session_keys(sessions, len(prompts))))

    async def ascore_digits(
        self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None
    ) -> list[ScoreResult]:
        """``score_digits`` for an event loop (see the module doc)."""
        if not prompts:
            return []
        keys = session_keys(sessions, len(prompts))
        return await self._loop.run_async(self._scores(self._texts(prompts), keys))

    # ------------------------------------------------------------ requests (on the engine's loop)
    async def _generations(
        self, texts: list[str | list[int]], plist: list[SamplingParams], keys: list[str | None]
    ) -> list[GenerationResult]:
        return await gather_all([self._generation(t, p, k) for t, p, k in zip(texts, plist, keys)])

    def requests_in_flight(self) -> int | None:
        """Requests on the wire: a cancelled one leaves the count when its connection is dropped (vLLM's
        server aborts a request whose client went away)."""
        return self._on_wire

    async def _send(self, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        self._on_wire += 1
        try:
            return await self.pool.request("POST", "/completions", body, key)
        finally:
            self._on_wire -= 1

    async def _generation(self, text: str | list[int], p: SamplingParams, key: str | None) -> GenerationResult:
        data = await self._send(generation_body(self.model, text, p), key)
        try:
            choice = data["choices"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineError(f"{self.base_url}/completions answered without choices: {str(data)[:300]}") from exc
        out = choice.get("text") or ""
        stop_reason = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
        out, hit = truncate_at_stop(out, p.stop)  # servers exclude stop strings; make sure
        usage = data.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return GenerationResult(
            text=out,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_tokens=int(prompt_tokens) if prompt_tokens is not None else self._n_tokens(text),
            completion_tokens=int(completion_tokens) if completion_tokens is not None else self.count_tokens(out),
            cached_prompt_tokens=int(cached) if cached is not None else None,
            stop_reason=stop_reason or hit,
        )

    async def _scores(self, texts: list[str | list[int]], keys: list[str | None]) -> list[ScoreResult]:
        return await gather_all([self._score(t, k) for t, k in zip(texts, keys)])

    async def _score(self, text: str | list[int], key: str | None) -> ScoreResult:
        restricted = self._send_vllm_extras
        try:
            data = await self._send(scoring_body(self.model, text, self._digit_ids if restricted else None), key)
        except RequestRejected as exc:
            if not (restricted and names_digit_fields(exc)):
                raise
            if self._send_vllm_extras:
                log.warning("%s rejected vLLM's digit restriction (%s); scoring with plain logprobs from now on",
                            exc.url, exc.message)
                self._send_vllm_extras = False
            data = await self._send(scoring_body(self.model, text, None), key)
        try:
            top = (data["choices"][0].get("logprobs") or {}).get("top_logprobs") or [{}]
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise EngineError(f"{self.base_url}/completions answered without logprobs: {str(data)[:300]}") from exc
        lps = self._digit_logprobs(top[0] or {})
        if any(lp is None for lp in lps):
            self.partial_digit_scores += 1
        usage = data.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        pt = usage.get("prompt_tokens")
        return ScoreResult(
            probs=normalise_digit_logprobs(lps),
            prompt_tokens=int(pt) if pt is not None else self._n_tokens(text),
            cached_prompt_tokens=int(cached) if cached is not None else None,
        )

    def _digit_logprobs(self, top: dict[str, float]) -> list[float | None]:
        lps: list[float | None] = [None] * 10
        for key, lp in top.items():
            if key in DIGITS:
                lps[int(key)] = lp
            elif key.startswith("token_id:"):
                try:
                    tid = int(key.split(":", 1)[1])
                except ValueError:
                    continue
                if tid in self._digit_ids:
                    lps[self._digit_ids.index(tid)] = lp
        return lps

    # ------------------------------------------------------------ the rest
    def info(self) -> ModelInfo:
        if self._info is None:
            cfg = None
            for ref in (self.tokenizer_name, self.model):
                if ref and (looks_like_path(ref) or "/" in ref):
                    cfg = load_config(ref)
                    if cfg is not None:
                        break
            self._info = model_info_from_config(cfg, str(self.model), self.max_model_len)
            self._info.extra.update(backend="openai", base_url=self.base_url)
        return self._info

    def close(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is None or loop.loop.is_closed():
            return
        pool = getattr(self, "pool", None)
        if pool is not None:
            try:
                loop.run(pool.aclose())
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
        loop.close()
