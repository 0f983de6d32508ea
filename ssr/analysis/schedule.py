"""How a run's requests were scheduled: busy fractions, overlap, pre-draft hits, waste, critical-path shares.

Every record written since timelines exist carries a ``schedule`` block (``ssr.timeline.block``): the
schedule's name, its pre-draft switch, each request of the problem as an event (engine, phase, path,
step, submit and end in seconds from the problem's start, tokens, cancelled, wasted) and the block's
own sums. Older records have none (``Record.schedule`` is None): they are counted as such and change
nothing else; a run with no block at all has no schedule metrics (:func:`schedule_metrics` is None).

Two ways to turn busy seconds into a fraction, and when each is right:

* **per problem** (:func:`schedule_metrics`): each problem's engine busy seconds over its own wall
  seconds, summed over the run's problems (``sum busy / sum wall``; ``problem_*_mean`` is the plain
  mean of the per-problem fractions). A problem's events hold only its own requests, so this is an
  engine's busy fraction only when one problem ran at a time. With several problems in flight an engine
  also serves the other problems while this one waits: the per-problem fraction then measures how much
  of a problem's time it had a request in flight, not how busy the engine was.
* **per run** (:func:`run_busy`): every problem's intervals moved onto one clock by its start time,
  their union per engine, over the run's own wall time (first start to last end). This is the engine's
  busy fraction for a batched run. A problem's start is its block's ``started_unix`` (POSIX seconds,
  sub-second); records without it fall back to ``timing.started_at``, an ISO stamp the runner writes to
  the second: a problem's intervals may then sit up to 1 s early (the stamp is floored), so the result is
  only as good as 1 s against the problems' lengths. :class:`RunBusy` says its ``start_resolution_s`` and
  is ``coarse`` when that is over 5 % of the mean problem wall time. For a run of one problem at a time,
  use the per-problem numbers, which need no start times at all.

:func:`schedule_metrics` picks the headline fraction by the same rule the tables use to mark batched
latency (``ssr.analysis.stats.problems_at_once``): per problem at one problem at a time, per run above
that (``basis`` says which). The page's timeline of one record comes from :func:`timeline_lanes`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ssr.records import Record, from_json
from ssr.timeline import ENGINES, Event, intersection, length, union

COARSE_SHARE = 0.05  # a start-time resolution above this share of the mean problem wall makes run_busy coarse
OUTSIDE_REQUESTS = "outside_requests"  # the critical path's time with none of its requests in flight
_EVENT_FIELDS = {f.name for f in dataclasses.fields(Event)}


# --------------------------------------------------------------------------- records and events


def as_record(record: Record | dict[str, Any]) -> Record:
    """A record read from a file or already parsed (the benchmark has both)."""
    return record if isinstance(record, Record) else from_json(record)


def events_of(block: dict[str, Any] | None) -> list[Event]:
    """The block's timeline as events (keys an older or newer writer added are ignored)."""
    if not block:
        return []
    return [Event(**{k: v for k, v in e.items() if k in _EVENT_FIELDS}) for e in block.get("timeline") or []]


