"""The benchmark's async arms: the speculative arms again under ``--schedule async``, and what they measured.

An async arm is its lock-step arm with ``schedule="async"`` (pre-drafting on), named ``<arm>-async``.
Its engines are not the lock-step ones: each is pinned to its own cores (``ssr.plan.cpus``), so the
benchmark closes the lock-step engines before it loads these. Per arm and mode the report gets each
engine's busy fraction, the overlap fraction and the pre-draft hit rate (``ssr.analysis.schedule``),
and whether its records equal the lock-step arm's (``bench.equality``); ``targets`` are the issue's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SUFFIX = "-async"
SPECULATIVE = ("spec-reason", "ssr", "ssr-fast1", "ssr-fast2")
ASYNC_ARMS = tuple(name + SUFFIX for name in SPECULATIVE)


def is_async(name: str) -> bool:
    return name.endswith(SUFFIX)


def lockstep_of(name: str) -> str:
    """``ssr-async`` -> ``ssr``; a lock-step arm's name is its own."""
    return name[: -len(SUFFIX)] if is_async(name) else name


def schedule_stats(folder: Path | str) -> dict[str, Any] | None:
    """One arm's schedule numbers (``ssr.analysis.schedule.schedule_metrics``), the ones the report shows;
    None when its records carry no timeline."""
    from ssr.analysis.schedule import schedule_metrics
    from ssr.records import load_records

    m = schedule_metrics(load_records(folder).records)
    if m is None:
        return None
    keep = (
        "schedule",
        "predraft",
        "records",
        "basis",
        "busy_fraction",
        "overlap_fraction",
        "problem_busy_fraction",
        "wall_seconds",
        "busy_seconds",
        "overlap_seconds",
        "predrafts_submitted",
        "predrafts_used",
        "predrafts_wasted",
        "predraft_wasted_tokens",
        "predraft_hit_rate",
        "wasted_requests",
        "wasted_cancelled",
        "wasted_tokens",
        "critical_path_seconds",
        "critical_path_shares",
        "problems_at_once",
        "notes",
    )
    d = m.as_dict()
    out = {k: d[k] for k in keep if k in d}
    out["run"] = d.get("run")
    return out


def equality(folders: dict[str, dict[str, Path]]) -> dict[str, dict[str, Any]]:
    """Per mode, each async arm's records against its lock-step arm's (``bench.equality``): the summary."""
    from bench.equality import compare_folders

    out: dict[str, dict[str, Any]] = {}
    for mode, by_arm in folders.items():
        for name, folder in by_arm.items():
            twin = by_arm.get(lockstep_of(name))
            if is_async(name) and twin is not None:
                out.setdefault(mode, {})[name] = compare_folders(twin, folder).summary()
    return out


def _lat(report: dict[str, Any], name: str) -> float | None:
    run = ((report["evaluation"].get("sequential") or {}).get("by_arm") or {}).get(name) or {}
    return (run.get("latency_s") or {}).get("mean")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def bottleneck(stats: dict[str, Any] | None) -> tuple[str | None, float | None]:
    """(engine, busy fraction) of the busier engine of an arm."""
    busy = {k: v for k, v in ((stats or {}).get("busy_fraction") or {}).items() if v is not None}
    if not busy:
        return None, None
    name = max(busy, key=busy.__getitem__)
    return name, busy[name]


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met?) for the async schedule's targets; None where an arm did not run."""
    out: list[tuple[str, str, bool | None]] = []
    batched = (report["evaluation"].get("batched") or {}).get("by_arm") or {}
    base = batched.get("baseline") or {}
    spec = batched.get("spec-reason-async") or {}
    r = _ratio(_lat(report, "spec-reason-async"), _lat(report, "baseline"))
    lo, hi = base.get("pass@1_ci95") or (None, None)
    p1 = spec.get("pass@1")
    within = None if p1 is None or lo is None else lo <= p1 <= hi
    out.append(
        (
            "async spec-reason latency <= 0.6x baseline (one at a time), pass@1 within the baseline's CI",
            f"{_f(r)}x; pass@1 {_f(p1, 3)} vs baseline CI [{_f(lo, 3)}, {_f(hi, 3)}]",
            None if r is None or within is None else (r <= 0.6 and within),
        )
    )
    r = _ratio(_lat(report, "ssr-async"), _lat(report, "ssr"))
    out.append(
        ("async SSR latency <= 0.85x lock-step SSR (one at a time)", f"{_f(r)}x", None if r is None else r <= 0.85)
    )
    arms = (report.get("arms") or {}).get("batched") or {}
    r = _ratio((arms.get("ssr-async") or {}).get("records_per_hour"), (arms.get("ssr") or {}).get("records_per_hour"))
    out.append(("async SSR batched throughput >= 1.2x lock-step's", f"{_f(r)}x", None if r is None else r >= 1.2))
    sched = report.get("schedule") or {}
    name, frac = bottleneck((sched.get("sequential") or {}).get("ssr-async"))
    b_name, b_frac = bottleneck((sched.get("batched") or {}).get("ssr-async"))
    out.append(
        (
            "bottleneck engine busy >= 90% of async SSR's wall (one at a time; batched beside it)",
            f"{name or '-'} {_pct(frac)}; batched: {b_name or '-'} {_pct(b_frac)}",
            None if frac is None else frac >= 0.9,
        )
    )
    eq = report.get("equality") or {}
    for mode in ("sequential", "batched"):
        for arm, s in (eq.get(mode) or {}).items():
            first = s.get("first_divergence")
            where = (
                ""
                if not first
                else f"; first divergence problem {first['problem']} repeat {first['repeat']} path {first['path']} "
                f"step {first['step']}: {first['field']}"
            )
            out.append(
                (
                    f"{arm} records equal to {lockstep_of(arm)}'s ({mode})",
                    f"{s['records_agreeing']} of {s['records_compared']} agree, steps {s['steps_agreeing']} of "
                    f"{s['steps_compared']}, largest score gap {s['max_score_gap']:.2g}{where}",
                    s["equal"],
                )
            )
    return out


