"""The benchmark script end to end on the tiny preset (numbers meaningless; the report's shape is checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
            "2",
            "--sequential_limit",
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
    assert [p["id"] for p in report["problems"]] == [14, 16]  # the first two level-1 MATH-500 problems
    arms = ["baseline", "parallel", "spec-reason", "ssr", "ssr-fast1", "ssr-fast2"]
    assert list(report["arms"]["batched"]) == list(report["arms"]["sequential"]) == arms
    assert all(a["written"] == 2 for a in report["arms"]["batched"].values())
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
