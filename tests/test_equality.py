"""bench/equality.py: two run folders compared record for record on what the models wrote and decided."""

import copy
import json

import pytest

from bench.equality import compare_folders, compare_records, main, record_differences
from ssr.records import Path, Record, Selection, Step, Timing, Usage, result_filename, write_record


def step(draft: str, score: float = 6.0, accepted: bool = True, rewrite: str | None = None) -> Step:
    probs = [0.0] * 10
    probs[int(score)] = 1.0
    return Step(draft, score, probs, accepted, rewrite, draft_tokens=5, rewrite_tokens=0 if accepted else 4)


def record(problem_id: int = 1, repeat: int = 0) -> Record:
    paths = [
        Path(
            index=i,
            prompt_kind="method",
            strategy=f"strategy {i}",
            text=f"path {i} step a\n\npath {i} step b\n\n\\boxed{{{i}}}",
            answer=str(i),
            finish_reason="stop",
            mean_score=6.0,
            steps=[step(f"p{i} s0"), step(f"p{i} s1", 2.0, False, f"p{i} r1"), step(f"p{i} s2")],
        )
        for i in range(3)
    ]
    return Record(
        method="ssr",
        dataset="math",
        problem_id=problem_id,
        repeat=repeat,
        gold_answer="1",
        final_answer="1",
        paths=paths,
        config={"max_concurrent_problems": 1, "schedule": "lockstep"},
        answer_reason="majority",
        votes={"0": 1, "1": 2},
        selection=Selection(raw="1, 2, 3", parsed=[1, 2, 3], codes=[1, 2, 3], strategies=["a", "b", "c"]),
        usage={"target": Usage(calls=7, prompt_tokens=100, cached_prompt_tokens=40, sequential_forward_passes=30)},
        timing=Timing(wall_seconds=12.5, phase_seconds={"score": 3.0}),
        schedule={"name": "lockstep", "busy_seconds": {"target": 9.0, "draft": 3.0}},
    )


def test_records_differing_only_in_how_they_were_served_agree():
    a, b = record(), record()
    b.usage = {"target": Usage(calls=9, prompt_tokens=140, cached_prompt_tokens=0, sequential_forward_passes=21)}
    b.timing = Timing(wall_seconds=7.0)
    b.schedule = {"name": "async", "busy_seconds": {"target": 7.0, "draft": 6.5}}
    b.config = {"max_concurrent_problems": 4, "schedule": "async"}
    b.plan = {"engines": "pinned"}
    for p in b.paths:
        p.tokens.draft_generated += 11  # counters of wasted pre-drafts, say
        for s in p.steps:
            s.score_prompt_tokens, s.score_cached_tokens = 50, 32
    assert record_differences(a, b) == []
    c = compare_records([a], [b])
    assert c.equal and c.agreeing == [(1, 0)] and c.steps_compared == c.steps_agreeing == 9


def test_scores_agree_to_one_millionth_and_no_further():
    a, near, far = record(), record(), record()
    near.paths[2].steps[1].score += 5e-7
    near.paths[2].steps[1].score_probs[2] -= 5e-7
    assert record_differences(a, near) == []
    far.paths[2].steps[1].score_probs[2] -= 5e-6
    (d,) = record_differences(a, far)
    assert (d.path, d.step, d.field) == (2, 1, "score_probs")
    c = compare_records([a], [far])
    assert c.numeric_only == [(1, 0)] and c.max_score_gap == pytest.approx(5e-6)


@pytest.mark.parametrize(
    "change, where",
    [
        (lambda r: setattr(r.paths[1].steps[0], "draft", "other"), (1, 0, "draft")),
        (lambda r: setattr(r.paths[1].steps[1], "rewrite", "other"), (1, 1, "rewrite")),
        (lambda r: setattr(r.paths[1].steps[1], "accepted", True), (1, 1, "accepted")),
        (lambda r: setattr(r.paths[1].steps[2], "score", 7.0), (1, 2, "score")),
        (lambda r: setattr(r.paths[1], "text", "other"), (1, None, "text")),
        (lambda r: setattr(r.paths[1], "answer", "7"), (1, None, "answer")),
        (lambda r: r.paths[1].steps.pop(), (1, None, "steps (count)")),
        (lambda r: r.paths.pop(), (None, None, "paths (indices)")),
        (lambda r: setattr(r, "final_answer", "2"), (None, None, "final_answer")),
        (lambda r: setattr(r, "answer_reason", "tie: first"), (None, None, "answer_reason")),
        (lambda r: setattr(r.selection, "codes", [1, 2, 4]), (None, None, "selection.codes")),
    ],
)
def test_each_field_that_must_agree_is_checked(change, where):
    a, b = record(), record()
    change(b)
    diffs = record_differences(a, b)
    assert diffs and (diffs[0].path, diffs[0].step, diffs[0].field) == where


def test_first_divergence_is_the_earliest_step_whichever_path_it_is_on():
    a, b = record(), record()
    b.paths[0].steps[2].draft = "late, first path"
    b.paths[2].steps[1].draft = "earlier, last path"
    b.final_answer = "2"
    first, *rest = record_differences(a, b)
    assert (first.path, first.step, first.field, first.a, first.b) == (2, 1, "draft", "p2 s1", "earlier, last path")
    assert [(d.path, d.step) for d in rest] == [(0, 2), (None, None)]


def write_run(folder, records):
    for r in records:
        write_record(folder / "ssr" / "math" / "tag" / result_filename(r.problem_id, r.repeat), r)
    return folder


def test_folders_counts_missing_records_and_first_divergence(tmp_path, capsys):
    changed = record(2)
    changed.paths[0].steps[0].draft = "p0 s0, batched"
    a = write_run(tmp_path / "a", [record(1), record(2), record(3)])
    b = write_run(tmp_path / "b", [record(1), changed, record(4)])
    c = compare_folders(a, b)
    assert (c.agreeing, c.differing, c.only_a, c.only_b) == ([(1, 0)], [(2, 0)], [(3, 0)], [(4, 0)])
    s = c.summary()
    assert s["records_compared"] == 2 and s["record_agreement"] == 0.5 and s["fields"] == {"draft": 1}
    assert s["first_divergence"] == {
        "problem": 2, "repeat": 0, "path": 0, "step": 0, "field": "draft", "a": "p0 s0", "b": "p0 s0, batched"
    }
    assert s["steps_compared"] == 18 and s["steps_agreeing"] == 17

    assert main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "1 agree, 1 differ" in out and "problem 2 repeat 0 path 0 step 0: draft" in out and '"p0 s0, batched"' in out
    assert main([str(a), str(b), "--json"]) == 1 and json.loads(capsys.readouterr().out)["records_differing"] == 1


def test_cli_exit_status_equal_subset_and_refusals(tmp_path, capsys):
    a = write_run(tmp_path / "a", [record(1), record(2)])
    b = write_run(tmp_path / "b", [record(1), record(2)])
    subset = write_run(tmp_path / "subset", [record(1)])
    assert main([str(a), str(b)]) == 0
    assert main([str(a), str(subset)]) == 1  # a record only in one folder is not equality
    assert main([str(a), str(subset), "--shared"]) == 0
    capsys.readouterr()
    # two runs in one folder: a (problem, repeat) twice is refused, not compared at random
    other = copy.deepcopy(record(1))
    write_record(tmp_path / "a" / "ssr" / "math" / "tag2" / result_filename(1, 0), other)
    assert main([str(a), str(b)]) == 2 and "two records of problem 1 repeat 0" in capsys.readouterr().err
    assert main([str(tmp_path / "none"), str(b)]) == 2
