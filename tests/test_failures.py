"""One failure costs one problem; an engine gone for good stops the run with the finished files intact."""

from __future__ import annotations

import json
import sys
import types

import pytest

from scripted import ScriptedEngine, comparable_records, hashed_steps
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.engines.base import EngineError, EngineGone
from ssr.records import is_complete
from ssr.runner import run_dir, run_experiment

PROBLEMS = [Problem("math", i, f"Problem number {i}: compute {i}+{i}.", str(i % 3), {}) for i in range(6)]


class Failing(ScriptedEngine):
    """A scripted engine whose calls raise ``error`` when any prompt of the call contains ``marker``,
    or (``gone_after``) every call after that many calls."""

    def __init__(self, *a, marker=None, error=EngineError, gone_after=None, **kw):
        super().__init__(*a, **kw)
        self.marker, self.error, self.gone_after = marker, error, gone_after
        self.failed_calls = self.gone_calls = 0

    def _check(self, prompts):
        if self.gone_after is not None and len(self.calls) >= self.gone_after:
            self.gone_calls += 1
            raise EngineGone("the draft server stayed unreachable for 600 s")
        if self.marker and any(self.marker in self.render(p) for p in prompts):
            self.failed_calls += 1
            raise self.error(f"prompt too long ({len(prompts)} in the call)")

    def generate(self, prompts, params, sessions=None):
        self._check(prompts)
        return super().generate(prompts, params, sessions)


def engines(**draft_kw):
    return {
        # every step accepted: a score of the prompt's length changed with every wording of the prompt set
        "target": ScriptedEngine(lambda p, sp: ("Target rewrite", "stop", "\n\n"), lambda p: 9),
        "draft": Failing(hashed_steps(answer_after=3), **draft_kw),
    }


def config(tmp_path, **kw) -> RunConfig:
    base = dict(method="ssr", dataset_name="math", output_dir=str(tmp_path), repeat_id=2, method_num=3,
                token_budget=200, progress=False, max_concurrent_problems=8)
    return RunConfig(**(base | kw))



# the second draft round of problem 3 (both repeats): the failure comes after the problem has made progress
MARKER = "Problem number 3:"


def _fails_in_round_two(prompt: str) -> bool:
    return MARKER in prompt and "Step 0" in prompt


class SecondRound(Failing):
    def _check(self, prompts):
        if any(_fails_in_round_two(self.render(p)) for p in prompts):
            self.failed_calls += 1
            raise EngineError("the request of problem 3 was refused: prompt too long")


def test_a_failing_problem_costs_only_itself_and_a_rerun_retries_it(tmp_path, capsys):
    clean = config(tmp_path / "clean")
    run_experiment(clean, PROBLEMS, engines())
    expected = comparable_records(run_dir(clean))

    cfg = config(tmp_path / "run")
    eng = engines()
    eng["draft"] = SecondRound(hashed_steps(answer_after=3))
    summary = run_experiment(cfg, PROBLEMS, eng)

    assert sorted((f.problem_id, f.repeat) for f in summary.failed) == [(3, 0), (3, 1)]
    assert all("prompt too long" in f.message for f in summary.failed)
    got = comparable_records(run_dir(cfg))
    assert set(got) == set(expected) - {(3, 0), (3, 1)}
    assert got == {k: v for k, v in expected.items() if k in got}  # the others as if nothing had failed
    assert not list(run_dir(cfg).glob("problem_3_*"))
    # the batch failed once, then each problem of it was asked alone: problem 3's repeats failed again
    assert eng["draft"].failed_calls == 3
    err = capsys.readouterr().err
    assert "failed: problem 3 repeat 0: the request of problem 3 was refused" in err and "a rerun retries it" in err

    saved = json.loads((run_dir(cfg) / "run_summary.json").read_text())
    assert saved["counts"] == {"total": 12, "skipped": 0, "written": 10, "failed": 2}
    assert {(f["problem_id"], f["repeat"]) for f in saved["failed"]} == {(3, 0), (3, 1)}
    assert saved["stopped"] is None and saved["config"] == cfg.to_dict()

    again = run_experiment(cfg, PROBLEMS, engines())
    assert sorted(p.name for p in again.written) == ["problem_3_repeat_0.json", "problem_3_repeat_1.json"]
    assert again.skipped == 10 and not again.failed
    assert comparable_records(run_dir(cfg)) == expected


