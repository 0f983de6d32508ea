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
