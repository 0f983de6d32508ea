"""What every engine does the same way: rendering prompts, tokenizing, digits, model info.

Rendering rule (all engines): a ``str`` prompt is used as is; a ``ChatPrompt``
goes through the tokenizer's own chat template with the generation prompt
added. With ``continue_final=True`` the messages before the last one are
rendered with ``add_generation_prompt=True`` and the last (assistant)
message's content is appended verbatim, so a reasoning model whose generation
prompt ends in ``<think>\\n`` continues its own thought. (The templates'
``continue_final_message`` is not used: Qwen templates strip and reshape
``<think>`` blocks of assistant turns.)

Token rule (all engines): the ids fed to the model are
``tokenizer(rendered, add_special_tokens=False)``: the chat template already
writes any BOS token, and the same rule everywhere keeps token counts equal
across engines.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import dataclasses

from ssr.engines.base import ChatPrompt, Continuation, EngineError, ModelInfo, Prompt, SamplingParams, per_prompt_params

DIGITS = tuple(str(d) for d in range(10))


# ---------------------------------------------------------------- model references
def looks_like_path(ref: str) -> bool:
    """True when ``ref`` names a local folder rather than a hub id like ``org/name``."""
    return (
        ref.startswith(("/", "./", "../", "~", ".\\"))
        or os.path.isabs(ref)
        or ref.count("/") > 1
        or os.path.exists(os.path.expanduser(ref))
    )


def check_model_ref(ref: str | os.PathLike[str] | None, what: str = "model") -> str:
    """Return ``ref`` as a string; raise ``EngineError`` naming it when a local path is missing."""
    if ref is None or str(ref).strip() == "":
        raise EngineError(f"no {what} given")
    ref = os.fspath(ref)
    if looks_like_path(ref):
        path = Path(ref).expanduser()
        if not path.exists():
            raise EngineError(f"{what} path does not exist: {path}")
        if path.is_dir() and what == "model" and not (path / "config.json").is_file():
            raise EngineError(f"{what} folder {path} holds no config.json (not a transformers model folder)")
        return str(path)
    return ref


def load_tokenizer(ref: str | os.PathLike[str], what: str = "tokenizer"):
    """``AutoTokenizer`` for a local folder or a hub id, with a clear ``EngineError`` on failure."""
    ref = check_model_ref(ref, what)
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(ref)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds (OSError, ValueError, ...)
        raise EngineError(f"could not load the {what} {ref!r}: {exc}") from exc


def load_config(ref: str | os.PathLike[str]) -> Any:
    """The model's ``AutoConfig`` (or ``None`` when it cannot be read offline)."""
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(os.fspath(ref))
    except Exception:  # noqa: BLE001
        path = Path(os.fspath(ref)).expanduser() / "config.json"
        if path.is_file():
            return json.loads(path.read_text())
        return None


# ---------------------------------------------------------------- rendering
def render_chat(tokenizer: Any, chat: ChatPrompt) -> str:
    """Render ``chat`` with the tokenizer's chat template (see the module docstring)."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise EngineError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; "
            "pass plain-text prompts or a tokenizer that has one (--target_tokenizer / --draft_tokenizer)"
        )
    messages = [dict(m) for m in chat.messages]
    if not chat.continue_final:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError("ChatPrompt(continue_final=True) needs a final assistant message to continue")
    head = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    return head + messages[-1].get("content", "")


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, ChatPrompt):
        return render_chat(tokenizer, prompt)
    if isinstance(prompt, Continuation):
        return render_prompt(tokenizer, prompt.prompt) + prompt.text
    raise TypeError(f"a prompt is a str, a ChatPrompt or a Continuation, got {type(prompt).__name__}")


def encode(tokenizer: Any, text: str) -> list[int]:
    """The token ids an engine feeds the model for ``text`` (no special tokens added)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_token_ids(tokenizer: Any, prompt: Prompt) -> list[int]:
    """The ids fed to the model for ``prompt``: its rendering encoded, a ``Continuation`` piece by piece."""
    if isinstance(prompt, Continuation):
        return prompt_token_ids(tokenizer, prompt.prompt) + (encode(tokenizer, prompt.text) if prompt.text else [])
    return encode(tokenizer, render_prompt(tokenizer, prompt))


def digit_token_ids(tokenizer: Any) -> list[int]:
    """Token ids of the single characters ``"0"`` .. ``"9"``; ``EngineError`` if one is not a single token."""
    ids = []
    for d in DIGITS:
        toks = encode(tokenizer, d)
        if len(toks) != 1:
            raise EngineError(
                f"digit {d!r} is not a single token for tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} "
                f"(it encodes to {toks}); digit scoring needs one token per digit"
            )
        ids.append(toks[0])
    if len(set(ids)) != 10:
        raise EngineError(f"digits map to repeated token ids {ids}")
    return ids


