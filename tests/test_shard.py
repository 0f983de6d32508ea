"""--shard K/N: disjoint shares of a run's (problem, repeat)s, so N jobs write into one folder."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from scripted import ScriptedEngine, comparable_records, hashed_steps
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.records import is_complete, load_records
from ssr.runner import run_dir, run_experiment, shard_share

REPO = Path(__file__).resolve().parents[1]


def items(n_problems=7, repeats=3, dataset="math"):
    return [(Problem(dataset, i, f"P{i}", "0", {}), r) for i in range(n_problems) for r in range(repeats)]


def keys(share):
    return [(p.dataset, p.id, r) for p, r in share]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 30])
def test_the_shares_are_disjoint_cover_the_run_and_differ_by_at_most_one(n):
    run = items()
    shares = [keys(shard_share(run, f"{k}/{n}")) for k in range(1, n + 1)]
    flat = [k for share in shares for k in share]
    assert sorted(flat) == sorted(keys(run)) and len(flat) == len(set(flat))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_a_share_does_not_depend_on_the_order_the_problems_come_in():
    run = items()
    shuffled = run[:]
    random.Random(0).shuffle(shuffled)
    for k in (1, 2, 3):
        assert sorted(keys(shard_share(run, f"{k}/3"))) == sorted(keys(shard_share(shuffled, f"{k}/3")))
    assert keys(shard_share(run, None)) == keys(run)
    # dealt round-robin in (problem id, repeat) order: shard 1 of 2 takes the 1st, 3rd, 5th, ...
    assert keys(shard_share(items(2, 2), "1/2")) == [("math", 0, 0), ("math", 1, 0)]


def engines():
    return {
        "target": ScriptedEngine(lambda p, sp: ("Target rewrite", "stop", "\n\n"), lambda p: len(p) % 10),
        "draft": ScriptedEngine(hashed_steps(answer_after=3)),
    }



def test_shards_fill_one_folder_with_the_whole_run_and_resume_on_their_own(tmp_path):
    problems = [Problem("math", i, f"Problem number {i}: compute {i}+{i}.", str(i % 3), {}) for i in range(5)]
    base = dict(method="ssr", repeat_id=2, method_num=2, token_budget=200, progress=False)
    whole = RunConfig(output_dir=str(tmp_path / "whole"), **base)
    run_experiment(whole, problems, engines())
    shards = [RunConfig(output_dir=str(tmp_path / "shared"), shard=f"{k}/2", **base) for k in (1, 2)]
    assert run_dir(shards[0]) == run_dir(shards[1])  # the shard is no part of the folder's name
    written = [run_experiment(cfg, problems, engines()) for cfg in shards]
    assert [len(s.written) for s in written] == [5, 5]
    assert not {p.name for p in written[0].written} & {p.name for p in written[1].written}
    assert comparable_records(run_dir(shards[0])) == comparable_records(run_dir(whole))
    folder = run_dir(shards[0])
    for k in (1, 2):
        summary = json.loads((folder / f"run_summary.shard-{k}-of-2.json").read_text())
        assert summary["shard"] == f"{k}/2" and summary["counts"]["written"] == 5
    assert not (folder / "run_summary.json").exists()
    # resume per shard: shard 1 finds its own work done and leaves shard 2's missing file alone
    (folder / written[1].written[0].name).unlink()
    again = run_experiment(shards[0], problems, engines())
    assert again.skipped == 5 and not again.written
    again = run_experiment(shards[1], problems, engines())
    assert [p.name for p in again.written] == [written[1].written[0].name] and again.skipped == 4


@pytest.mark.slow
def test_two_concurrent_jobs_share_one_folder_and_the_eval_reads_the_union(tmp_path):
    """Two real jobs (tiny models, transformers on CPU) at once into one folder."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = tmp_path / "out"
    args = ["spec_scale_reason_2.py", "--preset", "tiny", "--backend", "hf", "--device", "cpu", "--problem_id", "0-1",
            "--output_dir", str(out), "--no_progress"]
    jobs = [
        subprocess.Popen([sys.executable, *args, "--shard", f"{k}/2"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for k in (1, 2)
    ]
    results = [(job.wait(timeout=600), *job.communicate()) for job in jobs]
    for rc, stdout, stderr in results:
        assert rc == 0, stderr[-3000:]
    for k, (_, stdout, _) in enumerate(results, 1):
        assert "1/1 results" in stdout and f"(shard {k}/2)" in stdout
    (folder,) = (out / "ssr" / "math").iterdir()
    files = sorted(f.name for f in folder.glob("problem_*.json"))
    assert files == [f"problem_{i}_repeat_0.json" for i in range(2)]
    assert all(is_complete(folder / f) for f in files)
    written = [set(json.loads((folder / f"run_summary.shard-{k}-of-2.json").read_text())["counts"].items())
               for k in (1, 2)]
    assert ("written", 1) in written[0] and ("written", 1) in written[1]
    assert {r.config["shard"] for r in load_records(folder).records} == {"1/2", "2/2"}
    assert (folder / "engine.shard-1-of-2.log").exists() and (folder / "engine.shard-2-of-2.log").exists()

    proc = subprocess.run([sys.executable, "spec_eval.py", "--result_dir", str(out / "ssr"), "--out",
                           str(tmp_path / "eval"), "--no_plots"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = json.loads((tmp_path / "eval" / "summary.json").read_text())["runs"]
    assert run["records"] == 2 and run["problems"] == 2
