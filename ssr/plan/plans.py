"""What a plan holds: one ``EnginePlan`` per engine and the ``RunPlan`` around them (JSON and a few lines)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ssr.plan.cpus import format_cpus
from ssr.plan.hardware import GIB, Hardware


@dataclass
class EnginePlan:
    """One engine as it will start: where, how large, and the exact arguments it gets.

    Byte figures are per GPU (one tensor-parallel rank); ``kv_capacity_tokens`` is the whole engine's
    (every rank holds its share of every token). ``engine_args`` are exactly the keyword arguments
    handed to ``vllm.LLM``; ``env`` the environment variables set while the engine lives; ``cpus`` the
cores its processes are pinned to (``ssr.plan.cpus``).
    """

    role: str
    model: str
    backend: str
    gpus: list[int] | None = None
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    dtype: str | None = None
    max_model_len: int | None = None
    n_params: int | None = None
    weight_bytes: int | None = None
    activation_bytes: int | None = None
    kv_bytes_per_token: int | None = None
    kv_cache_bytes: int | None = None
    kv_capacity_tokens: int | None = None
    block_size: int | None = None
    device: str | None = None
    base_urls: list[str] | None = None
    #: the CPU cores the engine's processes are confined to (``--schedule async`` with vLLM on CPU); None: not pinned
    cpus: list[int] | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in vars(self).items()}

    def where(self) -> str:
        if self.backend == "openai":
            return ", ".join(self.base_urls or []) or "no URL"
        if self.backend == "hf":
            return self.device or "default device"
        if not self.gpus:
            return f"CPU cores {format_cpus(self.cpus)}" if self.cpus else "CPU"
        ids = self.gpus
        if len(ids) > 1 and ids == list(range(ids[0], ids[-1] + 1)):
            return f"GPUs {ids[0]}-{ids[-1]}"
        return ("GPU " if len(ids) == 1 else "GPUs ") + ",".join(map(str, ids))

    def summary_line(self) -> str:
        head = f"{self.role} {self.model} [{self.backend}] on {self.where()}"
        if self.backend != "vllm":
            return head
        head += f" (TP {self.tensor_parallel_size}, {self.dtype})"
        parts = []
        if self.gpus:
            parts.append(f"share {self.gpu_memory_utilization:.2f}")
        if self.weight_bytes is not None:
            parts.append(f"weights {_gib(self.weight_bytes)}")
        if self.activation_bytes:
            parts.append(f"activations ~{_gib(self.activation_bytes)}")
        if self.kv_cache_bytes is not None:
            parts.append(f"KV {_gib(self.kv_cache_bytes)}" + ("/GPU" if self.gpus else ""))
        if self.kv_capacity_tokens is not None:
            parts.append(f"{_tokens(self.kv_capacity_tokens)} tokens")
        return head + ": " + ", ".join(parts)


@dataclass
class RunPlan:
    method: str
    backend: str
    hardware: Hardware
    engines: dict[str, EnginePlan]
    concurrency: int
    requested_concurrency: int
    paths_per_problem: int
    tokens_per_path: int
    prompt_format: str
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)

    @property
    def tokens_per_problem(self) -> int:
        return self.paths_per_problem * self.tokens_per_path

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "backend": self.backend,
            "hardware": self.hardware.to_dict(),
            "engines": {role: e.to_dict() for role, e in self.engines.items()},
            "concurrency": self.concurrency,
            "requested_concurrency": self.requested_concurrency,
            "paths_per_problem": self.paths_per_problem,
            "tokens_per_path": self.tokens_per_path,
            "tokens_per_problem": self.tokens_per_problem,
            "prompt_format": self.prompt_format,
            "notes": list(self.notes),
            "versions": dict(self.versions),
        }

    def summary_lines(self) -> list[str]:
        hw = self.hardware
        if hw.gpus:
            names = sorted({g.name for g in hw.gpus})
            gpus = f"{hw.count} x {'/'.join(names)} ({hw.gpus[0].memory_gib:.1f} GiB)"
            gpus += " (assumed)" if hw.assumed and "assumed" not in gpus else ""
        else:
            gpus = "no GPU"
        lines = [
            f"plan: {self.method} on {self.backend}, {gpus}; {self.concurrency} problems at once "
            f"({self.paths_per_problem} paths x ~{_tokens(self.tokens_per_path)} tokens), prompts {self.prompt_format}"
        ]
        lines += ["  " + e.summary_line() for e in self.engines.values()]
        notes = self.notes + [f"{e.role}: {n}" for e in self.engines.values() for n in e.notes]
        lines += [f"  note: {n}" for n in notes]
        return lines


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)