def normalise_digit_logprobs(logprobs: Sequence[float | None]) -> list[float]:
    """Ten log-probabilities (``None`` or -inf = missing) -> probabilities summing to 1."""
    finite = [lp for lp in logprobs if lp is not None and math.isfinite(lp)]
    if not finite:
        raise EngineError("no digit received a finite log-probability")
    top = max(finite)
    weights = [math.exp(lp - top) if lp is not None and math.isfinite(lp) else 0.0 for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def check_prompt_length(n_tokens: int, max_model_len: int | None, name: str) -> None:
    """Raise ``EngineError`` when a prompt leaves no room for one generated token."""
    if max_model_len is not None and n_tokens >= max_model_len:
        raise EngineError(
            f"prompt of {n_tokens} tokens is too long for {name}: max_model_len is {max_model_len} "
            f"(the prompt must be shorter, to leave room for at least one new token)"
        )


def truncate_at_stop(text: str, stops: Sequence[str], start: int = 0) -> tuple[str, str | None]:
    """Cut ``text`` before the first stop string found at or after ``start``.

    Stop strings are checked in the order given, as vLLM does; returns the
    (possibly shortened) text and the stop string that matched, or ``None``.
    """
    for s in stops:
        if not s:
            continue
        i = text.find(s, max(0, start))
        if i != -1:
            return text[:i], s
    return text, None


def request_params(
    prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
) -> list[SamplingParams]:
    """One ``SamplingParams`` per prompt, with the seed rule every engine follows.

    * params shared by the whole batch (a single ``SamplingParams``) with
      ``seed=s``: request ``i`` is sampled with seed ``s + i``, so parallel
      paths sent as one batch differ;
    * params given per prompt: each request uses its own seed unchanged (the
      caller chose it, e.g. from the request's identity), so a result never
      depends on which other requests share the batch;
    * ``seed=None``: unseeded (not reproducible unless temperature is 0).

    At temperature 0 decoding is greedy and the seed plays no part.
    """
    if isinstance(params, SamplingParams):
        if params.seed is None:
            return [params] * len(prompts)
        return [dataclasses.replace(params, seed=params.seed + i) for i in range(len(prompts))]
    return per_prompt_params(prompts, params)


# ---------------------------------------------------------------- model info
def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def model_info_from_config(cfg: Any, name: str, max_model_len: int | None = None) -> ModelInfo:
    """``ModelInfo`` of a dense Qwen2/Qwen3/Llama/Mistral-style decoder, computed from its config.

    ``n_params`` = layers * (attention + MLP + 2 norms) + final norm + LM head:
    every parameter a token's forward pass multiplies by, i.e. all but the
    input embedding table. The LM head is counted even when tied to the input
    embeddings (it is still a matmul per token). ``extra`` holds the breakdown.
    A config that lacks the shape fields gives a ModelInfo of zeros.
    """
    if cfg is None:
        return ModelInfo(name=name, n_params=0, n_layers=0, hidden_size=0, max_model_len=max_model_len)
    text_cfg = _get(cfg, "text_config")
    if text_cfg is not None and _get(cfg, "hidden_size") is None:
        cfg = text_cfg
    h = int(_get(cfg, "hidden_size") or 0)
    n_layers = int(_get(cfg, "num_hidden_layers") or 0)
    n_heads = int(_get(cfg, "num_attention_heads") or 0)
    n_kv = int(_get(cfg, "num_key_value_heads") or n_heads)
    head_dim = int(_get(cfg, "head_dim") or (h // n_heads if n_heads else 0))
    inter = int(_get(cfg, "intermediate_size") or 0)
    vocab = int(_get(cfg, "vocab_size") or 0)
    model_type = str(_get(cfg, "model_type") or "")
    if not (h and n_layers and n_heads and inter):
        return ModelInfo(
            name=name, n_params=0, n_layers=n_layers, hidden_size=h, n_heads=n_heads, n_kv_heads=n_kv,
            head_dim=head_dim, vocab_size=vocab, max_model_len=max_model_len,
            extra={"model_type": model_type, "note": "config lacks shape fields; n_params unknown"},
        )
    q, kv = n_heads * head_dim, n_kv * head_dim
    attn = h * q + 2 * h * kv + q * h
    if model_type == "qwen2":  # q/k/v biases, no o_proj bias
        attn += q + 2 * kv
    elif _get(cfg, "attention_bias", False):  # llama-style: biases on q, k, v and o
        attn += q + 2 * kv + h
    if model_type.startswith("qwen3"):  # per-head RMSNorm of queries and keys
        attn += 2 * head_dim
    mlp = 3 * h * inter + ((2 * inter + h) if _get(cfg, "mlp_bias", False) else 0)
    norms = 2 * h
    per_layer = attn + mlp + norms
    lm_head = vocab * h
    n_params = n_layers * per_layer + h + lm_head
    if max_model_len is None:
        max_model_len = _get(cfg, "max_position_embeddings")
    extra = {
        "model_type": model_type,
        "intermediate_size": inter,
        "params_per_layer": per_layer,
        "lm_head_params": lm_head,
        "embedding_params": vocab * h,
        "tie_word_embeddings": bool(_get(cfg, "tie_word_embeddings", False)),
        "counted_from": "config",
    }
    if _get(cfg, "num_experts") or _get(cfg, "num_local_experts") or _get(cfg, "n_routed_experts"):
        extra["note"] = "mixture-of-experts config: n_params counts one dense MLP per layer (approximate)"
    return ModelInfo(
        name=name, n_params=int(n_params), n_layers=n_layers, hidden_size=h, n_heads=n_heads,
        n_kv_heads=n_kv, head_dim=head_dim, vocab_size=vocab, max_model_len=max_model_len, extra=extra,
    )
