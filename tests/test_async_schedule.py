"""The async schedule against lock-step, on scripted engines: the same records, overlapping engines,
pre-drafts used and cancelled, fast modes by step index, one failure costing one problem."""

from __future__ import annotations

import os

import pytest

from conftest import needs_benchmark_data, vllm_installed
from scripted import ScriptedEngine, comparable_records, hashed_steps, stable_int
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.engines.base import EngineError, EngineGone
from ssr.records import load_records
from ssr.runner import run_dir, run_experiment

PROBLEMS = [Problem("math", i, f"Problem number {i}: compute {i}+{i}.", str(i % 3), {}) for i in range(5)]


def spread_scores(prompt: str) -> list[float]:
    """A distribution over the ten digits that depends on the prompt only: some steps fall below 7."""
    h = stable_int(prompt)
    top = h % 10
    probs = [0.02] * 10
    probs[top] += 0.8
    probs[(top + 3) % 10] += 0.0
    return probs


def engines(draft_s: float = 0.0, target_s: float = 0.0, **draft_kw) -> dict:
    target = ScriptedEngine(lambda p, sp: (f"Target rewrite {stable_int(p, sp.seed) % 89}", "stop", "\n\n"),
                            spread_scores)
    draft = ScriptedEngine(hashed_steps(**({"answer_after": 5} | draft_kw)))
    target.seconds_per_token, draft.seconds_per_token = target_s, draft_s
    return {"target": target, "draft": draft}


def config(tmp_path, **kw) -> RunConfig:
    base = dict(method="ssr", dataset_name="math", output_dir=str(tmp_path), repeat_id=2, method_num=3,
                token_budget=200, progress=False)
    return RunConfig(**(base | kw))


def the_method(folder) -> dict:
    """What both schedules must agree on: every record without timing, config, schedule and usage."""
    out = comparable_records(folder)
    for rec in out.values():
        rec.pop("usage")
    return out


def schedules(records) -> list[dict]:
    return [r.schedule for r in records]


@pytest.mark.parametrize(
    "settings",
    [
        {"method": "ssr"},
        {"method": "ssr", "fast": 1},
        {"method": "ssr", "fast": 2},
        {"method": "spec", "num_paths": 3},
        {"method": "ssr", "predraft": False},
        {"method": "ssr", "score_method": "average", "max_concurrent_problems": 1},
    ],
    ids=["ssr", "fast1", "fast2", "spec", "no-predraft", "average-one-at-a-time"],
)
def test_async_and_lockstep_write_the_same_records(tmp_path, settings):
    lock = config(tmp_path, **settings)
    asyn = config(tmp_path, schedule="async", **settings)
    run_experiment(lock, PROBLEMS, engines())
    eng = engines(draft_s=0.0005, target_s=0.001)
    run_experiment(asyn, PROBLEMS, eng)
    assert run_dir(asyn) != run_dir(lock)
    a, b = the_method(run_dir(lock)), the_method(run_dir(asyn))
    assert len(a) == 10 and a == b
    recs = load_records(run_dir(asyn)).records
    blocks = schedules(recs)
    assert all(s["name"] == "async" for s in blocks)
    rewrites = sum(r.stats.rewrites for r in recs)
    assert rewrites > 0  # the scores reject some steps, so pre-drafts are cancelled as well as used
    pre = [s["predrafts"] for s in blocks]
    if asyn.predraft:
        assert sum(p["used"] for p in pre) > 0 and sum(p["wasted"] for p in pre) > 0
    else:
        assert sum(p["submitted"] for p in pre) == 0
    assert eng["draft"].requests_in_flight() == 0 and eng["target"].requests_in_flight() == 0


def test_fast_modes_cancel_the_steps_that_ran_ahead_of_the_decision(tmp_path):
    # paths reach their answer after different numbers of steps, so Fast-1 decides while others run ahead
    cfg = config(tmp_path, schedule="async", fast=1, repeat_id=1)
    eng = engines(draft_s=0.001, target_s=0.002)
    run_experiment(cfg, PROBLEMS, eng)
    recs = load_records(run_dir(cfg)).records
    stopped = [p for r in recs for p in r.paths if p.finish_reason == "stopped_fast"]
    assert stopped
    for r in recs:
        kept = {(e["path"], e["step"]) for e in r.schedule["timeline"] if not e["wasted"] and e["step"] is not None}
        for p in r.paths:  # what the record keeps is exactly the steps whose requests were not wasted
            assert {k for (i, k) in kept if i == p.index} == set(range(len(p.steps)))
    wasted = [e for r in recs for e in r.schedule["timeline"] if e["wasted"]]
    assert any(e["step"] is not None and e["phase"] != "predraft" for e in wasted)
    assert eng["draft"].requests_in_flight() == 0 and eng["target"].requests_in_flight() == 0