def engines_in(events: Iterable[Event]) -> list[str]:
    """target, draft, then any other engine named, in that order."""
    seen = {e.engine for e in events}
    return [e for e in ENGINES if e in seen] + sorted(seen - set(ENGINES))


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def _mean(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


# --------------------------------------------------------------------------- one run on one clock


@dataclass
class RunBusy:
    """Engine busy time of a run on one clock: each problem's intervals shifted by its start time."""

    problems: int  # records placed on the clock
    unplaced: int  # records with a block but no readable start time (left out)
    wall_seconds: float  # first problem's start to the last problem's end
    busy_seconds: dict[str, float]
    overlap_seconds: float
    start_resolution_s: float  # the coarsest start's resolution (1.0 for to-the-second started_at stamps)
    coarse: bool  # start_resolution_s > COARSE_SHARE x the mean problem wall: trust the per-problem numbers

    @property
    def busy_fraction(self) -> dict[str, float | None]:
        return {k: _ratio(v, self.wall_seconds) for k, v in self.busy_seconds.items()}

    @property
    def overlap_fraction(self) -> float | None:
        return _ratio(self.overlap_seconds, self.wall_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "busy_fraction": self.busy_fraction,
            "overlap_fraction": self.overlap_fraction,
        }


_FRACTION_RE = re.compile(r"T\d\d:\d\d:\d\d\.(\d+)")


STARTED_UNIX_RESOLUTION = 1e-6  # time.time()


def problem_start(record: Record | dict[str, Any]) -> tuple[float, float] | None:
    """(POSIX seconds, resolution in seconds) of the problem's start: its schedule block's ``started_unix``,
    else ``timing.started_at``; None when neither is there or readable."""
    rec = as_record(record)
    started = (rec.schedule or {}).get("started_unix")
    if isinstance(started, (int, float)) and started > 0:
        return float(started), STARTED_UNIX_RESOLUTION
    stamp = rec.timing.started_at
    if not stamp:
        return None
    try:
        when = _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    frac = _FRACTION_RE.search(stamp)
    return when.timestamp(), 10.0 ** -len(frac.group(1)) if frac else 1.0


def run_busy(records: Iterable[Record | dict[str, Any]]) -> RunBusy | None:
    """The run's busy time per engine on one clock (see the module's docstring for when it is the right one).

    None when no record has both a schedule block and a start time.
    """
    spans: dict[str, list[tuple[float, float]]] = {}
    starts, ends, walls, resolutions = [], [], [], []
    unplaced = 0
    for rec in map(as_record, records):
        if rec.schedule is None:
            continue
        start = problem_start(rec)
        if start is None:
            unplaced += 1
            continue
        t0, resolution = start
        wall = rec.schedule.get("wall_seconds") or rec.timing.wall_seconds or 0.0
        events = events_of(rec.schedule)
        starts.append(t0)
        ends.append(t0 + max([wall, *(e.end for e in events if e.end is not None)]))
        walls.append(wall)
        resolutions.append(resolution)
        for e in events:
            if e.end is not None and e.end > e.submit:
                spans.setdefault(e.engine, []).append((t0 + e.submit, t0 + e.end))
    if not starts:
        return None
    busy = {name: union(spans.get(name, [])) for name in ENGINES} | {k: union(v) for k, v in spans.items()}
    origin = min(starts)
    resolution = max(resolutions)
    mean_wall = sum(walls) / len(walls)
    return RunBusy(
        problems=len(starts),
        unplaced=unplaced,
        wall_seconds=max(ends) - origin,
        busy_seconds={k: length(v) for k, v in busy.items()},
        overlap_seconds=length(intersection(busy["target"], busy["draft"])),
        start_resolution_s=resolution,
        coarse=mean_wall <= 0 or resolution > COARSE_SHARE * mean_wall,
    )


# --------------------------------------------------------------------------- a run's metrics


@dataclass
class ScheduleMetrics:
    """A run's schedule numbers, from its records' ``schedule`` blocks (see the module docstring).

    Seconds are summed over the records with a block. ``busy_fraction`` / ``overlap_fraction`` are the
    headline numbers, on ``basis`` "problems" (sum of per-problem busy over sum of per-problem wall: one
    problem at a time) or "run" (:func:`run_busy`, problems batched; falls back to "problems" when no
    record has a start time). ``problem_busy_fraction`` and ``run`` hold both views.
    """

    schedule: str  # the schedule's name; several joined with "+" when the records differ
    predraft: bool | None  # None when the records differ
    records: int  # records with a schedule block
    records_without: int  # records without one (older records)
    wall_seconds: float
    busy_seconds: dict[str, float]
    overlap_seconds: float
    problem_busy_fraction: dict[str, float | None]  # sum busy / sum wall over problems
    problem_busy_fraction_mean: dict[str, float | None]  # mean over problems of busy / wall
    problem_overlap_fraction: float | None
    basis: str  # "problems" | "run": where busy_fraction and overlap_fraction come from
    busy_fraction: dict[str, float | None]
    overlap_fraction: float | None
    predrafts_submitted: int
    predrafts_used: int
    predrafts_wasted: int
    predraft_wasted_tokens: int
    predraft_hit_rate: float | None  # used / submitted; None without pre-drafts
    wasted_requests: int
    wasted_cancelled: int
    wasted_tokens: dict[str, int]
    critical_path_seconds: float
    critical_path_phase_seconds: dict[str, float]
    # phase seconds / critical-path seconds; phases may overlap on one path (a pre-draft runs while its step
    # is scored), so the shares may add up to more than 1; OUTSIDE_REQUESTS: none of its requests in flight
    critical_path_shares: dict[str, float]
    run: RunBusy | None = None
    problems_at_once: int | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["run"] = self.run.as_dict() if self.run is not None else None
        return out


def _sum_dicts(dicts: Iterable[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in dicts:
        for k, v in (d or {}).items():
            out[k] = out.get(k, 0) + (v or 0)
    return out


def schedule_metrics(records: Iterable[Record | dict[str, Any]]) -> ScheduleMetrics | None:
    """The schedule numbers of one run's records; None when none of them has a schedule block."""
    from ssr.analysis.stats import problems_at_once  # late: stats is the heavier module

    recs = [as_record(r) for r in records]
    blocks = [r.schedule for r in recs if r.schedule is not None]
    if not blocks:
        return None
    names = sorted({str(b.get("name")) for b in blocks})
    predrafts = {bool(b.get("predraft")) for b in blocks}
    wall = sum(float(b.get("wall_seconds") or 0.0) for b in blocks)
    busy = {name: 0.0 for name in ENGINES} | _sum_dicts(b.get("busy_seconds") or {} for b in blocks)
    overlap = sum(float(b.get("overlap_seconds") or 0.0) for b in blocks)
    per_problem = {
        name: _mean([_ratio((b.get("busy_seconds") or {}).get(name, 0.0), b.get("wall_seconds")) for b in blocks])
        for name in busy
    }
    pd = _sum_dicts(b.get("predrafts") or {} for b in blocks)
    wasted = [b.get("wasted") or {} for b in blocks]
    paths = [b["critical_path"] for b in blocks if b.get("critical_path")]
    cp_seconds = sum(float(p.get("seconds") or 0.0) for p in paths)
    cp_phases = _sum_dicts(p.get("phases") or {} for p in paths)
    outside = sum(float(p.get("seconds") or 0.0) - float(p.get("requests_seconds") or 0.0) for p in paths)
    shares = {k: v / cp_seconds for k, v in cp_phases.items()} if cp_seconds else {}
    if cp_seconds:
        shares[OUTSIDE_REQUESTS] = max(outside, 0.0) / cp_seconds
    at_once = problems_at_once(recs)
    run = run_busy(recs)
    problem_fraction = {k: _ratio(v, wall) for k, v in busy.items()}
    basis, fraction, overlap_fraction = "problems", problem_fraction, _ratio(overlap, wall)
    notes = []
    if at_once is not None and at_once > 1:
        if run is not None:
            basis, fraction, overlap_fraction = "run", run.busy_fraction, run.overlap_fraction
            if run.coarse:
                notes.append(
                    f"busy fractions on the run's clock from start stamps to {run.start_resolution_s:g} s, "
                    "coarse against the problems' wall times"
                )
        else:
            notes.append(
                f"{at_once} problems at once but no start times: the busy fractions are per problem and "
                "understate how busy the engines were"
            )
    return ScheduleMetrics(
        schedule="+".join(names),
        predraft=predrafts.pop() if len(predrafts) == 1 else None,
        records=len(blocks),
        records_without=len(recs) - len(blocks),
        wall_seconds=wall,
        busy_seconds=busy,
        overlap_seconds=overlap,
        problem_busy_fraction=problem_fraction,
        problem_busy_fraction_mean=per_problem,
        problem_overlap_fraction=_ratio(overlap, wall),
        basis=basis,
        busy_fraction=fraction,
        overlap_fraction=overlap_fraction,
        predrafts_submitted=int(pd.get("submitted", 0)),
        predrafts_used=int(pd.get("used", 0)),
        predrafts_wasted=int(pd.get("wasted", 0)),
        predraft_wasted_tokens=int(pd.get("wasted_tokens", 0)),
        predraft_hit_rate=_ratio(pd.get("used", 0), pd.get("submitted", 0)),
        wasted_requests=sum(int(w.get("requests", 0)) for w in wasted),
        wasted_cancelled=sum(int(w.get("cancelled", 0)) for w in wasted),
        wasted_tokens={name: 0 for name in ENGINES}
        | {k: int(v) for k, v in _sum_dicts(w.get("tokens") or {} for w in wasted).items()},
        critical_path_seconds=cp_seconds,
        critical_path_phase_seconds=cp_phases,
        critical_path_shares=shares,
        run=run,
        problems_at_once=at_once,
        notes=notes,
    )


def folder_schedule_metrics(folder: str | Path) -> ScheduleMetrics | None:
    """:func:`schedule_metrics` of the complete records in one run folder (unreadable files are skipped)."""
    from ssr.analysis.loading import load_folder

    records, _ = load_folder(str(folder))
    return schedule_metrics(records)


# --------------------------------------------------------------------------- one record's timeline, for the page


def _bar(e: Event, end: float, row: int) -> dict[str, Any]:
    bar: dict[str, Any] = {
        "s": round(e.submit, 3),
        "e": round(end, 3),
        "ph": e.phase,
        "p": e.path,
        "k": e.step,
        "r": row,
    }
    if e.tokens:
        bar["tok"] = e.tokens
    if e.prompt_tokens:
        bar["ptok"] = e.prompt_tokens
    if e.wasted:
        bar["w"] = 1
    if e.cancelled:
        bar["c"] = 1
    if e.end is None:
        bar["open"] = 1  # never ended in the record: drawn to the problem's end
    return bar


def timeline_lanes(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """One record's timeline as the page draws it; None without a block or without events.

    ``{"name", "predraft", "wall", "lanes": [{"engine", "rows", "bars": [...]}], "busy", "overlap",
    "predrafts", "wasted", "critical_path"}``: one lane per engine (target, then draft), each request a
    bar from submit to end, stacked in ``rows`` so that requests in flight together do not cover each
    other. A bar: ``s``/``e`` seconds, ``ph`` phase, ``p`` path, ``k`` step, ``r`` row, ``tok`` /
    ``ptok`` tokens, ``w`` wasted, ``c`` cancelled, ``open`` no end recorded (all flags present only when set).
    """
    events = events_of(block)
    if not block or not events:
        return None
    wall = max([float(block.get("wall_seconds") or 0.0), *(e.end for e in events if e.end is not None)])
    lanes = []
    for engine in engines_in(events):
        mine = sorted((e for e in events if e.engine == engine), key=lambda e: (e.submit, e.end or wall))
        row_ends: list[float] = []
        bars = []
        for e in mine:
            end = wall if e.end is None else max(e.end, e.submit)
            row = next((i for i, t in enumerate(row_ends) if t <= e.submit), len(row_ends))
            if row == len(row_ends):
                row_ends.append(end)
            row_ends[row] = end
            bars.append(_bar(e, end, row))
        lanes.append({"engine": engine, "rows": len(row_ends), "bars": bars})
    return {
        "name": block.get("name"),
        "predraft": block.get("predraft"),
        "wall": wall,
        "lanes": lanes,
        "busy": block.get("busy_seconds"),
        "overlap": block.get("overlap_seconds"),
        "predrafts": block.get("predrafts"),
        "wasted": block.get("wasted"),
        "critical_path": block.get("critical_path"),
    }
