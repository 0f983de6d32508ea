"""ssr.timeline: interval arithmetic, busy time, overlap, the critical path and the record's block, by hand."""

import json

import pytest

from ssr.timeline import Event, block, busy, critical_path, intersection, length, summary, union


def test_union_merges_overlapping_and_touching_intervals_and_drops_empty_ones():
    assert union([(5.0, 6.0), (1.0, 3.0), (2.0, 2.5), (3.0, 4.0), (7.0, 7.0), (8.0, 7.5)]) == [(1.0, 4.0), (5.0, 6.0)]
    assert union([]) == []
    assert union([(0.0, 10.0), (1.0, 2.0)]) == [(0.0, 10.0)]  # a contained interval does not shorten the cover


def test_length_sums_disjoint_intervals():
    assert length([(1.0, 4.0), (5.0, 6.5)]) == pytest.approx(4.5)
    assert length([]) == 0


def test_intersection_of_two_disjoint_sorted_lists():
    xs = [(0.0, 2.0), (3.0, 5.0), (6.0, 9.0)]
    ys = [(1.0, 4.0), (4.5, 6.5), (8.0, 9.0)]
    assert intersection(xs, ys) == [(1.0, 2.0), (3.0, 4.0), (4.5, 5.0), (6.0, 6.5), (8.0, 9.0)]
    assert intersection(ys, xs) == intersection(xs, ys)
    assert intersection(xs, []) == []
    # touching is not overlapping
    assert intersection([(0.0, 1.0)], [(1.0, 2.0)]) == []
    # equal ends: both lists still advance past each other
    assert intersection([(0.0, 2.0), (3.0, 4.0)], [(1.0, 2.0), (3.5, 5.0)]) == [(1.0, 2.0), (3.5, 4.0)]


def scenario() -> list[Event]:
    """Two paths of one problem under the async schedule, times in seconds from the problem's start.

    draft  : select [0,1]; path 0 step 0 [1,3]; path 1 step 0 [1,4]; path 0's pre-draft of step 1 [3,6] (used);
             path 1's pre-draft of step 1 [4,5.5] (finished, then discarded: its step was rejected);
             path 0 step 2 [7,7.5] (cancelled by a fast mode); path 1 step 1 [9.5,10.5]
    target : score p0 s0 [3,5]; score p1 s0 [4,6]; rewrite p1 s0 [6,9]; score p0 s1 [6,7]
    """
    return [
        Event("draft", "select", None, None, 0.0, 1.0, prompt_tokens=20, tokens=5),
        Event("draft", "draft", 0, 0, 1.0, 3.0, tokens=10),
        Event("draft", "draft", 1, 0, 1.0, 4.0, tokens=12),
        Event("target", "score", 0, 0, 3.0, 5.0, prompt_tokens=40),
        Event("draft", "predraft", 0, 1, 3.0, 6.0, tokens=8),
        Event("target", "score", 1, 0, 4.0, 6.0, prompt_tokens=42),
        Event("draft", "predraft", 1, 1, 4.0, 5.5, tokens=7, wasted=True),
        Event("target", "rewrite", 1, 0, 6.0, 9.0, tokens=15),
        Event("target", "score", 0, 1, 6.0, 7.0, prompt_tokens=50),
        Event("draft", "draft", 0, 2, 7.0, 7.5, tokens=0, cancelled=True, wasted=True),
        Event("draft", "draft", 1, 1, 9.5, 10.5, tokens=9),
    ]


def test_busy_is_the_union_of_one_engines_requests_and_skips_unfinished_ones():
    events = scenario()
    assert busy(events, "draft") == [(0.0, 6.0), (7.0, 7.5), (9.5, 10.5)]
    assert busy(events, "target") == [(3.0, 9.0)]
    # the record's form (dicts) gives the same; a request without an end is not counted
    dicts = [json.loads(json.dumps(e.__dict__)) for e in events] + [
        {"engine": "target", "phase": "score", "submit": 20.0, "end": None}
    ]
    assert busy(dicts, "target") == [(3.0, 9.0)]
    assert busy(dicts, "draft") == busy(events, "draft")