def section(report: dict[str, Any]) -> list[str]:
    """The report's async part: per arm the schedule numbers, then the targets and what bounds them."""
    sched = report.get("schedule") or {}
    if not any(sched.values()):  # a report from before timelines
        return []
    lines = [
        "",
        "## The async schedule",
        "",
        "Busy: the share of wall time an engine had a request in flight (one problem at a time: summed over "
        "problems; batched: on the run's clock). Overlap: both at once. Pre-draft hits: pre-drafts used as the "
        "next step's draft, of those submitted.",
        "",
        "| mode | arm | target busy | draft busy | overlap | pre-draft hits | wasted requests (cancelled) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in ("sequential", "batched"):
        for name, s in (sched.get(mode) or {}).items():
            if not s:
                continue
            busy = s.get("busy_fraction") or {}
            hits = (
                f"{s['predrafts_used']} / {s['predrafts_submitted']} ({_pct(s.get('predraft_hit_rate'))})"
                if s.get("predrafts_submitted")
                else "-"
            )
            lines.append(
                f"| {mode} | {name} | {_pct(busy.get('target'))} | {_pct(busy.get('draft'))} | "
                f"{_pct(s.get('overlap_fraction'))} | {hits} | {s.get('wasted_requests', 0)} "
                f"({s.get('wasted_cancelled', 0)}) |"
            )
    paths = []
    for name, s in (sched.get("sequential") or {}).items():
        shares = (s or {}).get("critical_path_shares") or {}
        if is_async(name) and shares:
            parts = ", ".join(f"{k} {_pct(v)}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
            paths.append(
                f"- {name}, one at a time: its last path's time by what it waited on ({parts}; phases may overlap "
                "on a path, a pre-draft running while its step is scored)"
            )
    lines += ([""] + paths if paths else []) + ["", "| async target | measured | met |", "|---|---|---|"]
    for t, measured, ok in targets(report):
        lines.append(f"| {t} | {measured} | {'-' if ok is None else ('yes' if ok else 'no')} |")
    lines += bounds_lines((report.get("bounds") or {}).get("async") or {})
    return lines


def bounds_lines(b: dict[str, Any]) -> list[str]:
    """What bounds the async targets, from the engines' measured busy seconds (``bench.bounds.async_bounds``)."""
    if not b.get("arms") and not b.get("throughput"):
        return []
    lines = [
        "",
        "What bounds them (seconds per problem one at a time, from the records' timelines; an engine's busy time "
        "is the union of its requests' intervals):",
        "",
        "| arm | wall lock-step | wall async | target busy lock-step -> async | draft busy lock-step -> async | "
        "engine floor async | floor / reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, a in (b.get("arms") or {}).items():
        lk, asy = a["lockstep"], a["async"]
        lines.append(
            f"| {name} | {_f(lk['wall_s'], 1)} | {_f(asy['wall_s'], 1)} | {_f(lk['busy_s']['target'], 1)} -> "
            f"{_f(asy['busy_s']['target'], 1)} ({_f(a['slowdown'].get('target'))}x) | {_f(lk['busy_s']['draft'], 1)} "
            f"-> {_f(asy['busy_s']['draft'], 1)} ({_f(a['slowdown'].get('draft'))}x) | {_f(a['engine_floor_s'], 1)} "
            f"({a['bottleneck']}) | {_f(a['floor_ratio'])}x {a['reference']} |"
        )
    ts = b.get("table_slowdown") or {}
    lines += [
        "",
        f"The issue's table (batch 1, 48 tokens) puts the cost of an engine's own core, with the other engine "
        f"working at once, at {_f(ts.get('target'))}x for the target and {_f(ts.get('draft'))}x for the draft; the "
        "arrows above measure it on this run's own requests.",
        "",
    ]
    for name, a in (b.get("arms") or {}).items():
        lines.append(
            f"- **{name}**: even with the two engines overlapped perfectly, the async arm cannot take less than its "
            f"busier engine's {_f(a['engine_floor_s'], 1)} s ({a['bottleneck']}), {_f(a['floor_ratio'])}x the "
            f"{a['reference']}'s {_f(a['reference_s'], 1)} s; measured {_f(a['ratio'])}x. Giving each engine its own "
            f"cores made the target's work {_f(a['slowdown'].get('target'))}x and the draft's "
            f"{_f(a['slowdown'].get('draft'))}x as long as under lock-step on all cores (pre-drafts thrown away "
            f"included); the async wall is {_f(a['over_floor'])}x that floor."
        )
    t = b.get("throughput")
    if t:
        lines.append(
            f"- **batched SSR throughput**: the async run's busier engine ({t['bottleneck']}) was busy "
            f"{_f(t['engine_floor_s'], 1)} s of the run's {_f(t['async_wall_s'], 1)} s, so it could not have beaten "
            f"{_f(t['ratio_ceiling'])}x the lock-step run's throughput ({_f(t['lockstep_wall_s'], 1)} s); measured "
            f"{_f(t['ratio'])}x."
        )
    return lines
