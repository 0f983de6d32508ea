import json
from pathlib import Path

import pytest
from conftest import DATA_DIR, needs_benchmark_data

from ssr import datasets as D
from ssr.datasets import DatasetError, Problem, load_problems, parse_problem_ids, select_problems

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    monkeypatch.delenv(D.DATA_ENV, raising=False)
    # files someone dropped into the repository's data/ must not change these tests
    monkeypatch.setattr(D, "REPO_DATA_DIR", tmp_path_factory.mktemp("empty_repo_data"))
    D._load_cached.cache_clear()


# --------------------------------------------------------------------------- real benchmark files


@needs_benchmark_data
def test_aime_ids_are_the_records_own():
    problems = load_problems("aime", DATA_DIR)
    assert [p.id for p in problems] == list(range(60, 90))
    assert all(isinstance(p, Problem) and p.dataset == "aime" and p.problem for p in problems)
    # leading zeros are kept verbatim; comparing numerically is the grader's job
    assert sum(p.answer.startswith("0") for p in problems) == 7


@needs_benchmark_data
def test_math500_zero_based_with_meta():
    problems = load_problems("math", DATA_DIR)
    assert len(problems) == 500 and [p.id for p in problems[:3]] == [0, 1, 2]
    assert {"unique_id", "subject", "level"} <= set(problems[0].meta)


@needs_benchmark_data
def test_live_and_amc23():
    live = load_problems("live", DATA_DIR)
    assert len(live) == 46 and live[0].id == 0 and live[0].meta["source_id"] == "AMC_en_0"
    amc = load_problems("amc23", DATA_DIR)
    assert len(amc) == 40 and amc[0].answer == "27"  # 27.0 in the file


@needs_benchmark_data
def test_env_var_is_used(monkeypatch):
    monkeypatch.setenv(D.DATA_ENV, str(DATA_DIR))
    assert len(load_problems("aime")) == 30


@needs_benchmark_data
def test_data_dir_argument_wins_over_env(monkeypatch, tmp_path):
    (tmp_path / "aime_2024.jsonl").write_text(json.dumps({"id": 60, "problem": "p", "answer": "1"}) + "\n")
    monkeypatch.setenv(D.DATA_ENV, str(DATA_DIR))
    assert len(load_problems("aime", tmp_path)) == 1
    assert len(load_problems("aime")) == 30


@needs_benchmark_data
def test_select_problems_aime_range():
    chosen = select_problems("aime", "60-62, 88", DATA_DIR)
    assert [p.id for p in chosen] == [60, 61, 62, 88]
    with pytest.raises(DatasetError, match="valid ids for aime: 60-89"):
        select_problems("aime", "7", DATA_DIR)


def test_loaded_problems_are_copies():
    a = load_problems("gpqa", FIXTURES)
    a[0].meta["x"] = 1
    assert "x" not in load_problems("gpqa", FIXTURES)[0].meta


# --------------------------------------------------------------------------- errors


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DatasetError, match="aime, math, live, amc23, gpqa"):
        load_problems("nope")
    assert issubclass(DatasetError, ValueError)


def test_missing_local_file_without_hub_source_names_folders(tmp_path):
    with pytest.raises(DatasetError) as exc:
        load_problems("amc23", tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg and D.DATA_ENV in msg and "amc23.jsonl" in msg


def test_hub_failure_is_reported(tmp_path, monkeypatch):
    def offline(*args):
        raise ConnectionError("no network")

    monkeypatch.setattr(D, "_read_hub", offline)
    with pytest.raises(DatasetError, match="HuggingFaceH4/MATH-500.*no network"):
        load_problems("math", tmp_path)


def test_hub_rows_are_converted(tmp_path, monkeypatch):
    # the hub's LiveMathBench calls the text "question"
    monkeypatch.setattr(D, "_read_hub", lambda repo, cfg, split: [{"question": "Q?", "answer": "$2$"}])
    (p,) = load_problems("live", tmp_path)
    assert (p.id, p.problem, p.answer) == (0, "Q?", "$2$")


# --------------------------------------------------------------------------- GPQA


def test_gpqa_shuffle_is_deterministic_and_not_always_A():
    problems = load_problems("gpqa", FIXTURES)
    assert len(problems) == 4
    letters = [p.answer for p in problems]
    assert set(letters) <= set("ABCD") and letters != ["A"] * 4
    for p in problems:
        assert f"({p.answer}) {p.meta['correct_text']}" in p.problem
        assert p.meta["options"][p.answer] == p.meta["correct_text"]
        assert sorted(p.meta["options"]) == list("ABCD")
    D._load_cached.cache_clear()
    assert [p.problem for p in load_problems("gpqa", FIXTURES)] == [p.problem for p in problems]


def test_gpqa_order_depends_on_question_only():
    opts1, letter1 = D.shuffle_options("Q text", "right", ["w1", "w2", "w3"])
    opts2, letter2 = D.shuffle_options("Q text", "right", ["w1", "w2", "w3"])
    assert (opts1, letter1) == (opts2, letter2)
    assert opts1[D.GPQA_LETTERS.index(letter1)] == "right"
    # over many questions the correct answer lands on every letter
    seen = {D.shuffle_options(f"question {i}", "right", ["a", "b", "c"])[1] for i in range(40)}
    assert seen == set("ABCD")


def test_gpqa_csv(tmp_path):
    import csv

    rows = [json.loads(line) for line in (FIXTURES / "gpqa_diamond.jsonl").read_text().splitlines()]
    with open(tmp_path / "gpqa_diamond.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from_csv = load_problems("gpqa", tmp_path)
    D._load_cached.cache_clear()
    from_jsonl = load_problems("gpqa", FIXTURES)
    assert [(p.problem, p.answer) for p in from_csv] == [(p.problem, p.answer) for p in from_jsonl]


# --------------------------------------------------------------------------- id specs


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("7", [7]),
        (7, [7]),
        ("1,5,9-12", [1, 5, 9, 10, 11, 12]),
        (" 1 , 5 , 9 - 12 ", [1, 5, 9, 10, 11, 12]),
        ("5,1,5,1-2", [5, 1, 2]),
        ("all", list(range(20))),
        ("ALL", list(range(20))),
    ],
)
def test_parse_problem_ids(spec, expected):
    assert parse_problem_ids(spec, range(20)) == expected


@pytest.mark.parametrize("spec", ["", "a", "1,,2", "1-", "-3", "3-1", "1.5", "20", "0-20"])
def test_parse_problem_ids_errors_name_the_range(spec):
    with pytest.raises(DatasetError, match=r"valid ids for math: 0-19"):
        parse_problem_ids(spec, range(20), "math")


def test_parse_problem_ids_aime_range():
    assert parse_problem_ids("60-89", range(60, 90)) == list(range(60, 90))
    with pytest.raises(DatasetError, match="valid ids for aime: 60-89"):
        parse_problem_ids("59", range(60, 90), "aime")


def test_format_id_ranges():
    assert D.format_id_ranges([62, 60, 61, 70, 72, 73]) == "60-62, 70, 72-73"