def test_summary_busy_overlap_predrafts_and_waste():
    s = summary(scenario(), wall=11.0)
    assert s["wall_seconds"] == 11.0
    assert s["busy_seconds"] == pytest.approx({"draft": 7.5, "target": 6.0})
    assert s["overlap_seconds"] == pytest.approx(3.5)  # [3,6] and [7,7.5]
    assert s["predrafts"] == {"submitted": 2, "used": 1, "wasted": 1, "wasted_tokens": 7}
    assert s["wasted"] == {"requests": 2, "cancelled": 1, "tokens": {"target": 0, "draft": 7}}


def test_critical_path_is_the_path_that_ended_last_with_its_phases():
    cp = critical_path(scenario())
    assert cp is not None
    assert cp["path"] == 1  # its last kept request ends at 10.5; path 0's at 7 (its step 2 was wasted)
    assert cp["seconds"] == pytest.approx(10.5)
    # path 1 and the problem's own requests: select [0,1], draft [1,4] + [9.5,10.5], score [4,6], rewrite [6,9];
    # its wasted pre-draft is not on it
    assert cp["phases"] == pytest.approx({"select": 1.0, "draft": 4.0, "score": 2.0, "rewrite": 3.0})
    assert cp["requests_seconds"] == pytest.approx(10.0)  # nothing in flight for it in [9, 9.5]


def test_critical_path_counts_overlapping_requests_of_one_phase_once():
    events = [
        Event("target", "score", 0, 0, 0.0, 2.0),
        Event("draft", "predraft", 0, 1, 0.0, 3.0, tokens=4),
        Event("draft", "predraft", 0, 1, 1.0, 2.5, tokens=4),  # hypothetical second one inside the first
    ]
    cp = critical_path(events)
    assert cp["phases"] == pytest.approx({"score": 2.0, "predraft": 3.0})
    assert cp["requests_seconds"] == pytest.approx(3.0)


def test_critical_path_none_without_a_finished_kept_path_request():
    assert critical_path([]) is None
    assert critical_path([Event("draft", "select", None, None, 0.0, 1.0)]) is None
    assert critical_path([Event("draft", "draft", 0, 0, 0.0, 1.0, wasted=True, cancelled=True)]) is None
    assert critical_path([Event("draft", "draft", 0, 0, 0.0, None)]) is None


def test_block_is_json_and_carries_every_event():
    events = scenario()
    b = block("async", True, events, 11.0)
    assert json.loads(json.dumps(b)) == b
    assert b["name"] == "async" and b["predraft"] is True
    assert set(b) == {
        "name",
        "predraft",
        "started_unix",
        "wall_seconds",
        "busy_seconds",
        "overlap_seconds",
        "predrafts",
        "wasted",
        "critical_path",
        "timeline",
    }
    assert len(b["timeline"]) == len(events)
    assert b["timeline"][6] == {
        "engine": "draft",
        "phase": "predraft",
        "path": 1,
        "step": 1,
        "submit": 4.0,
        "end": 5.5,
        "prompt_tokens": 0,
        "tokens": 7,
        "cancelled": False,
        "wasted": True,
    }
    assert b["critical_path"]["path"] == 1
    assert b["busy_seconds"] == summary(events, 11.0)["busy_seconds"]


# --------------------------------------------------------------------------- a run's metrics (ssr.analysis.schedule)


def second_problem() -> list[Event]:
    """One path: draft [0,2], score [2,4] while its next step is pre-drafted [2,5] (used), score [5,6]."""
    return [
        Event("draft", "draft", 0, 0, 0.0, 2.0, tokens=10),
        Event("target", "score", 0, 0, 2.0, 4.0, prompt_tokens=30),
        Event("draft", "predraft", 0, 1, 2.0, 5.0, tokens=6),
        Event("target", "score", 0, 1, 5.0, 6.0, prompt_tokens=36),
    ]