def test_a_lone_failing_problem_is_not_retried(tmp_path):
    """A batch of one problem that fails is that problem's failure: asking again would fail again."""
    eng = engines()
    eng["draft"] = SecondRound(hashed_steps(answer_after=3))
    summary = run_experiment(config(tmp_path, repeat_id=1, max_concurrent_problems=1), PROBLEMS[3:5], eng)
    assert [(f.problem_id, f.repeat) for f in summary.failed] == [(3, 0)] and len(summary.written) == 1
    assert eng["draft"].failed_calls == 1


def test_engine_gone_stops_the_run_and_keeps_the_finished_files(tmp_path):
    clean = config(tmp_path / "clean", max_concurrent_problems=2)
    run_experiment(clean, PROBLEMS, engines())
    expected = comparable_records(run_dir(clean))

    cfg = config(tmp_path / "run", max_concurrent_problems=2)
    eng = engines(gone_after=12)
    with pytest.raises(EngineGone, match="unreachable"):
        run_experiment(cfg, PROBLEMS, eng)
    assert eng["draft"].gone_calls == 1  # no retry: the run stopped at once
    folder = run_dir(cfg)
    files = sorted(folder.glob("problem_*.json"))
    assert 0 < len(files) < 12, "the engine should have gone part-way"
    assert all(is_complete(f) for f in files) and not list(folder.glob(".*"))  # no partial, no temporary file
    got = comparable_records(folder)
    assert got == {k: expected[k] for k in got}
    saved = json.loads((folder / "run_summary.json").read_text())
    assert saved["stopped"].startswith("EngineGone: the draft server stayed unreachable")
    assert saved["counts"]["written"] == len(files) and saved["counts"]["failed"] == 0


# ---------------------------------------------------------------- the script's exit codes
class StandInPlan:
    concurrency = 8

    def to_dict(self):
        return {"stand_in": True}

    def summary_lines(self):
        return ["plan: stand-in"]


@pytest.fixture
def script(tmp_path, monkeypatch):
    """cli.main on scripted engines (a stand-in plan), the terminal captured (--verbose: no redirection)."""
    from ssr import cli, datasets

    fake = types.ModuleType("ssr.plan")
    fake.PlanError = type("PlanError", (Exception,), {})
    fake.make_plan = lambda cfg: StandInPlan()
    monkeypatch.setitem(sys.modules, "ssr.plan", fake)
    monkeypatch.setattr(datasets, "select_problems", lambda *a: PROBLEMS[:4])

    def run(draft):
        def build(cfg, need_draft, plan=None):
            e = engines()
            e["draft"] = draft
            return e["target"], e["draft"]

        fake.build_engines = build
        argv = ["--output_dir", str(tmp_path), "--backend", "hf", "--token_budget", "200", "--no_progress",
                "--verbose", "--repeat_id", "1"]
        return cli.main("ssr", "x", argv)

    return run


def test_the_script_exits_1_at_the_end_when_a_problem_failed(script, capsys, tmp_path):
    assert script(SecondRound(hashed_steps(answer_after=3))) == 1
    out, err = capsys.readouterr()
    assert "3/4 results" in out
    assert "failed: problem 3 repeat 0" in err
    assert "1 problem(s) failed" in err and "rerun the same command to retry them" in err
    assert len(list(tmp_path.rglob("problem_*.json"))) == 3
    assert script(Failing(hashed_steps(answer_after=3))) == 0  # the rerun retries it
    assert "4/4 results" in capsys.readouterr().out and len(list(tmp_path.rglob("problem_*.json"))) == 4


def test_the_script_exits_1_with_a_clear_error_when_the_engine_is_gone(script, capsys, tmp_path):
    assert script(Failing(hashed_steps(answer_after=3), gone_after=3)) == 1
    err = capsys.readouterr().err
    assert "error: the draft server stayed unreachable for 600 s" in err
    assert "finished problems are saved; rerun the same command to resume" in err
    assert all(is_complete(f) for f in tmp_path.rglob("problem_*.json"))


class DiesAfterAFailure(SecondRound):
    def _check(self, prompts):
        if self.failed_calls:
            raise EngineGone("the engine core died")
        super()._check(prompts)


def test_engine_gone_while_the_failing_batch_is_retried_stops_the_run(tmp_path):
    eng = engines()
    eng["draft"] = DiesAfterAFailure(hashed_steps(answer_after=3))
    cfg = config(tmp_path)
    with pytest.raises(EngineGone, match="engine core died"):
        run_experiment(cfg, PROBLEMS, eng)
    saved = json.loads((run_dir(cfg) / "run_summary.json").read_text())
    assert saved["counts"]["failed"] == 0 and saved["stopped"] == "EngineGone: the engine core died"
