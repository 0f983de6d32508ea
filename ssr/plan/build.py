"""Building the engines a run's plan describes: the one place a ``RunConfig`` and its ``RunPlan`` become
loaded models (the engines themselves know neither)."""

from __future__ import annotations

import os
from typing import Any

from ssr.config import base_urls
from ssr import engines
from ssr.engines import BACKENDS, Engine, EngineError
from ssr.plan.errors import PlanError
from ssr.plan.layout import make_plan


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
    try:
        return make_plan(cfg, roles=[role]).engines[role]
    except PlanError as exc:
        raise EngineError(str(exc)) from exc


def _async(cfg: Any) -> bool:
    return getattr(cfg, "schedule", "lockstep") == "async"


def build_engine(role: str, cfg: Any, plan: Any = None) -> Engine:
    """Load the ``role`` ("target" or "draft") model of ``cfg`` (an ``ssr.config.RunConfig``, resolved by
    ``ssr.config.resolve``) on ``cfg.backend``.

    * ``vllm``: ``VLLMEngine`` (``VLLMAsyncEngine`` under ``--schedule async``, on the plan's ``cpus`` on CPU)
      with exactly the engine arguments and environment of the role's
      ``ssr.plan.EnginePlan`` (``plan``, an ``ssr.plan.RunPlan``; made here when not given): TP, GPUs,
      memory share, KV size (1 GiB by default on CPU, where ``dtype="auto"`` means float32), and any
      ``--*_engine_args``.
    * ``openai``: ``OpenAIEngine`` on ``*_base_url`` (required), serving
      ``*_model``; the tokenizer (``*_tokenizer``, else ``*_model``) renders
      prompts locally; the API key is read from ``$<api_key_env>`` when set.
    * ``hf``: ``HFEngine`` on ``cfg.device`` (default: cuda when available); refused under ``--schedule async``.
    """
    backend = cfg.backend
    model, tokenizer, mem, base_url = _role_fields(role, cfg)
    if backend == "vllm":
        if not engines.installed("vllm"):
            raise EngineError(
                "backend 'vllm' is not installed: `pip install vllm` (GPU) or `bash scripts/install_cpu.sh` "
                "(CPU-only machines); or use --backend hf (transformers) or --backend openai (a running server)"
            )
        engine_plan = _vllm_plan(role, cfg, plan)
        where = f"{engine_plan.where()} (TP {engine_plan.tensor_parallel_size})"
        if _async(cfg):
            from ssr.engines.vllm_async import VLLMAsyncEngine

            return VLLMAsyncEngine(
                engine_args=engine_plan.engine_args, env=engine_plan.env, role=role, where=where, cpus=engine_plan.cpus
            )
        from ssr.engines.vllm_engine import VLLMEngine

        return VLLMEngine(engine_args=engine_plan.engine_args, env=engine_plan.env, role=role, where=where)
    if backend == "openai":
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
        if _async(cfg):
            raise EngineError(
                "--schedule async needs two engines working at once, and the transformers backend (hf, chosen here "
                "because vLLM is not installed or was not asked for) runs one model at a time in this process: install "
                "vLLM (bash scripts/install_cpu.sh on CPU), use servers (--backend openai), or --schedule lockstep"
            )
        if not (engines.installed("torch") and engines.installed("transformers")):
            raise EngineError("backend 'hf' needs torch and transformers: pip install torch transformers")
        from ssr.engines.hf_engine import HFEngine

        return HFEngine(model, tokenizer=tokenizer, device=cfg.device, dtype=cfg.dtype, max_model_len=cfg.max_model_len)
    raise EngineError(
        f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} (ssr.config.resolve picks the default)"
    )


def build_engines(cfg: Any, need_draft: bool, plan: Any = None) -> tuple[Engine, Engine | None]:
    """``(target, draft)``; draft is None unless ``need_draft``. Target loads first (largest share first).
    ``plan``: the run's ``ssr.plan.RunPlan`` (made here when not given, for the vLLM backend)."""
    if plan is None and cfg.backend == "vllm" and engines.installed("vllm"):
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
