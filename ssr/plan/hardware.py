"""The GPUs a plan is made for: the ones this machine has, or ones assumed with ``--assume_gpus``.

Seen: through a CUDA build of torch when there is one (``torch.cuda.get_device_properties``: the total
that vLLM's own memory snapshot also uses), else ``nvidia-smi``, else none. Reading them through torch
initialises CUDA in this process; vLLM notices (``torch.cuda.is_initialized()``) and starts its engine
processes with ``spawn`` instead of ``fork``, which is what a CUDA parent needs anyway.
``CUDA_VISIBLE_DEVICES`` is honoured: GPU ids in a plan are indices among the visible GPUs.

Assumed: ``COUNTxGB`` as marketed (``4x80``). A card sold as "80 GB" reports less to CUDA (some memory
is reserved), and vLLM's ``gpu_memory_utilization`` is a share of what CUDA reports, so the plan
converts (``REPORTED_GIB``) and says so in its notes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ssr.plan.errors import PlanError

GIB = 1 << 30

# What CUDA reports as total memory (torch.cuda.get_device_properties(i).total_memory, in GiB) for the
# cards sold with these sizes. Sources: vLLM's memory-profiling log on an H100 80GB prints
# "total_gpu_memory 79.22GiB" (vllm-project/vllm PR #10511); an A100-SXM4-80GB reports 79.15 GiB; an
# A100 40GB 39.39 GiB (nvidia-smi: 40960 MiB total, 40536 MiB usable); an H200 141GB 139.8 GiB
# (nvidia-smi 143771 MiB). Other sizes (16, 24, 48 GB...) differ by card (a T4 sold as 16 GB reports
# 14.6 GiB), so they fall back to APPROXIMATE_FRACTION, and the plan's notes say it is a guess.
REPORTED_GIB = {40: 39.4, 80: 79.2, 141: 139.8}
APPROXIMATE_FRACTION = 0.985


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_bytes: int

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GIB


@dataclass
class Hardware:
    """GPUs in the order their ids count (visible index 0, 1, ...); ``assumed``: not this machine's."""

    gpus: list[Gpu]
    assumed: bool = False
    source: str = "none"  # "torch", "nvidia-smi", "assumed", "none"
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.gpus)

    def to_dict(self) -> dict:
        return {
            "assumed": self.assumed,
            "source": self.source,
            "gpus": [{"name": g.name, "memory_gib": round(g.memory_gib, 2)} for g in self.gpus],
        }


ASSUME_SYNTAX = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+(?:\.\d+)?)\s*(?:GB)?\s*$", re.IGNORECASE)


def assumed(text: str) -> Hardware:
    """``"4x80"`` -> four GPUs of what CUDA reports for an 80 GB card; a PlanError for any other syntax."""
    m = ASSUME_SYNTAX.match(text or "")
    if not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
        raise PlanError(
            f"--assume_gpus {text!r}: expected COUNTxGB as marketed, e.g. 4x80, 4x40, 8x80 or 1x141"
        )
    count, marketed = int(m.group(1)), float(m.group(2))
    key = int(marketed) if marketed.is_integer() else None
    if key in REPORTED_GIB:
        gib = REPORTED_GIB[key]
        note = f"assumed {count} GPUs sold as {marketed:g} GB: planned with {gib} GiB each, what CUDA reports for them"
    else:
        gib = round(marketed * APPROXIMATE_FRACTION, 1)
        note = (
            f"assumed {count} GPUs sold as {marketed:g} GB: planned with {gib} GiB each ({APPROXIMATE_FRACTION:.1%} "
            "of the marketed size, a guess: cards of this size report different totals; check torch's figure)"
        )
    gpu = Gpu(name=f"assumed {marketed:g} GB GPU", memory_bytes=int(gib * GIB))
    return Hardware([gpu] * count, assumed=True, source="assumed", notes=[note])


def _visible(indices: list[str], uuids: list[str]) -> list[int]:
    """Which of nvidia-smi's rows CUDA_VISIBLE_DEVICES lets this process see, in its order."""
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is None:
        return list(range(len(indices)))
    out = []
    for item in (x.strip() for x in cvd.split(",")):
        if not item:
            continue
        if item in indices:
            out.append(indices.index(item))
        elif any(u.startswith(item) for u in uuids):
            out.append(next(i for i, u in enumerate(uuids) if u.startswith(item)))
        else:
            break  # CUDA stops at the first id it cannot resolve
    return out


def from_nvidia_smi(run=subprocess.run) -> Hardware | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = run(
            [exe, "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    rows = [[c.strip() for c in line.split(",")] for line in proc.stdout.splitlines() if line.strip()]
    rows = [r for r in rows if len(r) >= 4]
    try:
        visible = _visible([r[0] for r in rows], [r[1] for r in rows])
        gpus = [Gpu(rows[i][2], int(float(rows[i][3]) * (1 << 20))) for i in visible]
    except ValueError:
        return None
    note = "GPU memory from nvidia-smi (the card's total; CUDA reports ~0.5 GiB less)"
    return Hardware(gpus, source="nvidia-smi", notes=[note]) if gpus else None


def from_torch() -> Hardware | None:
    try:
        import torch
    except ImportError:
        return None
    if not getattr(torch.version, "cuda", None):
        return None
    try:
        if not torch.cuda.is_available():
            return None
        props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - a broken driver reads as no GPU here; vLLM will say more
        return None
    return Hardware([Gpu(p.name, int(p.total_memory)) for p in props], source="torch") if props else None


def detect(assume: str | None = None) -> Hardware:
    """The GPUs to plan for: assumed when ``assume`` is given, else seen (torch, then nvidia-smi), else none."""
    if assume:
        return assumed(assume)
    return from_torch() or from_nvidia_smi() or Hardware([], source="none")
