"""Engines: vLLM in-process (``vllm``), an OpenAI-compatible server (``openai``), transformers (``hf``).

``ssr.plan.build_engines(cfg, need_draft, plan)`` is the one place a run turns its
``RunConfig`` and its plan into loaded models; this package knows neither. Backends
import lazily: importing this package never imports vLLM or torch.

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
    "default_backend",
    "installed",
]


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def default_backend() -> str:
    """``"vllm"`` when vLLM is installed, else ``"hf"`` (transformers)."""
    return "vllm" if installed("vllm") else "hf"
