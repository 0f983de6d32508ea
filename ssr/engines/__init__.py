"""Engines: vLLM in-process (``vllm``), an OpenAI-compatible server (``openai``), transformers (``hf``).

``build_engines(cfg, need_draft)`` is the one place a run turns its
``RunConfig`` into loaded models. Backends import lazily: importing this
package never imports vLLM or torch.

Conventions every backend follows (tested in ``tests/test_engines.py``):

* prompts: ``str`` as is; ``ChatPrompt`` through the tokenizer's chat template,
  ``continue_final`` appending the partial assistant text verbatim; the model
  gets ``tokenizer(text, add_special_tokens=False)`` (``ssr.engines.conventions``);
* ``generate``: one batched call; stop strings end generation and are not in
  the text; ``finish_reason`` "stop" (stop string or EOS) or "length"
  (``max_tokens``, or the end of ``max_model_len``); token counts are the
  model's own; ``cached_prompt_tokens`` from vLLM's prefix cache (None for hf);
* seeds: shared params with ``seed=s`` -> request ``i`` uses ``s + i``; params
  given per prompt -> each request's own seed. Temperature 0 is greedy and
  deterministic. The same seed gives the same text on vLLM and on a vLLM
  server, but not on transformers (a different sampler);
* ``score_digits``: one forward pass per prompt, softmax over the logits of
  the ten digit tokens;
* failures: ``EngineError`` naming the missing path, the lengths, or the URL.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from ssr.engines.base import (
    ChatPrompt,
    Engine,
    EngineError,
    EngineGone,
    GenerationResult,
    ModelInfo,
    Prompt,
    SamplingParams,
    ScoreResult,
)

BACKENDS = ("vllm", "openai", "hf")

__all__ = [
    "BACKENDS",
    "ChatPrompt",
    "Engine",
    "EngineError",
    "EngineGone",
    "GenerationResult",
    "ModelInfo",
    "Prompt",
    "SamplingParams",
    "ScoreResult",
    "build_engine",
    "build_engines",
    "default_backend",
]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def default_backend() -> str:
    """``"vllm"`` when vLLM is installed, else ``"hf"`` (transformers)."""
    return "vllm" if _installed("vllm") else "hf"


def _role_fields(role: str, cfg: Any) -> tuple[str, str | None, float, str | None]:
    if role == "target":
        return cfg.target_model, cfg.target_tokenizer, cfg.target_gpu_memory_utilization, cfg.target_base_url
    if role == "draft":
        return cfg.draft_model, cfg.draft_tokenizer, cfg.draft_gpu_memory_utilization, cfg.draft_base_url
    raise ValueError(f"role must be 'target' or 'draft', got {role!r}")


def _vllm_plan(role: str, cfg: Any, plan: Any) -> Any:
    """The role's ``ssr.plan.EnginePlan``: the given plan's, else one made now (a PlanError reads as an
    EngineError here, so callers that predate the plan report it as they report a failed load)."""
    if plan is not None and role in plan.engines:
        return plan.engines[role]
    from ssr.plan import PlanError, make_plan

    try:
        return make_plan(cfg, roles=[role]).engines[role]
    except PlanError as exc:
        raise EngineError(str(exc)) from exc


def build_engine(role: str, cfg: Any, plan: Any = None) -> Engine:
    """Load the ``role`` ("target" or "draft") model of ``cfg`` (an ``ssr.config.RunConfig``, resolved by
    ``ssr.config.resolve``) on ``cfg.backend``.

    * ``vllm``: ``VLLMEngine`` with exactly the engine arguments and environment of the role's
      ``ssr.plan.EnginePlan`` (``plan``, an ``ssr.plan.RunPlan``; made here when not given): TP, GPUs,
      memory share, KV size (1 GiB by default on CPU, where ``dtype="auto"`` means float32), and any
      ``--*_engine_args``.
    * ``openai``: ``OpenAIEngine`` on ``*_base_url`` (required), serving
      ``*_model``; the tokenizer (``*_tokenizer``, else ``*_model``) renders
      prompts locally; the API key is read from ``$<api_key_env>`` when set.
    * ``hf``: ``HFEngine`` on ``cfg.device`` (default: cuda when available).
    """
    backend = cfg.backend
    model, tokenizer, mem, base_url = _role_fields(role, cfg)
    if backend == "vllm":
        if not _installed("vllm"):
            raise EngineError(
                "backend 'vllm' is not installed: `pip install vllm` (GPU) or `bash scripts/install_cpu.sh` "
                "(CPU-only machines); or use --backend hf (transformers) or --backend openai (a running server)"
            )
        from ssr.engines.vllm_engine import VLLMEngine

        engine_plan = _vllm_plan(role, cfg, plan)
        where = f"{engine_plan.where()} (TP {engine_plan.tensor_parallel_size})"
        return VLLMEngine(engine_args=engine_plan.engine_args, env=engine_plan.env, role=role, where=where)
    if backend == "openai":
        from ssr.config import base_urls

        if not base_urls(base_url):
            raise EngineError(f"backend 'openai' needs --{role}_base_url (e.g. http://127.0.0.1:8000/v1)")
        from ssr.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(
            base_urls(base_url),
            model,
            tokenizer=tokenizer or model,
            role=role,
            api_key=os.environ.get(cfg.api_key_env) if cfg.api_key_env else None,
            timeout=cfg.request_timeout,
            max_inflight=cfg.max_inflight,
            wait_for_server=cfg.wait_for_server,
            session_header=cfg.session_header,
            max_model_len=cfg.max_model_len,
        )
    if backend == "hf":
        if not (_installed("torch") and _installed("transformers")):
            raise EngineError("backend 'hf' needs torch and transformers: pip install torch transformers")
        from ssr.engines.hf_engine import HFEngine

        return HFEngine(model, tokenizer=tokenizer, device=cfg.device, dtype=cfg.dtype, max_model_len=cfg.max_model_len)
    raise EngineError(
        f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} (ssr.config.resolve picks the default)"
    )


def build_engines(cfg: Any, need_draft: bool, plan: Any = None) -> tuple[Engine, Engine | None]:
    """``(target, draft)``; draft is None unless ``need_draft``. Target loads first (largest share first).
    ``plan``: the run's ``ssr.plan.RunPlan`` (made here when not given, for the vLLM backend)."""
    if plan is None and cfg.backend == "vllm" and _installed("vllm"):
        from ssr.plan import PlanError, make_plan

        try:
            plan = make_plan(cfg, roles=["target", "draft"] if need_draft else ["target"])
        except PlanError as exc:
            raise EngineError(str(exc)) from exc
    target = build_engine("target", cfg, plan)
    if not need_draft:
        return target, None
    try:
        draft = build_engine("draft", cfg, plan)
    except BaseException:
        target.close()
        raise
    return target, draft
