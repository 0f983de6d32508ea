"""When each engine request of a problem ran, and what that says about the schedule.

Both schedules (``ssr.scheduler`` lock-step, ``ssr.async_schedule``) log every request of a problem as an
``Event``: which engine, which phase (select, draft, predraft, score, rewrite, generate), which path and step,
when it was submitted and when it ended (seconds from the problem's start), its tokens, and whether it was
cancelled or its result left out of the record (a rejected step's pre-draft, a fast-mode loser's steps).

An engine counts as busy while at least one of its requests is in flight (it batches them continuously),
so its busy time is the length of the union of its requests' intervals; the overlap is the time both
engines were busy at once. The critical path is the path that ended last: its time waiting on each phase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

ENGINES = ("target", "draft")


@dataclass
class Event:
    engine: str  # "target" | "draft"
    phase: str  # select | draft | predraft | score | rewrite | generate
    path: int | None  # None: a request of the problem (SPM's selection)
    step: int | None  # the step index on its path (None: not a step)
    submit: float  # seconds from the problem's start
    end: float | None = None
    prompt_tokens: int = 0
    tokens: int = 0  # generated (0 for scoring and for cancelled requests)
    cancelled: bool = False  # aborted in the engine before it finished
    wasted: bool = False  # its result is not in the record (cancelled, or discarded)


Interval = tuple[float, float]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Disjoint sorted intervals covering the same time."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def length(intervals: Sequence[Interval]) -> float:
    return sum(b - a for a, b in intervals)


def intersection(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    """Where two disjoint sorted interval lists overlap."""
    out, i, j = [], 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def busy(events: Iterable[Event | dict[str, Any]], engine: str) -> list[Interval]:
    """The time ``engine`` had at least one request in flight."""
    spans = []
    for e in events:
        e = e if isinstance(e, dict) else asdict(e)
        if e["engine"] == engine and e.get("end") is not None:
            spans.append((float(e["submit"]), float(e["end"])))
    return union(spans)


def summary(events: Sequence[Event], wall: float) -> dict[str, Any]:
    """Busy seconds per engine, their overlap, and the wasted requests and tokens, for a record."""
    spans = {name: busy(events, name) for name in ENGINES}
    wasted = [e for e in events if e.wasted]
    predrafts = [e for e in events if e.phase == "predraft"]
    return {
        "wall_seconds": wall,
        "busy_seconds": {name: length(s) for name, s in spans.items()},
        "overlap_seconds": length(intersection(spans["target"], spans["draft"])),
        "predrafts": {
            "submitted": len(predrafts),
            "used": sum(1 for e in predrafts if not e.wasted),
            "wasted": sum(1 for e in predrafts if e.wasted),
            "wasted_tokens": sum(e.tokens for e in predrafts if e.wasted),
        },
        "wasted": {
            "requests": len(wasted),
            "cancelled": sum(1 for e in wasted if e.cancelled),
            "tokens": {name: sum(e.tokens for e in wasted if e.engine == name) for name in ENGINES},
        },
    }


def critical_path(events: Sequence[Event]) -> dict[str, Any] | None:
    """The path that ended last, and the seconds its own requests took per phase (their union per phase,
    so a pre-draft running while its step was scored counts once, as the time it stood on the path)."""
    kept = [e for e in events if not e.wasted and e.end is not None]
    paths = {e.path for e in kept if e.path is not None}
    if not paths:
        return None
    last = max(paths, key=lambda p: max(e.end for e in kept if e.path == p))  # type: ignore[type-var]
    mine = [e for e in kept if e.path in (last, None)]
    phases: dict[str, float] = {}
    for phase in sorted({e.phase for e in mine}):
        phases[phase] = length(union((e.submit, e.end) for e in mine if e.phase == phase))  # type: ignore[misc]
    on_path = union((e.submit, e.end) for e in mine)  # type: ignore[misc]
    return {"path": last, "seconds": max(e.end for e in mine), "requests_seconds": length(on_path), "phases": phases}


def block(
    name: str, predraft: bool, events: Sequence[Event], wall: float, started: float | None = None
) -> dict[str, Any]:
    """A record's ``schedule`` block; ``started`` (POSIX seconds, sub-second) puts the problem's timeline on the
    run's clock, so the busy time of problems batched together can be united."""
    return {
        "name": name,
        "predraft": predraft,
        "started_unix": started,
        **summary(events, wall),
        "critical_path": critical_path(events),
        "timeline": [asdict(e) for e in events],
    }
