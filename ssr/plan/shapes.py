"""A model's shapes from its ``config.json``, and where to find that file without loading weights.

Where the plan looks, in order: ``--target_config`` / ``--draft_config`` (a file or a folder holding
``config.json``); the model itself when it is a local folder; the Hugging Face hub cache
(``huggingface_hub.try_to_load_from_cache``); else it downloads ``config.json`` alone
(``hf_hub_download``). Offline (``HF_HUB_OFFLINE``) or with no network it stops and says to pass
``--target_config PATH``. No weight file is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ssr.plan.errors import PlanError

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs of a decoder-only model (the Qwen2 layout: QwQ-32B, R1-Distill-Qwen)."""

    name: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int | None
    torch_dtype: str | None
    tied_embeddings: bool
    source: str

    @property
    def n_params(self) -> int:
        """Parameters of the Qwen2 layout: embeddings; per layer q/k/v projections with bias, o projection
        without, the gated MLP (gate, up, down) and two RMSNorms; the final norm; an untied lm_head."""
        h, q, kv = self.hidden_size, self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        attention = h * q + q + 2 * (h * kv + kv) + q * h
        per_layer = attention + 3 * h * self.intermediate_size + 2 * h
        embeddings = self.vocab_size * h * (1 if self.tied_embeddings else 2)
        return embeddings + self.num_layers * per_layer + h

    @property
    def replicated_params(self) -> int:
        """Parameters every tensor-parallel rank holds whole (the norms); the rest is split by TP."""
        return (2 * self.num_layers + 1) * self.hidden_size


def shape_from_config(config: Mapping[str, Any], name: str, source: str = "") -> ModelShape:
    """``config.json`` (a dict) -> ModelShape; a missing field is a PlanError naming it."""
    try:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        shape = ModelShape(
            name=name,
            hidden_size=hidden,
            intermediate_size=int(config["intermediate_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            vocab_size=int(config["vocab_size"]),
            max_position_embeddings=config.get("max_position_embeddings"),
            # transformers 5 writes "dtype", earlier versions "torch_dtype"
            torch_dtype=config.get("torch_dtype") or config.get("dtype"),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{name}: config.json ({source or 'given'}) lacks a field the plan needs: {exc}") from exc
    return shape


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _ask_for(role: str, model: str, why: str) -> PlanError:
    return PlanError(
        f"the plan needs {model}'s config.json ({why}): pass --{role}_config PATH (the file, or a folder "
        f"holding it; e.g. from the model card's files on huggingface.co/{model}) and rerun"
    )


def find_config(model: str, role: str, given: str | os.PathLike | None = None) -> tuple[dict, str]:
    """``(config dict, where it came from)`` for ``model``; reads or fetches ``config.json`` only."""
    if given:
        path = Path(given)
        path = path / CONFIG_NAME if path.is_dir() else path
        if not path.is_file():
            raise PlanError(f"--{role}_config {given}: no such file (give config.json or a folder holding it)")
        return _read(path), str(path)
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / CONFIG_NAME).is_file():
            raise PlanError(f"{model} is a folder without config.json: pass --{role}_config PATH")
        return _read(local / CONFIG_NAME), str(local / CONFIG_NAME)
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError:
        raise _ask_for(role, model, "huggingface_hub is not installed") from None
    cached = try_to_load_from_cache(model, CONFIG_NAME)
    if isinstance(cached, str) and Path(cached).is_file():
        return _read(Path(cached)), cached
    if _offline():
        raise _ask_for(role, model, "not in the hub cache, and HF_HUB_OFFLINE is set")
    try:
        path = hf_hub_download(model, CONFIG_NAME)
    except Exception as exc:  # noqa: BLE001 - no network, unknown repo, gated repo: all need the same answer
        raise _ask_for(role, model, f"could not download it: {type(exc).__name__}: {exc}") from exc
    return _read(Path(path)), path


def _read(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read {path} as JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise PlanError(f"{path} is not a JSON object")
    return value


def load_shape(model: str, role: str, given: Any = None) -> ModelShape:
    """The shape of ``model``: ``given`` may be a config dict (tests, callers that have one) or a path."""
    if isinstance(given, Mapping):
        return shape_from_config(given, model, "given")
    config, source = find_config(model, role, given)
    return shape_from_config(config, model, source)
