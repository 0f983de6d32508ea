"""What vLLM itself reported at start-up, read from a run folder's ``engine.log`` (``ssr.logs``).

The lines and their format strings, in vLLM 0.32's source:

* every engine: ``Initializing a V1 LLM engine (v%s) with config: model=%r, ...`` (``v1/engine/core.py``; the
  config's ``__str__`` in ``config/vllm.py`` starts with ``model=``), once per engine core, before anything else
  the engine logs: it opens the engine's section of the log;
* weights, GPU only: ``Model loading took %s GiB memory and %.6f seconds`` (``v1/worker/gpu_model_runner.py`` for
  the V1 model runner, ``v1/worker/gpu/model_runner.py`` for V2; per rank). The CPU runner logs no size;
* KV-cache bytes per rank: on GPU ``Available KV cache memory: %s GiB`` (``v1/worker/gpu_worker.py``, when the
  memory share decides) or ``... reserved %s GiB memory for KV Cache as specified by kv_cache_memory_bytes ...``
  (when the size is given); on CPU ``Explicitly set (%s/%s) GiB for KV cache on node %d.`` or
  ``Auto set (%s/%s) GiB for KV cache ...`` (``v1/worker/cpu_worker.py``);
* KV capacity: ``%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx``
  (``v1/core/kv_cache_utils.py``; the pool is ``GPU`` or ``CPU``, the numbers have thousands separators);
* the model runner: ``Using V2 Model Runner`` when V2 runs (``v1/worker/gpu_worker.py``, ``cpu_worker.py``);
  nothing when V1 does. ``VLLM_USE_V2_MODEL_RUNNER`` (``envs.py``): unset, the config decides (V2 where Triton
  and every feature in use allow it, else V1 with a warning); ``0`` forces V1, ``1`` V2.

GiB figures come rounded to two decimals (``utils/mem_utils.format_gib``). A rerun appends to the same log, so a
model's last section is its latest start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

GIB = 1 << 30
# format_gib rounds to 0.01 GiB: a logged figure is the true one within half of that
LOG_GIB_ROUNDING = 0.005 * GIB

_START = re.compile(r"Initializing a V1 LLM engine \(v[^)]*\) with config: model=(['\"])(?P<model>.*?)\1")
_WEIGHTS = re.compile(r"Model loading took (?P<gib>-?[\d.]+) GiB memory")
_KV_BYTES = (
    re.compile(r"Available KV cache memory: (?P<gib>-?[\d.]+) GiB"),
    re.compile(r"reserved (?P<gib>[\d.]+) GiB memory for KV Cache"),
    re.compile(r"(?:Explicitly|Auto) set \((?P<gib>[\d.]+)/[\d.]+\) GiB for KV cache"),
)
_KV_TOKENS = re.compile(r"(?P<pool>\w+)(?: \+ host)? KV cache size: (?P<tokens>[\d,]+) tokens")
_V2_RUNNER = "Using V2 Model Runner"


@dataclass
class EngineStart:
    """One engine's section of the log: what vLLM reported while it started (None: not logged)."""

    model: str
    weight_bytes: float | None = None  # per rank
    kv_cache_bytes: float | None = None  # per rank
    kv_capacity_tokens: int | None = None
    kv_pool: str | None = None  # "GPU", "CPU", ...
    v2_runner: bool = False

    @property
    def runner(self) -> str:
        return "v2" if self.v2_runner else "v1"


def parse_engine_log(text: str) -> list[EngineStart]:
    """Every engine start in the log, in order. Within a section the first figure of each kind counts
    (with tensor parallelism every rank logs its weights; the ranks hold equal shares)."""
    starts: list[EngineStart] = []
    for line in text.splitlines():
        m = _START.search(line)
        if m:
            starts.append(EngineStart(model=m.group("model")))
            continue
        if not starts:
            continue
        e = starts[-1]
        if _V2_RUNNER in line:
            e.v2_runner = True
        if e.weight_bytes is None and (m := _WEIGHTS.search(line)):
            e.weight_bytes = float(m.group("gib")) * GIB
        if e.kv_cache_bytes is None:
            for pattern in _KV_BYTES:
                if m := pattern.search(line):
                    e.kv_cache_bytes = float(m.group("gib")) * GIB
                    break
        if e.kv_capacity_tokens is None and (m := _KV_TOKENS.search(line)):
            e.kv_capacity_tokens = int(m.group("tokens").replace(",", ""))
            e.kv_pool = m.group("pool")
    return starts


def read_engine_log(path: str | os.PathLike[str]) -> list[EngineStart]:
    return parse_engine_log(Path(path).read_text(encoding="utf-8", errors="replace"))


def latest_starts(starts: list[EngineStart], models: dict[str, str]) -> dict[str, EngineStart]:
    """``role -> its latest start`` for ``models`` (role -> model name, in load order: the target loads first).
    Two roles on the same model take that model's last starts in load order."""
    out: dict[str, EngineStart] = {}
    for model in dict.fromkeys(models.values()):
        roles = [r for r, m in models.items() if m == model]
        found = [s for s in starts if s.model == model][-len(roles):]
        if len(found) == len(roles):
            out.update(zip(roles, found))
    return out