def test_the_timeline_shows_both_engines_at_work_and_predrafts_before_their_scores(tmp_path):
    cfg = config(tmp_path, schedule="async", repeat_id=1, max_concurrent_problems=1)
    run_experiment(cfg, PROBLEMS[:2], engines(draft_s=0.002, target_s=0.004))
    for rec in load_records(run_dir(cfg)).records:
        s = rec.schedule
        assert s["overlap_seconds"] > 0 and 0 < s["busy_seconds"]["draft"] < s["wall_seconds"]
        events = s["timeline"]
        scores = {(e["path"], e["step"]): e for e in events if e["phase"] == "score"}
        early = [
            e for e in events
            if e["phase"] == "predraft" and e["submit"] < scores[(e["path"], e["step"] - 1)]["end"]
        ]
        assert early
        assert s["critical_path"]["path"] in {p.index for p in rec.paths}


def test_lockstep_records_carry_their_timeline_too(tmp_path):
    cfg = config(tmp_path, repeat_id=1)
    run_experiment(cfg, PROBLEMS[:2], engines())
    for rec in load_records(run_dir(cfg)).records:
        assert rec.schedule["name"] == "lockstep"
        phases = {e["phase"] for e in rec.schedule["timeline"]}
        assert {"select", "draft", "score"} <= phases
        steps = sum(len(p.steps) for p in rec.paths)
        assert sum(e["phase"] == "score" for e in rec.schedule["timeline"]) == steps


class FailingFor(ScriptedEngine):
    """Fails every request of one problem (by its text), or dies for good."""

    def __init__(self, base: ScriptedEngine, needle: str, gone: bool = False):
        super().__init__(base.generate_fn, base.score_fn)
        self.needle, self.gone = needle, gone
        self.seconds_per_token = base.seconds_per_token

    async def ascore_digits(self, prompts, sessions=None):
        if any(self.needle in self.render(p) for p in prompts):
            raise (EngineGone if self.gone else EngineError)("engine refused")
        return await super().ascore_digits(prompts, sessions)


def test_a_failed_request_fails_only_its_problem(tmp_path):
    eng = engines(draft_s=0.0005, target_s=0.001)
    eng["target"] = FailingFor(eng["target"], "Problem number 2:")
    cfg = config(tmp_path, schedule="async", repeat_id=1)
    summary = run_experiment(cfg, PROBLEMS, eng)
    assert [f.problem_id for f in summary.failed] == [2]
    names = sorted(p.name for p in run_dir(cfg).glob("problem_*.json"))
    assert names == [f"problem_{i}_repeat_0.json" for i in (0, 1, 3, 4)]
    assert eng["draft"].requests_in_flight() == 0


def test_a_gone_engine_stops_the_run(tmp_path):
    eng = engines()
    eng["target"] = FailingFor(eng["target"], "Problem number 3:", gone=True)
    cfg = config(tmp_path, schedule="async", repeat_id=1, max_concurrent_problems=1)
    with pytest.raises(EngineGone):
        run_experiment(cfg, PROBLEMS, eng)
    assert sorted(p.name for p in run_dir(cfg).glob("problem_*.json")) == [
        f"problem_{i}_repeat_0.json" for i in range(3)
    ]


def test_an_engine_without_an_async_interface_is_refused_by_name(tmp_path):
    class SyncOnly(ScriptedEngine):
        backend = "hf"
        supports_async = False

    eng = engines()
    eng["draft"] = SyncOnly(hashed_steps())
    with pytest.raises(EngineError, match="hf engine has no asynchronous interface"):
        run_experiment(config(tmp_path, schedule="async"), PROBLEMS[:1], eng)



def async_script(*args):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    return subprocess.run([sys.executable, "spec_scale_reason_async.py", "--preset", "tiny", *args], cwd=repo,
                          env=env, capture_output=True, text=True)


def test_the_async_script_refuses_the_transformers_backend_before_anything_loads():
    refused = async_script("--backend", "hf")
    assert refused.returncode == 2 and "--schedule async needs two engines working at once" in refused.stderr


@needs_benchmark_data
@pytest.mark.skipif(not vllm_installed(), reason="needs vLLM")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two engines at once need a core each")
def test_the_async_script_plans_each_engine_on_its_own_cores():
    """spec_scale_reason_async.py is SSR under --schedule async: its plan pins each vLLM engine on CPU."""
    import json

    plan = async_script("--backend", "vllm", "--dry_run")
    assert plan.returncode == 0, plan.stderr[-2000:]
    engines = json.loads(plan.stdout)["engines"]
    assert engines["draft"]["cpus"] and engines["target"]["cpus"]
    assert not set(engines["draft"]["cpus"]) & set(engines["target"]["cpus"])
