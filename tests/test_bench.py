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
        [sys.executable, "bench/run_bench.py", "--preset", "tiny", "--backend", "hf", "--problem_id", "all", "--levels", "1",
         "--limit", "2", "--no_progress", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [p["id"] for p in report["problems"]] == [14, 16]  # the first two level-1 MATH-500 problems
    assert set(report["methods"]) == {"baseline", "parallel", "spec-reason", "ssr"}
    assert report["throughput"]["sequential"]["problems"] == report["throughput"]["batched"]["problems"] == 2
    methods = {r["method"] for r in report["evaluation"]["runs"]}
    assert methods == {"base", "parallel", "spec", "ssr"}
    md = (out / "report.md").read_text()
    assert "| ssr |" in md and "throughput ratio" in md and report["command"].startswith("python bench/run_bench.py")
    assert (out / "report.png").stat().st_size > 0
