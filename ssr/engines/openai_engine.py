"""An engine over an OpenAI-compatible server's ``/v1/completions`` (vLLM serve, SGLang, ...).

Chat templates are rendered here with the model's Hugging Face tokenizer and
the raw text is sent as a completion prompt (with ``add_special_tokens:
false``, the token rule of ``ssr.engines.conventions``), so the server needs no chat
support and every engine sees the same text. All requests of a batch are in
flight at once (a thread pool of ``max_concurrency`` workers); the server does
the batching.

Extras sent for vLLM servers, ignored by others:
``add_special_tokens``, and for digit scoring ``allowed_token_ids`` and
``logprob_token_ids`` (vLLM >= 0.3x returns the log-probabilities of exactly
the ten digit tokens). A server that answers without some digits in
``top_logprobs`` (it ignored ``logprob_token_ids``) gets its scores
renormalised over the digits it did return (missing digits count as 0;
``partial_digit_scores`` counts such answers); a server that rejects the
extras with HTTP 400 is asked again without them (plain ``logprobs=10``).

Prefix-cache hits come from ``usage.prompt_tokens_details.cached_tokens``:
start vLLM with ``--enable-prompt-tokens-details`` (otherwise it is None).

Failures: connection errors, timeouts, HTTP 429 and 5xx are retried with
exponential backoff (``retry_backoff`` * 2**attempt seconds, at most 30 s
apart, ``max_retries`` retries); then an ``EngineError`` names the URL.
Other HTTP errors raise an ``EngineError`` at once with the server's message.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


def api_root(base_url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` or ``http://host:8000/v1`` -> ``http://host:8000/v1``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url if url.endswith("/v1") else url + "/v1"


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class OpenAIEngine(Engine):
    backend = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None,
        *,
        tokenizer: str | None,
        api_key: str | None = None,
        timeout: float = 600.0,
        max_retries: int = 4,
        max_concurrency: int = 64,
        retry_backoff: float = 0.5,
        max_model_len: int | None = None,
    ) -> None:
        try:
            import requests
        except ImportError as exc:
            raise EngineError("the openai backend needs `requests`: pip install requests") from exc
        self._requests = requests
        self.base_url = api_root(base_url)
        self.model = model
        self.tokenizer_name = tokenizer or model
        if not self.tokenizer_name:
            raise EngineError(
                "the openai backend needs a tokenizer (name or folder) to render prompts and count tokens"
            )
        self.tokenizer = load_tokenizer(self.tokenizer_name)
        self._digit_ids = digit_token_ids(self.tokenizer)
        self.api_key = api_key
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = float(retry_backoff)
        self.max_concurrency = max(1, int(max_concurrency))
        self.max_model_len = max_model_len
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="ssr-openai")
        self._server_checked = False
        self._lock = threading.Lock()
        self._send_vllm_extras = True
        self.partial_digit_scores = 0
        self._info: ModelInfo | None = None

    # ------------------------------------------------------------ HTTP
    def _session(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._requests.Session()
            if self.api_key:
                s.headers["Authorization"] = f"Bearer {self.api_key}"
            self._local.session = s
        return s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + path
        requests = self._requests
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(MAX_BACKOFF_S, self.retry_backoff * 2 ** (attempt - 1)))
            try:
                resp = self._session().request(method, url, json=body, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = exc
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = _HTTPError(resp.status_code, resp.text[:500])
                continue
            if resp.status_code >= 400:
                try:
                    err = resp.json()
                    msg = err.get("message") or (err.get("error") or {}).get("message") or resp.text
                except ValueError:
                    msg = resp.text
                raise _HTTPError(resp.status_code, str(msg)[:1000])
            try:
                return resp.json()
            except ValueError as exc:
                raise EngineError(f"{url} answered with something that is not JSON: {resp.text[:200]!r}") from exc
        raise EngineError(
            f"OpenAI-compatible server at {url} did not answer after {self.max_retries + 1} attempts "
            f"(is it running?): {type(last).__name__}: {last}"
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._call("POST", path, body)
        except _HTTPError as exc:
            raise EngineError(f"{self.base_url + path} rejected the request: {exc}") from exc

    def _check_server(self) -> None:
        """Once: resolve the served model name and read ``max_model_len`` from ``/v1/models``."""
        if self._server_checked:
            return
        with self._lock:
            if self._server_checked:
                return
            try:
                data = self._call("GET", "/models")
            except _HTTPError as exc:
                log.warning("%s/models failed (%s); using model name %r as given", self.base_url, exc, self.model)
                self._server_checked = True
                return
            models = data.get("data") or []
            ids = [m.get("id") for m in models]
            if self.model not in ids:
                if self.model is None or len(ids) == 1:
                    if ids:
                        if self.model is not None:
                            log.warning(
                                "server at %s serves %r, not %r: using %r", self.base_url, ids[0], self.model, ids[0]
                            )
                        self.model = ids[0]
                elif ids:
                    raise EngineError(f"server at {self.base_url} does not serve {self.model!r}; it serves {ids}")
            entry = next((m for m in models if m.get("id") == self.model), None)
            if self.max_model_len is None and entry and entry.get("max_model_len"):
                self.max_model_len = int(entry["max_model_len"])
            self._server_checked = True

    # ------------------------------------------------------------ Engine API
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def count_tokens(self, text: str) -> int:
        return len(encode(self.tokenizer, text))

    def _texts(self, prompts: Sequence[Prompt]) -> list[str | list[int]]:
        """What goes into each request's ``prompt`` field: the rendered text, or token ids.

        A ``Continuation`` is sent as token ids (the completions API takes a list
        of ints), so the server sees its two pieces tokenized apart, as the
        in-process engines do; anything else is sent as text.
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

    def _map(self, fn: Any, items: list[Any]) -> list[Any]:
        if len(items) == 1:
            return [fn(items[0])]
        return list(self._pool.map(fn, items))

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        plist = request_params(prompts, params)
        if not prompts:
            return []
        self._check_server()
        texts = self._texts(prompts)

        def one(args: tuple[str | list[int], SamplingParams]) -> GenerationResult:
            text, p = args
            body: dict[str, Any] = {
                "model": self.model,
                "prompt": text,
                "max_tokens": p.max_tokens,
                "temperature": p.temperature,
                "top_p": p.top_p,
                "n": 1,
                "add_special_tokens": False,
            }
            if p.stop:
                body["stop"] = list(p.stop)
            if p.seed is not None:
                body["seed"] = p.seed
            data = self._post("/completions", body)
            return self._parse_completion(data, text, p)

        return self._map(one, list(zip(texts, plist)))

    def _parse_completion(
        self, data: dict[str, Any], prompt_text: str | list[int], p: SamplingParams
    ) -> GenerationResult:
        try:
            choice = data["choices"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineError(f"{self.base_url}/completions answered without choices: {str(data)[:300]}") from exc
        text = choice.get("text") or ""
        stop_reason = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
        text, hit = truncate_at_stop(text, p.stop)  # servers exclude stop strings; make sure
        stop_reason = stop_reason or hit
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens")
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return GenerationResult(
            text=text,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_tokens=int(prompt_tokens) if prompt_tokens is not None else self._n_tokens(prompt_text),
            completion_tokens=int(completion_tokens) if completion_tokens is not None else self.count_tokens(text),
            cached_prompt_tokens=int(cached) if cached is not None else None,
            stop_reason=stop_reason,
        )

    def _score_body(self, text: str | list[int]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": text,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": 10,
        }
        if self._send_vllm_extras:
            body.update(
                add_special_tokens=False,
                allowed_token_ids=list(self._digit_ids),
                logprob_token_ids=list(self._digit_ids),
            )
        return body

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

    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        if not prompts:
            return []
        self._check_server()
        texts = self._texts(prompts)

        def one(text: str | list[int]) -> ScoreResult:
            try:
                data = self._call("POST", "/completions", self._score_body(text))
            except _HTTPError as exc:
                if exc.status == 400 and self._send_vllm_extras:
                    log.warning(
                        "server at %s rejected vLLM's scoring extras (%s); retrying with plain logprobs",
                        self.base_url,
                        exc,
                    )
                    self._send_vllm_extras = False
                    data = self._post("/completions", self._score_body(text))
                else:
                    raise EngineError(f"{self.base_url}/completions rejected the scoring request: {exc}") from exc
            try:
                choice = data["choices"][0]
                top = (choice.get("logprobs") or {}).get("top_logprobs") or [{}]
            except (KeyError, IndexError, TypeError) as exc:
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

        return self._map(one, texts)

    def info(self) -> ModelInfo:
        if self._info is None:
            try:
                self._check_server()
            except EngineError:
                pass
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
        self._pool.shutdown(wait=False, cancel_futures=True)
