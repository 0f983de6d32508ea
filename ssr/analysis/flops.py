"""Compute accounting: the paper's normalised FLOPs (gamma) and a processed-token count.

Two views, reported side by side:

* ``gamma_*``: the SSR paper's analytic model (its Appendix B, implemented from
  the description of that appendix: the text itself was not available here).
  Cost is normalised so that one target-only reasoning path costs 1::

      gamma_base     = 1
      gamma_parallel = N
      gamma_spec     = N * beta * (R + (1 - R) * alpha)

  ``N`` paths, ``beta`` the measured generated-length ratio against the
  matching baseline, ``R`` the rewrite rate (fraction of steps the target
  rewrote) and ``alpha`` the draft/target per-token cost ratio. The model
  treats the target's step scoring as free and counts each token once.

* ``processed_flops``: every token each model actually pushed through its
  forward pass (prompt prefill not served from the prefix cache, generated
  tokens, and the target's scoring passes), times that model's per-token cost.
  Normalised by the same quantity of the target-only baseline run it shows
  what the analytic model leaves out.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ssr.records import Usage

DEFAULT_CONTEXT_LEN = 4096


def gamma_base() -> float:
    return 1.0


def gamma_parallel(n_paths: float) -> float:
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    return float(n_paths)


def gamma_spec(n_paths: float, beta: float, rewrite_rate: float, alpha: float) -> float:
    """``N * beta * (R + (1 - R) * alpha)``: target cost on rewritten steps, draft cost on the rest."""
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    if beta < 0 or alpha < 0:
        raise ValueError(f"beta and alpha must be >= 0 (got beta={beta}, alpha={alpha})")
    if not 0.0 <= rewrite_rate <= 1.0:
        raise ValueError(f"rewrite_rate must be in [0, 1], got {rewrite_rate}")
    return float(n_paths * beta * (rewrite_rate + (1.0 - rewrite_rate) * alpha))


def _info_dict(info: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(info) and not isinstance(info, type):
        return dataclasses.asdict(info)
    if isinstance(info, Mapping):
        return dict(info)
    raise TypeError(f"expected a ModelInfo or a dict, got {type(info).__name__}")


def flops_per_token(info: Any, context_len: int) -> float:
    """Forward FLOPs for one token at position ``context_len`` (Kaplan et al. 2020, Table 1)::

        2 * n_params + 2 * n_layers * context_len * d_attn,   d_attn = n_heads * head_dim

    ``n_params`` excludes the input embedding table (a lookup, not a matmul).
    The first term is the weight matmuls, the second the attention scores and
    the weighted sum over the cached keys and values. ``d_attn`` falls back to
    ``hidden_size`` when the head shape is not recorded.
    """
    d = _info_dict(info)
    missing = [k for k in ("n_params", "n_layers") if not d.get(k)]
    if missing:
        raise ValueError(f"model info of {d.get('name', '?')!r} lacks {', '.join(missing)}")
    if context_len < 0:
        raise ValueError(f"context_len must be >= 0, got {context_len}")
    d_attn = (d.get("n_heads") or 0) * (d.get("head_dim") or 0) or (d.get("hidden_size") or 0)
    return float(2 * d["n_params"] + 2 * d["n_layers"] * context_len * d_attn)


def alpha_from_models(draft_info: Any, target_info: Any, context_len: int = DEFAULT_CONTEXT_LEN) -> float:
    """Draft/target per-token cost ratio at the same context length."""
    return flops_per_token(draft_info, context_len) / flops_per_token(target_info, context_len)


def processed_tokens(model_usage: Usage | None) -> dict[str, int]:
    """Tokens one model ran through its forward pass, by kind (cache hits excluded)."""
    u = model_usage or Usage()
    prefill = max(u.prompt_tokens - u.cached_prompt_tokens, 0)
    scoring = max((u.scoring_prompt_tokens or 0) - (u.scoring_cached_prompt_tokens or 0), 0)
    generated = u.generated_tokens or 0
    return {"prefill": prefill, "generated": generated, "scoring": scoring, "total": prefill + generated + scoring}


def processed_flops(
    usage: Mapping[str, Usage],
    models: Mapping[str, Any],
    context_len: int = DEFAULT_CONTEXT_LEN,
) -> dict[str, Any]:
    """Processed tokens and FLOPs per model for one result record.

    ``usage`` and ``models`` are the record's fields of those names. A model
    whose ``ModelInfo`` is missing gets ``flops: None`` (and so does the total)
    rather than a guessed cost; a model with no usage costs 0.
    Returns ``{"target": {...tokens, "flops"}, "draft": {...}, "total_flops"}``.
    """
    out: dict[str, Any] = {}
    total: float | None = 0.0
    for role in ("target", "draft"):
        tokens = processed_tokens((usage or {}).get(role))
        info = (models or {}).get(role)
        if tokens["total"] == 0:
            flops: float | None = 0.0
        elif info:
            flops = tokens["total"] * flops_per_token(info, context_len)
        else:
            flops = None
        out[role] = {**tokens, "flops": flops}
        total = None if (total is None or flops is None) else total + flops
    out["total_flops"] = total
    return out
