"""--answer_rule boxed|lenient: the same texts read by both rules, at generation (base, parallel, spec with a
fast mode, through the runner) and at evaluation (hand-made records read again, fast-mode runs refused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripted import ScriptedEngine
from ssr.analysis.answer_rule import AnswerRuleError, apply_answer_rule, recorded_rule
from ssr.analysis.evaluate import Options, evaluate
from ssr.analysis.loading import EvalError, Grader
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.reasoning import request_seed
from ssr.records import load_records, read_record
from ssr.runner import run_experiment

CUT = "...so the final answer is 96 perhaps, but I need to verify this carefully before"  # cut by the budget
PROBLEM = Problem("math", 0, "What is 90 + 6?", "96", {})


def exact(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def run(tmp_path: Path, engines: dict, **kw) -> list:
    out = tmp_path / kw.get("answer_rule", "boxed")
    cfg = RunConfig(dataset_name="math", output_dir=str(out), progress=False, **kw)
    summary = run_experiment(cfg, [PROBLEM], engines, equal=exact)
    return [read_record(p) for p in summary.written]


def target_writes(*texts: str) -> ScriptedEngine:
    """A target that writes ``texts`` in turn, one per path (a path's whole generation); longer ones are cut."""
    it = iter(texts * 10)
    return ScriptedEngine(lambda prompt, params: (next(it), "stop", None))


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("rule,answer,finish", [("boxed", None, "budget"), ("lenient", "96", "answer")])
def test_base_path_cut_by_the_budget(tmp_path, rule, answer, finish):
    engines = {"target": target_writes(CUT), "draft": None}
    (rec,) = run(tmp_path, engines, method="base", token_budget=8, answer_rule=rule)
    assert (rec.paths[0].answer, rec.paths[0].finish_reason, rec.final_answer) == (answer, finish, answer)
    assert rec.config["answer_rule"] == rule


@pytest.mark.parametrize("rule,final,votes", [("boxed", "5", {"5": 1}), ("lenient", "96", {"96": 2, "5": 1})])
def test_parallel_votes_by_the_rule(tmp_path, rule, final, votes):
    texts = (CUT, "it is \\boxed{5}", "Answer: 96")
    recs = run(
        tmp_path, {"target": target_writes(*texts), "draft": None}, method="parallel", num_paths=3, token_budget=12,
        answer_rule=rule,
    )
    (rec,) = recs
    assert (rec.final_answer, rec.votes) == (final, votes)


def spec_engines(cfg_seed: int = 0):
    """Path 0 writes a step, then "Answer: 7" and ends its turn without a box; path 1 boxes 3 in its fourth step."""
    path0 = {request_seed(cfg_seed, "math", 0, 0, 0, rnd, "draft"): rnd for rnd in range(20)}

    def draft(prompt, params):
        if params.seed in path0:
            return ("Let me think.", "stop", "\n\n") if path0[params.seed] == 0 else ("Answer: 7", "stop", None)
        k = prompt.count("Step ")
        return (f"Step {k}.", "stop", "\n\n") if k < 3 else ("So \\boxed{3}", "stop", None)

    return {"target": ScriptedEngine(lambda p, sp: ("t", "stop", "\n\n"), lambda p: 9), "draft": ScriptedEngine(draft)}


@pytest.mark.parametrize(
    "rule,final,finishes", [("boxed", "3", ["eos", "answer"]), ("lenient", "7", ["answer", "stopped_fast"])]
)
def test_a_fast_mode_stops_by_the_rule(tmp_path, rule, final, finishes):
    (rec,) = run(tmp_path, spec_engines(), method="spec", num_paths=2, fast=1, token_budget=500, answer_rule=rule)
    assert rec.final_answer == final
    assert [p.finish_reason for p in rec.paths] == finishes


def test_tie_break_code_in_a_parallel_run(tmp_path):
    texts = ("\\boxed{4}", "a much longer path that ends with \\boxed{5}")
    for tie_break, final in (("paper", "4"), ("code", "5")):
        (rec,) = run(
            tmp_path / tie_break, {"target": target_writes(*texts), "draft": None}, method="parallel", num_paths=2,
            token_budget=100, tie_break=tie_break,
        )
        assert rec.final_answer == final


# --------------------------------------------------------------------------- evaluation


def write_runs(root: Path, rule: str | None, fast: int = 0) -> Path:
    """Parallel and spec records as generation writes them, by running the scripted engines."""
    cfg = RunConfig(
        method="parallel", dataset_name="math", output_dir=str(root), num_paths=3, token_budget=12, progress=False,
        answer_rule=rule or "lenient",
    )
    run_experiment(cfg, [PROBLEM], {"target": target_writes(CUT, "it is \\boxed{5}", "Answer: 96"), "draft": None},
                   equal=exact)
    spec = RunConfig(
        method="spec", dataset_name="math", output_dir=str(root), num_paths=2, fast=fast, token_budget=500,
        progress=False, answer_rule=rule or "boxed",  # before the option, spec and ssr read boxes only
    )
    run_experiment(spec, [PROBLEM], spec_engines(), equal=exact)
    if rule is None:  # records made before the option: no answer_rule in their config
        for f in root.rglob("problem_*.json"):
            data = json.loads(f.read_text())
            del data["config"]["answer_rule"]
            f.write_text(json.dumps(data))
    return root


def finals(ev) -> dict:
    return {r.method: [g.record.final_answer for g in r.graded] for r in ev.runs}


def test_eval_reads_lenient_records_by_the_boxed_rule(tmp_path):
    root = write_runs(tmp_path, "lenient")
    as_made = evaluate([str(root)], Options(), Grader(exact))
    # lenient: the parallel "96" twice; the spec path 0 ends its turn on "Answer: 7" (1-1, equal scores: the first)
    assert finals(as_made) == {"parallel": ["96"], "spec": ["7"]}
    boxed = evaluate([str(root)], Options(answer_rule="boxed"), Grader(exact))
    assert finals(boxed) == {"parallel": ["5"], "spec": ["3"]}
    (par,) = [r for r in boxed.runs if r.method == "parallel"]
    rec = par.graded[0].record
    assert [p.answer for p in rec.paths] == [None, "5", None]
    assert [p.finish_reason for p in rec.paths] == ["budget", "answer", "eos"]  # "Answer: 96" ended its turn
    assert rec.votes == {"5": 1} and rec.config["answer_rule"] == "boxed"
    assert any("read again" in n for n in boxed.notes)
    # the spec run (no fast mode) read by the boxed rule: path 0 loses "7", the box of path 1 wins
    assert [g.correct for r in boxed.runs for g in r.graded] == [False, False]


def test_eval_reads_boxed_records_by_the_lenient_rule(tmp_path):
    root = write_runs(tmp_path, "boxed")
    assert finals(evaluate([str(root)], Options(), Grader(exact))) == {"parallel": ["5"], "spec": ["3"]}
    lenient = evaluate([str(root)], Options(answer_rule="lenient"), Grader(exact))
    assert finals(lenient)["parallel"] == ["96"]
    # the spec path 0 ended on eos with "Answer: 7": lenient gives it that answer; 1-1 goes to the best mean score
    (spec,) = [r for r in lenient.runs if r.method == "spec"]
    assert [p.answer for p in spec.graded[0].record.paths] == ["7", "3"]


def test_fast_mode_runs_are_refused_under_another_rule(tmp_path):
    root = write_runs(tmp_path, "boxed", fast=1)
    with pytest.raises(EvalError, match="fast-mode runs cannot be evaluated under another answer rule"):
        evaluate([str(root)], Options(answer_rule="lenient"), Grader(exact))
    with pytest.raises(AnswerRuleError, match="/spec/math/"):
        apply_answer_rule(load_records(root).records, "lenient", exact)
    # under their own rule they are evaluated as recorded
    assert finals(evaluate([str(root)], Options(answer_rule="boxed"), Grader(exact)))["spec"] == ["3"]


def test_records_without_the_rule_are_taken_as_lenient_for_direct_methods_and_boxed_for_speculative(tmp_path):
    root = write_runs(tmp_path, None)
    records = load_records(root).records
    assert {r.method: recorded_rule(r) for r in records} == {"parallel": "lenient", "spec": "boxed"}
    out, changed = apply_answer_rule(records, "boxed", exact)
    assert changed == 1  # only the parallel run is read again
    assert {r.method: r.final_answer for r in out} == {"parallel": "5", "spec": "3"}


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="answer rule"):
        apply_answer_rule([], "loose", exact)


