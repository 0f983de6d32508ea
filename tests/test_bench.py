"""The benchmark script end to end on the tiny preset (numbers meaningless; the report's shape is checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import vllm_installed

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_writes_report_json_markdown_and_plot(tmp_path):
    out = tmp_path / "bench"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [
            sys.executable,
            "bench/run_bench.py",
            "--preset",
            "tiny",
            "--backend",
            "hf",
            "--problem_id",
            "all",
            "--levels",
            "1",
            "--limit",
            "1",
            "--no_progress",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [p["id"] for p in report["problems"]] == [14]  # the first level-1 MATH-500 problem
    arms = ["baseline", "parallel", "spec-reason", "ssr", "ssr-fast1", "ssr-fast2"]
    assert list(report["arms"]["batched"]) == list(report["arms"]["sequential"]) == arms
    assert all(a["written"] == 1 for a in report["arms"]["batched"].values())
    assert all(a["written"] == 1 for a in report["arms"]["sequential"].values())  # one problem at a time, first problem
    for mode in ("batched", "sequential"):
        by_arm = report["evaluation"][mode]["by_arm"]
        assert set(by_arm) == set(arms) and all(r is not None for r in by_arm.values())
        # the folder tag names the main settings (then a hash of the rest of the run's identity)
        assert "fast1" in by_arm["ssr-fast1"]["tag"].split("_") and by_arm["ssr"]["flops"]["gamma"] is not None
    seq = report["evaluation"]["sequential"]["by_arm"]
    # one problem at a time: the target's critical path is at least its generated tokens on the baseline
    assert seq["baseline"]["target_forward_passes_mean"] == seq["baseline"]["target_tokens_mean"]
    assert seq["ssr"]["target_forward_passes_mean"] > 0
    assert 0 < report["phase_share"]["ssr"]["score"] < 1 and report["prefix_cache"]["ssr"]["scoring_calls"] > 0
    md = (out / "report.md").read_text()
    assert "| ssr-fast2 |" in md and "## Targets" in md and report["command"].startswith("python bench/run_bench.py")
    assert (out / "report.png").stat().st_size > 0

    # the bounds section: unit costs of every arm, and a FLOPs split that adds up to the eval table's ratio
    b = report["bounds"]
    assert set(b["unit_costs"]) == set(arms) and b["unit_costs"]["baseline"]["target_decode_s_per_token"] > 0
    for name in ("spec-reason", "ssr"):
        flops = report["evaluation"]["batched"]["by_arm"][name]["flops"]
        assert b["flops_split"][name]["total"] == pytest.approx(flops["processed_flops_ratio"], rel=1e-6)
        assert b["flops_split"][name]["alpha"] == pytest.approx(flops["alpha"], rel=1e-6)
    assert b["note_tokens"] > 0 and "## What bounds the targets here" in md

    # --rerender recomputes the same report from the run folders; a folder with no report is refused
    again = subprocess.run(
        [sys.executable, "bench/run_bench.py", "--rerender", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "report.md").read_text() == md
    bad = subprocess.run(
        [sys.executable, "bench/run_bench.py", "--rerender", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "report.json" in bad.stderr

    # calibration replays the loop's own scoring prompts: on the recorded steps it gives the recorded scores
    spec_dir = report["evaluation"]["sequential"]["by_arm"]["ssr"]["run_dir"]
    cal = subprocess.run(
        [
            sys.executable,
            "bench/calibrate.py",
            "--preset",
            "tiny",
            "--backend",
            "hf",
            "--records",
            spec_dir,
            "--out",
            str(tmp_path / "cal.json"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cal.returncode == 0, cal.stderr[-3000:]
    data = json.loads((tmp_path / "cal.json").read_text())
    steps = report["prefix_cache"]["ssr"]["scoring_calls"]
    assert data["summary"]["steps"] == len(data["scores"]) == steps
    assert data["scores"] == pytest.approx(data["recorded_scores"], abs=1e-3)


@pytest.mark.slow
@pytest.mark.skipif(not vllm_installed(), reason="needs vLLM")
def test_bench_async_arms_on_their_own_engines(tmp_path):
    """SSR under both schedules on real vLLM engines (the async ones pinned, loaded after the lock-step ones
    close): the async arm's records equal the lock-step arm's, and the report has its schedule numbers."""
    out = tmp_path / "bench"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # one problem, short paths: four engine loads (two lock-step, two pinned async) are most of its time
    args = ["--preset", "tiny", "--backend", "vllm", "--problem_id", "all", "--levels", "1", "--limit", "1"]
    args += ["--token_budget", "48", "--arms", "ssr-async,baseline,ssr", "--no_progress", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "bench/run_bench.py", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert list(report["arms"]["batched"]) == list(report["arms"]["sequential"]) == ["baseline", "ssr", "ssr-async"]
    assert set(report["engine_load_seconds_by_schedule"]) == {"lockstep", "async"}
    for mode, written in (("batched", 1), ("sequential", 1)):
        assert report["arms"][mode]["ssr-async"]["written"] == written
        assert "async" in report["evaluation"][mode]["by_arm"]["ssr-async"]["tag"].split("_")
        # the same reasoning under both schedules (the tiny models give a request the same output in any batch)
        eq = report["equality"][mode]["ssr-async"]
        assert eq["equal"] and eq["records_compared"] == written and eq["steps_compared"] > 0, eq
        s = report["schedule"][mode]
        assert (s["ssr"]["schedule"], s["ssr-async"]["schedule"]) == ("lockstep", "async")
        assert s["ssr-async"]["predraft"] is True
        assert s["ssr-async"]["predrafts_submitted"] > 0 and set(s["ssr-async"]["busy_fraction"]) >= {"target", "draft"}
    b = report["bounds"]["async"]
    assert b["arms"]["ssr-async"]["reference"] == "ssr" and b["arms"]["ssr-async"]["engine_floor_s"] > 0
    assert b["throughput"]["ratio"] > 0
    md = (out / "report.md").read_text()
    assert "## The async schedule" in md and "| sequential | ssr-async |" in md and "ssr-async records equal" in md


# --------------------------------------------------------------------------- the async arms (no model loaded)


def timed_record(problem_id, wall, target, draft, schedule="lockstep", predrafts=(0, 0)):
    """A record whose timeline has one target request of ``target`` s and one draft request of ``draft`` s
    (and ``predrafts`` = (used, wasted) pre-draft requests of no length)."""
    from ssr.records import Path as RPath
    from ssr.records import Record, Timing
    from ssr.timeline import Event, block

    events = [Event("draft", "draft", 0, 0, 0.0, draft, tokens=5), Event("target", "score", 0, 0, 0.0, target)]
    used, wasted = predrafts
    events += [Event("draft", "predraft", 0, 1, 0.0, 0.0) for _ in range(used)]
    events += [Event("draft", "predraft", 0, 1, 0.0, 0.0, cancelled=True, wasted=True) for _ in range(wasted)]
    return Record(
        method="ssr",
        dataset="math",
        problem_id=problem_id,
        repeat=0,
        gold_answer="1",
        final_answer="1",
        paths=[RPath(index=0, text="x")],
        config={},
        timing=Timing(wall_seconds=wall),
        schedule=block(schedule, schedule == "async", events, wall),
    )


def test_pick_arms_default_explicit_and_refused():
    sys.path.insert(0, str(REPO))
    from bench.run_bench import ARMS, pick_arms

    assert pick_arms(None, "vllm") == list(ARMS) and len(ARMS) == 10
    assert pick_arms(None, "hf") == ["baseline", "parallel", "spec-reason", "ssr", "ssr-fast1", "ssr-fast2"]
    assert pick_arms("ssr-async,baseline,ssr", "vllm") == ["baseline", "ssr", "ssr-async"]  # the bench's order
    for bad in ("ssr,ssr-async", "baseline,ssr-slow"):
        with pytest.raises(ValueError, match="--arms must include baseline"):
            pick_arms(bad, "vllm")


def test_async_arms_are_their_lockstep_arms_under_the_async_schedule(tmp_path):
    import dataclasses

    from bench.run_bench import method_configs
    from ssr.config import RunConfig

    base = RunConfig(method="ssr", schedule="async", predraft=False, num_paths=3, method_num=3)
    configs = method_configs(base, tmp_path, 3)
    for name in ("spec-reason", "ssr", "ssr-fast1", "ssr-fast2"):
        lock, asy = configs[name], configs[name + "-async"]
        assert (lock.schedule, asy.schedule, asy.predraft) == ("lockstep", "async", True)
        assert dataclasses.replace(asy, schedule="lockstep", predraft=lock.predraft) == lock
    assert configs["baseline"].schedule == "lockstep" and configs["ssr-fast2-async"].fast == 2


def test_async_bounds_from_the_engines_busy_seconds():
    from bench.bounds import async_bounds

    seq = {
        "baseline": [timed_record(1, 20.0, 19.0, 0.0), timed_record(2, 10.0, 9.0, 0.0)],  # wall 15 per problem
        "spec-reason": [timed_record(1, 12.0, 6.0, 5.0)],
        "spec-reason-async": [timed_record(1, 9.0, 7.0, 6.0, "async")],
        "ssr": [timed_record(1, 10.0, 6.0, 4.0)],
        "ssr-async": [timed_record(1, 8.0, 7.5, 5.0, "async")],
    }
    schedule = {"batched": {"ssr-async": {"run": {"busy_seconds": {"target": 30.0, "draft": 20.0}}}}}
    arms = {"batched": {"ssr": {"written": 4, "seconds": 40.0}, "ssr-async": {"written": 4, "seconds": 36.0}}}
    b = async_bounds(seq, schedule, arms)
    ssr = b["arms"]["ssr-async"]
    assert (ssr["reference"], ssr["reference_s"], ssr["bottleneck"]) == ("ssr", 10.0, "target")
    assert ssr["engine_floor_s"] == 7.5
    assert ssr["slowdown"] == pytest.approx({"target": 1.25, "draft": 1.25})
    assert (ssr["floor_ratio"], ssr["ratio"], ssr["over_floor"]) == pytest.approx((0.75, 0.8, 8 / 7.5))
    spec = b["arms"]["spec-reason-async"]  # spec-reason's reference is the baseline (its target alone)
    assert (spec["reference"], spec["reference_s"], spec["floor_ratio"]) == ("baseline", 15.0, pytest.approx(7 / 15))
    t = b["throughput"]  # at best 4 problems per 30 s of the bottleneck against 4 per 40 s
    assert t["bottleneck"] == "target" and (t["ratio_ceiling"], t["ratio"]) == pytest.approx((40 / 30, 40 / 36))
    assert set(b["arms"]) == {"ssr-async", "spec-reason-async"}


def test_async_targets_and_report_section(tmp_path):
    from bench.async_arms import equality, schedule_stats, section, targets
    from ssr.records import result_filename, write_record

    folders = {"sequential": {}}
    for name, recs in {
        "ssr": [timed_record(1, 10.0, 6.0, 4.0), timed_record(2, 10.0, 6.0, 4.0)],
        "ssr-async": [timed_record(1, 8.0, 7.6, 5.0, "async", (3, 1)), timed_record(2, 8.0, 7.6, 5.0, "async")],
    }.items():
        folders["sequential"][name] = tmp_path / name
        for r in recs:
            write_record(tmp_path / name / result_filename(r.problem_id, 0), r)
    stats = {name: schedule_stats(f) for name, f in folders["sequential"].items()}
    a = stats["ssr-async"]
    assert a["busy_fraction"] == pytest.approx({"target": 0.95, "draft": 5 / 8}) and a["basis"] == "problems"
    assert (a["predrafts_submitted"], a["predrafts_used"], a["predraft_hit_rate"]) == (4, 3, 0.75)
    eq = equality(folders)
    assert list(eq) == ["sequential"] and eq["sequential"]["ssr-async"]["equal"]  # same texts, other timings

    def ev(lat):
        return {"latency_s": {"mean": lat}}

    report = {
        "evaluation": {
            "sequential": {"by_arm": {"baseline": ev(20.0), "spec-reason-async": ev(11.0), "ssr": ev(10.0),
                                      "ssr-async": ev(8.0)}},
            "batched": {"by_arm": {"baseline": {"pass@1_ci95": [0.25, 0.75]}, "spec-reason-async": {"pass@1": 0.5}}},
        },
        "arms": {"batched": {"ssr": {"records_per_hour": 100.0}, "ssr-async": {"records_per_hour": 130.0}}},
        "schedule": {"sequential": stats},
        "equality": eq,
        "bounds": {},
    }
    got = {t: (measured, ok) for t, measured, ok in targets(report)}
    rows = list(got.values())
    assert [ok for _, ok in rows] == [True, True, True, True, True]
    assert rows[0][0].startswith("0.55x") and rows[1][0] == "0.80x" and rows[2][0] == "1.30x"
    assert rows[3][0].startswith("target 95%")
    report["arms"]["batched"]["ssr-async"]["records_per_hour"] = 110.0
    report["evaluation"]["batched"]["by_arm"]["spec-reason-async"]["pass@1"] = 0.125  # outside the baseline's CI
    assert [ok for _, _, ok in targets(report)][:3] == [False, True, False]
    md = "\n".join(section(report))
    assert "| sequential | ssr-async | 95% | 62% |" in md and "3 / 4 (75%)" in md
    assert "ssr-async, one at a time: its last path's time by what it waited on (score 100%, draft 66%" in md
    assert section({"schedule": {"batched": {}, "sequential": {}}}) == []  # a report from before timelines