def sched_record(pid, events, wall, at_once=1, started_at="", name="async", predraft=True, started=None):
    from tests.test_evaluation import make_path, make_record

    rec = make_record("ssr", "math", pid, 0, "1", "1", [make_path("1")], config={"max_concurrent_problems": at_once})
    rec["timing"]["started_at"] = started_at
    rec["timing"]["wall_seconds"] = wall
    if events is not None:
        rec["schedule"] = block(name, predraft, events, wall, started)
    return rec


def test_schedule_metrics_sum_the_problems_of_a_run_one_at_a_time():
    from ssr.analysis.schedule import OUTSIDE_REQUESTS, schedule_metrics

    records = [sched_record(0, scenario(), 11.0), sched_record(1, second_problem(), 6.0), sched_record(2, None, 3.0)]
    m = schedule_metrics(records)
    assert (m.schedule, m.predraft, m.records, m.records_without, m.basis) == ("async", True, 2, 1, "problems")
    assert m.wall_seconds == pytest.approx(17.0)
    assert m.busy_seconds == pytest.approx({"target": 6.0 + 3.0, "draft": 7.5 + 5.0})
    assert m.busy_fraction == pytest.approx({"target": 9.0 / 17, "draft": 12.5 / 17})
    assert m.busy_fraction == m.problem_busy_fraction
    assert m.problem_busy_fraction_mean == pytest.approx(
        {"target": (6 / 11 + 3 / 6) / 2, "draft": (7.5 / 11 + 5 / 6) / 2}
    )
    assert m.overlap_fraction == pytest.approx((3.5 + 2.0) / 17)
    assert (m.predrafts_submitted, m.predrafts_used, m.predrafts_wasted, m.predraft_wasted_tokens) == (3, 2, 1, 7)
    assert m.predraft_hit_rate == pytest.approx(2 / 3)
    assert (m.wasted_requests, m.wasted_cancelled, m.wasted_tokens) == (2, 1, {"target": 0, "draft": 7})
    # critical paths: path 1 of the first problem (10.5 s, 0.5 s with nothing in flight), path 0 of the second (6 s)
    assert m.critical_path_seconds == pytest.approx(16.5)
    assert m.critical_path_phase_seconds == pytest.approx(
        {"select": 1.0, "draft": 4.0 + 2.0, "score": 2.0 + 3.0, "rewrite": 3.0, "predraft": 3.0}
    )
    assert m.critical_path_shares == pytest.approx(
        {"select": 1 / 16.5, "draft": 6 / 16.5, "score": 5 / 16.5, "rewrite": 3 / 16.5, "predraft": 3 / 16.5}
        | {OUTSIDE_REQUESTS: 0.5 / 16.5}
    )
    assert json.loads(json.dumps(m.as_dict()))["busy_fraction"] == pytest.approx(m.busy_fraction)


def test_records_without_schedule_blocks_have_no_schedule_metrics():
    from ssr.analysis.schedule import run_busy, schedule_metrics, timeline_lanes

    old = [sched_record(0, None, 2.0, started_at="2026-11-29T22:00:00Z")]
    assert schedule_metrics(old) is None and run_busy(old) is None and timeline_lanes(None) is None