# --------------------------------------------------------------------------- where --tie_break code applies


def two_paths_answer_at_once():
    """Path 0 boxes 1 in a short step, path 1 boxes 2 in a long one, in the same round; every score is 9."""
    path0 = {request_seed(0, "math", 0, 0, 0, rnd, "draft") for rnd in range(5)}

    def draft(prompt, params):
        if params.seed in path0:
            return "\\boxed{1}", "stop", None
        return "after a long and careful computation the result is \\boxed{2}", "stop", None

    return {"target": ScriptedEngine(lambda p, sp: ("t", "stop", "\n\n"), lambda p: 9), "draft": ScriptedEngine(draft)}


@pytest.mark.parametrize(
    "fast,tie_break,final",
    [
        (1, "paper", "1"),  # equal mean scores: the first path
        (1, "code", "2"),  # the fast mode's vote by the authors' rule: the longest path
        (0, "code", "1"),  # without a fast mode the paper's rule stands (the authors' full SSR script)
    ],
)
def test_tie_break_code_governs_fast_mode_votes_only(tmp_path, fast, tie_break, final):
    (rec,) = run(
        tmp_path / f"{fast}{tie_break}", two_paths_answer_at_once(), method="spec", num_paths=2, fast=fast,
        token_budget=500, tie_break=tie_break,
    )
    assert rec.final_answer == final