def test_run_busy_puts_batched_problems_on_one_clock():
    from ssr.analysis.schedule import problem_start, run_busy, schedule_metrics

    # problem 1 starts 3 s after problem 0: its draft [3,8], its target [5,7] and [8,9] on the run's clock
    records = [
        sched_record(0, scenario(), 11.0, at_once=4, started_at="2026-11-29T22:00:00Z"),
        sched_record(1, second_problem(), 6.0, at_once=4, started_at="2026-11-29T22:00:03Z"),
        sched_record(2, second_problem(), 6.0, at_once=4, started_at=""),  # no start time: left out
    ]
    assert problem_start(records[1])[1] == 1.0
    rb = run_busy(records)
    assert (rb.problems, rb.unplaced) == (2, 1)
    assert rb.wall_seconds == pytest.approx(11.0)
    assert rb.busy_seconds == pytest.approx({"draft": 8.0 + 1.0, "target": 6.0})  # draft [0,8],[9.5,10.5]; target [3,9]
    assert rb.overlap_seconds == pytest.approx(5.0)  # [3,8]
    assert rb.busy_fraction == pytest.approx({"draft": 9 / 11, "target": 6 / 11})
    # stamps to the second against problems of ~8 s: coarse; to the millisecond: not
    assert rb.start_resolution_s == 1.0 and rb.coarse
    fine = [
        dict(r, timing=dict(r["timing"], started_at=r["timing"]["started_at"].replace("Z", ".000Z"))) for r in records
    ]
    assert run_busy(fine[:2]).start_resolution_s == pytest.approx(0.001) and not run_busy(fine[:2]).coarse
    # batched: the headline fractions are the run's, and the per-problem ones stay beside them
    m = schedule_metrics(records[:2])
    assert m.basis == "run" and m.problems_at_once == 4
    assert m.busy_fraction == pytest.approx(rb.busy_fraction) and m.overlap_fraction == pytest.approx(5 / 11)
    assert m.problem_busy_fraction == pytest.approx({"draft": 12.5 / 17, "target": 9 / 17})
    assert any("coarse" in n for n in m.notes)
    assert schedule_metrics(fine[:2]).notes == []
    # the block's own sub-second start wins over the stamp (here a stamp 1 s off, floored)
    exact = [
        sched_record(0, scenario(), 11.0, at_once=4, started_at="2026-11-29T22:00:00Z", started=1000.25),
        sched_record(1, second_problem(), 6.0, at_once=4, started_at="2026-11-29T22:00:02Z", started=1003.25),
    ]
    rb = run_busy(exact)
    assert rb.busy_seconds == pytest.approx({"draft": 9.0, "target": 6.0}) and rb.overlap_seconds == pytest.approx(5.0)
    assert rb.start_resolution_s < 1e-3 and not rb.coarse


def test_timeline_lanes_stack_requests_in_flight_together():
    from ssr.analysis.schedule import timeline_lanes

    events = scenario() + [Event("target", "score", 1, 1, 10.5, None)]  # still in flight when the record was written
    tl = timeline_lanes(block("async", True, events, 11.0))
    assert [lane["engine"] for lane in tl["lanes"]] == ["target", "draft"]
    target, draft = tl["lanes"]
    # by submit, then end: score p0 [3,5] row 0, score p1 [4,6] row 1, score p0 s1 [6,7] row 0 (free since 5),
    # rewrite [6,9] row 1 (free since 6), the open one [10.5, wall] row 0
    assert [(b["s"], b["e"], b["r"]) for b in target["bars"]] == [
        (3.0, 5.0, 0),
        (4.0, 6.0, 1),
        (6.0, 7.0, 0),
        (6.0, 9.0, 1),
        (10.5, 11.0, 0),
    ]
    assert target["rows"] == 2 and target["bars"][-1]["open"] == 1
    assert [b["r"] for b in draft["bars"]] == [0, 0, 1, 0, 1, 0, 0] and draft["rows"] == 2
    assert [(b["ph"], b["p"], b["k"]) for b in draft["bars"] if b.get("w")] == [("predraft", 1, 1), ("draft", 0, 2)]
    assert [(b["ph"], b["p"], b["k"]) for b in draft["bars"] if b.get("c")] == [("draft", 0, 2)]
    assert tl["wall"] == 11.0 and tl["name"] == "async" and tl["critical_path"]["path"] == 1
