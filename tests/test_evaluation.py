"""Result folders built by hand, scored by ssr.analysis directly and through the two scripts."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssr.analysis.evaluate import Options, evaluate, write_summary
from ssr.analysis.loading import EvalError, Grader
from ssr.records import from_json
from ssr.config import RunConfig
from ssr.records import SCHEMA_VERSION, atomic_write_json, result_filename

REPO = Path(__file__).resolve().parents[1]

TARGET_INFO = {"name": "target", "n_params": 1000, "n_layers": 1, "hidden_size": 1, "n_heads": 1, "head_dim": 1}
DRAFT_INFO = {"name": "draft", "n_params": 100, "n_layers": 1, "hidden_size": 1, "n_heads": 1, "head_dim": 1}


# --------------------------------------------------------------------------- record builders


def make_path(answer, index=0, target=0, draft=0, finish="answer", steps=(), strategy=None):
    return {
        "index": index,
        "prompt_kind": "method" if strategy else "none",
        "role": None,
        "strategy": strategy,
        "text": f"... the answer is {answer}",
        "answer": answer,
        "finish_reason": finish,
        "mean_score": None,
        "steps": [
            {
                "draft": "step",
                "score": score,
                "score_probs": [0.1] * 10,
                "accepted": score >= 7,
                "rewrite": None if score >= 7 else "fixed",
                "draft_tokens": 10,
                "rewrite_tokens": 0 if score >= 7 else 15,
            }
            for score in steps
        ],
        "tokens": {"draft_generated": draft, "target_generated": target},
    }


def make_record(
    method,
    dataset,
    pid,
    rep,
    gold,
    final,
    paths,
    *,
    usage=None,
    stats=None,
    models=None,
    config=None,
    selection=None,
    wall=1.0,
):
    cfg = RunConfig(method=method, dataset_name=dataset).to_dict()
    cfg.update(config or {})
    return {
        "schema_version": SCHEMA_VERSION,
        "complete": True,
        "method": method,
        "dataset": dataset,
        "problem_id": pid,
        "repeat": rep,
        "problem": f"problem {pid}",
        "gold_answer": gold,
        "final_answer": final,
        "answer_reason": "single_path" if len(paths) == 1 else "majority",
        "votes": {},
        "selection": selection,
        "paths": paths,
        "usage": usage or {"target": {}, "draft": {}},
        "stats": stats or {"steps": 0, "rewrites": 0, "rewrite_rate": 0.0},
        "timing": {"wall_seconds": wall, "phase_seconds": {}, "started_at": "", "finished_at": ""},
        "models": models or {"target": TARGET_INFO, "draft": None},
        "config": cfg,
    }


def write(folder: Path, rec) -> Path:
    path = folder / result_filename(rec["problem_id"], rec["repeat"])
    atomic_write_json(path, rec)
    return path


# problem -> gold, and per repeat the final answer
BASE_ANSWERS = {0: ("42", ["42", "7", "42"]), 1: ("5", ["6", "6", "7"])}
SSR_ANSWERS = {0: ("42", ["42", "42", "42"]), 1: ("5", ["5", "6", None])}


def build_base(root: Path) -> Path:
    folder = root / "base" / "math" / "default"
    for pid, (gold, finals) in BASE_ANSWERS.items():
        for rep, final in enumerate(finals):
            usage = {
                "target": {
                    "calls": 1,
                    "prompt_tokens": 50,
                    "cached_prompt_tokens": 0,
                    "generated_tokens": 100,
                    "scoring_prompt_tokens": 0,
                    "scoring_cached_prompt_tokens": 0,
                    "scoring_calls": 0,
                }
            }
            write(
                folder,
                make_record(
                    "base",
                    "math",
                    pid,
                    rep,
                    gold,
                    final,
                    [make_path(final, target=100)],
                    usage=usage,
                    wall=float(1 + rep + 3 * pid),
                ),
            )
    return folder


def build_ssr(root: Path) -> Path:
    folder = root / "ssr" / "math" / "threshold7"
    for pid, (gold, finals) in SSR_ANSWERS.items():
        for rep, final in enumerate(finals):
            paths = [
                make_path(
                    final if i else "0",
                    index=i,
                    target=20,
                    draft=100,
                    steps=[8, 8, 3, 9, 6],
                    strategy=f"S{i}",
                    finish="answer" if i else "budget",
                )
                for i in range(3)
            ]
            usage = {
                "target": {
                    "calls": 5,
                    "prompt_tokens": 200,
                    "cached_prompt_tokens": 100,
                    "generated_tokens": 60,
                    "scoring_prompt_tokens": 300,
                    "scoring_cached_prompt_tokens": 200,
                    "scoring_calls": 10,
                },
                "draft": {"calls": 10, "prompt_tokens": 400, "cached_prompt_tokens": 300, "generated_tokens": 300},
            }
            write(
                folder,
                make_record(
                    "ssr",
                    "math",
                    pid,
                    rep,
                    gold,
                    final,
                    paths,
                    usage=usage,
                    models={"target": TARGET_INFO, "draft": DRAFT_INFO},
                    config={"num_paths": 3, "score_threshold": 7.0},
                    selection={
                        "raw": "",
                        "parsed": [1, 2],
                        "codes": [1, 2, 3],
                        "padded": 1,
                        "strategies": ["S0", "S1", "S2" if rep else "S1"],
                        "pool_size": 12,
                    },
                ),
            )
    # a file killed mid-write by something that did not write atomically
    (folder / result_filename(1, 3)).write_text('{"schema_version": 1, "complete": tr')
    return folder


def build_parallel(root: Path, n: int, correct: bool) -> Path:
    folder = root / "parallel" / "math" / f"paths{n}"
    for pid, (gold, _) in BASE_ANSWERS.items():
        final = gold if correct else "wrong"
        paths = [make_path(final, index=i, target=100) for i in range(n)]
        write(folder, make_record("parallel", "math", pid, 0, gold, final, paths, config={"num_paths": n}))
    return folder


def exact(a, b):
    return str(a).strip() == str(b).strip()


@pytest.fixture
def grader():
    return Grader(exact)


# --------------------------------------------------------------------------- direct calls


def test_base_numbers(tmp_path, grader):
    base = build_base(tmp_path)
    ev = evaluate([str(base)], Options(ks=[1, 3]), grader)
    (s,) = ev.payload()["runs"]
    assert (s["dataset"], s["method"], s["tag"]) == ("math", "base", "default")
    assert s["problems"] == 2 and s["repeats"] == 3 and s["records"] == 6
    # problem 0: 2 of 3 right, problem 1: none
    assert s["pass@1"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["pass@3"] == pytest.approx((1 + 0) / 2)
    assert s["majority_vote"] == pytest.approx(0.5)  # "42" wins problem 0, "6" wins problem 1
    assert s["g_pass@3_0.5"] == pytest.approx(0.5)  # needs 2 of 3: problem 0 only
    assert s["g_pass@3_1.0"] == pytest.approx(0.0)
    lo, hi = s["pass@1_ci95"]
    assert 0.0 <= lo <= s["pass@1"] <= hi <= 2 / 3 + 1e-9
    # wall seconds 1,2,3 and 4,5,6
    assert s["latency_s"]["mean"] == pytest.approx(3.5) and s["latency_s"]["median"] == pytest.approx(3.5)
    assert s["latency_s"]["p90"] == pytest.approx(5.5)
    assert s["target_tokens_mean"] == 100 and s["draft_tokens_mean"] == 0
    assert s["finish_reasons"]["answer"] == 6
    assert s["path_accuracy"] == pytest.approx(2 / 6)


def test_k_larger_than_repeats_is_skipped_with_a_note(tmp_path, grader):
    par = build_parallel(tmp_path, 2, correct=True)
    notes = []
    ev = evaluate([str(par)], Options(ks=[1, 3]), grader)
    payload, notes = ev.payload(), ev.notes
    (s,) = payload["runs"]
    assert s["pass@1"] == 1.0 and "pass@3" not in s
    assert any("pass@3 skipped" in n for n in notes) and any("pass@3 skipped" in n for n in payload["notes"])
    assert s["g_pass@1_1.0"] == 1.0  # k = min(repeats, 3)


def test_spec_flops_and_truncated_file(tmp_path, grader):
    base, ssr = build_base(tmp_path), build_ssr(tmp_path)
    ev = evaluate([str(ssr)], Options(ks=[1, 3], baseline_dir=str(base), alpha=0.05, context_len=0), grader)
    payload, runs = ev.payload(), ev.runs
    assert [(s.path.name, s.reason.split(" (")[0]) for s in ev.skipped] == [
        ("problem_1_repeat_3.json", "not valid JSON")
    ]
    (s,) = payload["runs"]
    assert s["records"] == 6
    # problem 0: 3/3, problem 1: 1/3
    assert s["pass@1"] == pytest.approx((1 + 1 / 3) / 2)
    assert s["pass@3"] == pytest.approx(1.0)
    f = s["flops"]
    assert f["N"] == 3
    # the paper's beta: tokens of the final path (3 accepted drafts of 10 + 2 rewrites of 15) per path vs 100;
    # the two rejected drafts (20 tokens) were generated but are not in T
    assert f["beta"] == pytest.approx(60 / 100)
    # steps scoring 3 and 6 of each path's five were rewritten (threshold 7): the record's stats come from its steps
    assert f["R"] == pytest.approx(0.4)
    assert f["alpha"] == 0.05 and f["alpha_source"] == "--alpha"
    assert f["gamma"] == pytest.approx(3 * 0.6 * (0.4 + 0.6 * 0.05))
    # processed: baseline 150 target tokens * 2000; ssr (100+60+100) * 2000 + (100+300) * 200
    assert f["processed_flops_ratio"] == pytest.approx((260 * 2000 + 400 * 200) / (150 * 2000))
    assert s["rewrite_rate"] == pytest.approx(0.4)
    assert s["strategies"] == {"S1": 8, "S0": 6, "S2": 4}
    assert s["finish_reasons"]["budget"] == 6 and s["finish_reasons"]["answer"] == 12
    assert sorted(runs[0].step_scores()) == sorted([8.0, 8.0, 3.0, 9.0, 6.0] * 18)
    assert payload["baselines"]["math"]["pass@1"] == pytest.approx(1 / 3)


def test_alpha_from_models_when_not_given(tmp_path, grader):
    base, ssr = build_base(tmp_path), build_ssr(tmp_path)
    payload = evaluate([str(ssr)], Options(baseline_dir=str(base)), grader).payload()
    f = payload["runs"][0]["flops"]
    assert f["context_len"] == 50  # half the baseline's 100 tokens per path
    per_tok_t, per_tok_d = 2 * 1000 + 2 * 50, 2 * 100 + 2 * 50
    assert f["alpha"] == pytest.approx(per_tok_d / per_tok_t) and f["alpha_source"] == "models"
    assert f["processed_flops_ratio"] == pytest.approx((260 * per_tok_t + 400 * per_tok_d) / (150 * per_tok_t))


def test_parallel_gamma_and_missing_baseline(tmp_path, grader):
    par = build_parallel(tmp_path, 4, correct=False)
    other = tmp_path / "other_base"
    write(other / "base" / "aime" / "x", make_record("base", "aime", 60, 0, "1", "1", [make_path("1", target=10)]))
    notes = []
    ev = evaluate([str(par)], Options(baseline_dir=str(other)), grader)
    payload, notes = ev.payload(), ev.notes
    f = payload["runs"][0]["flops"]
    # gamma_parallel = N needs no baseline; beta and the processed ratio do
    assert f["gamma"] == 4.0 and f["beta"] is None and f["processed_flops_ratio"] is None
    assert any("no matching baseline" in n for n in notes)
    base = build_base(tmp_path)
    payload = evaluate([str(par)], Options(baseline_dir=str(base)), grader).payload()
    f = payload["runs"][0]["flops"]
    assert f["gamma"] == 4.0 and f["beta"] == 1.0 and f["alpha"] is None and f["shared_problems"] == 2


def test_grouping_by_folder(tmp_path, grader):
    build_parallel(tmp_path, 2, correct=True)
    build_parallel(tmp_path, 4, correct=False)
    ev = evaluate([str(tmp_path)], Options(ks=[1]), grader)
    payload, runs = ev.payload(), ev.runs
    assert [(s["method"], s["tag"], s["pass@1"]) for s in payload["runs"]] == [
        ("parallel", "paths2", 1.0),
        ("parallel", "paths4", 0.0),
    ]
    assert [r.label for r in runs] == ["parallel/paths2", "parallel/paths4"]


def test_gold_from_data_dir_and_incomplete_records(tmp_path, grader):
    from ssr.datasets import load_problems

    fixtures = Path(__file__).resolve().parent / "fixtures"
    gold = load_problems("gpqa", fixtures)[0].answer
    folder = tmp_path / "base" / "gpqa" / "default"
    wrong_gold = next(letter for letter in "ABCD" if letter != gold)
    write(folder, make_record("base", "gpqa", 0, 0, wrong_gold, gold, [make_path(gold)]))
    unfinished = make_record("base", "gpqa", 1, 0, "A", "A", [make_path("A")])
    unfinished["complete"] = False
    write(folder, unfinished)
    ev = evaluate([str(tmp_path)], Options(ks=[1]), grader)
    payload = ev.payload()
    assert payload["runs"][0]["pass@1"] == 0.0 and payload["runs"][0]["records"] == 1
    assert [(s.path.name, s.reason) for s in ev.skipped] == [("problem_1_repeat_0.json", "marked incomplete")]
    payload = evaluate([str(tmp_path)], Options(ks=[1], data_dir=str(fixtures)), grader).payload()
    assert payload["runs"][0]["pass@1"] == 1.0
    assert any("different from the benchmark file" in n for n in payload["notes"])


def test_errors(tmp_path, grader):
    with pytest.raises(EvalError, match="does not exist"):
        evaluate([str(tmp_path / "nope")], grader=grader)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match="no result records"):
        evaluate([str(tmp_path / "empty")], grader=grader)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "problem_0_repeat_0.json").write_text("{")
    with pytest.raises(EvalError, match="1 unreadable file") as exc:
        evaluate([str(bad)], grader=grader)
    skipped = [(s.path.name, s.reason.split(" (")[0]) for s in exc.value.skipped]
    assert skipped == [("problem_0_repeat_0.json", "not valid JSON")]


def test_grader_errors_count_as_wrong(tmp_path):
    def broken(a, b):
        raise RuntimeError("boom")

    g = Grader(broken)
    assert g("1", "1") is False and g("1", "1") is False and g.errors == 1  # cached
    assert g(None, "1") is False


def test_flatten_and_summary_files(tmp_path, grader):
    base = build_base(tmp_path)
    payload = evaluate([str(base)], grader=grader).payload()
    json_path, csv_path = write_summary(tmp_path / "out", payload)
    data = json.loads(json_path.read_text())
    assert data["runs"][0]["pass@1"] == pytest.approx(1 / 3)
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == 1
    assert float(rows[0]["pass@1"]) == pytest.approx(1 / 3)
    assert float(rows[0]["latency_s.p90"]) == pytest.approx(5.5)
    assert "pass@1_ci95.0" in rows[0] and "finish_reasons.answer" in rows[0]


# --------------------------------------------------------------------------- the scripts


def run_script(name, *args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(REPO / name), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_baseline_eval_script(tmp_path):
    base = build_base(tmp_path)
    build_parallel(tmp_path, 2, correct=True)
    build_parallel(tmp_path, 4, correct=False)
    out = tmp_path / "report"
    proc = run_script("baseline_eval.py", "--result_dir", tmp_path, "--k", 1, 3, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "== math" in proc.stdout and "base/default" in proc.stdout and "parallel/paths4" in proc.stdout
    assert "pass@3 skipped" in proc.stderr
    data = json.loads((out / "summary.json").read_text())
    by_tag = {s["tag"]: s for s in data["runs"]}
    assert by_tag["default"]["pass@1"] == pytest.approx(1 / 3) and by_tag["default"]["pass@3"] == pytest.approx(0.5)
    assert by_tag["paths2"]["pass@1"] == 1.0
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert {r["tag"] for r in rows} == {"default", "paths2", "paths4"}
    assert (out / "accuracy_vs_paths_math.png").stat().st_size > 0
    # no FLOPs without a baseline, so no Fig. 3
    assert not (out / "accuracy_vs_flops_math.png").exists()
    # --out defaults to the first result folder
    proc = run_script("baseline_eval.py", "--result_dir", base, "--no_plots")
    assert proc.returncode == 0, proc.stderr
    assert (base / "summary.json").is_file() and (base / "summary.csv").is_file()
    # and a summary.json among the results is not mistaken for a record on the next run
    assert run_script("baseline_eval.py", "--result_dir", base, "--no_plots").returncode == 0


def test_spec_eval_script(tmp_path):
    base, ssr = build_base(tmp_path), build_ssr(tmp_path)
    out = tmp_path / "report"
    proc = run_script(
        "spec_eval.py", "--result_dir", ssr, "--baseline_dir", base, "--alpha", 0.05, "--context_len", 0, "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    assert "problem_1_repeat_3.json" in proc.stderr  # the truncated file, by name
    assert "gamma" in proc.stdout and "ssr/threshold7" in proc.stdout
    s = json.loads((out / "summary.json").read_text())["runs"][0]
    assert s["flops"]["gamma"] == pytest.approx(3 * 0.6 * (0.4 + 0.6 * 0.05))  # 0.774
    assert s["pass@1"] == pytest.approx(2 / 3)
    for png in (
        "accuracy_vs_flops_math.png",
        "step_scores_math_ssr_threshold7.png",
        "strategies_math_ssr_threshold7.png",
    ):
        assert (out / png).stat().st_size > 0, png
    # the browsable report: every record, the truncated file listed, the plots embedded
    from ssr.analysis.page_data import read_page_data

    html = (out / "report.html").read_text(encoding="utf-8")
    index, records = read_page_data(html)
    assert len(records) == 6 + 6  # the ssr run and its baseline
    assert "problem_1_repeat_3.json" in html and "data:image/png;base64," in html
    proc = run_script(
        "spec_eval.py",
        "--result_dir",
        ssr,
        "--baseline_dir",
        base,
        "--out",
        tmp_path / "nohtml",
        "--no_html",
        "--no_plots",
    )
    assert proc.returncode == 0 and not (tmp_path / "nohtml" / "report.html").exists()


@pytest.mark.parametrize("script", ["baseline_eval.py", "spec_eval.py"])
def test_scripts_exit_2_without_records(tmp_path, script):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = build_base(tmp_path)
    extra = ["--baseline_dir", base] if script == "spec_eval.py" else []
    proc = run_script(script, "--result_dir", empty, *extra)
    assert proc.returncode == 2 and "no result records" in proc.stderr
    proc = run_script(script, "--result_dir", tmp_path / "missing", *extra)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "problem_0_repeat_0.json").write_text("{")
    proc = run_script(script, "--result_dir", bad, *extra)
    assert proc.returncode == 2 and "problem_0_repeat_0.json: not valid JSON" in proc.stderr  # the file, by name
    if script == "spec_eval.py":
        proc = run_script(script, "--result_dir", base, "--baseline_dir", empty)
        assert proc.returncode == 2 and "no result records" in proc.stderr


def test_default_grader_is_the_project_grader(tmp_path):
    folder = tmp_path / "base" / "aime" / "default"
    # AIME golds carry leading zeros; the grader compares them as numbers
    write(folder, make_record("base", "aime", 60, 0, "025", "25", [make_path("25")]))
    write(folder, make_record("base", "aime", 61, 0, "204", "\\boxed{204}", [make_path("204")]))
    write(folder, make_record("base", "aime", 62, 0, "33", "34", [make_path("34")]))
    payload = evaluate([str(tmp_path)], Options(ks=[1])).payload()
    assert payload["runs"][0]["pass@1"] == pytest.approx(2 / 3)


def test_nested_result_dirs_count_each_file_once(tmp_path, grader):
    base = build_base(tmp_path)
    payload = evaluate([str(tmp_path), str(base)], grader=grader).payload()
    assert [s["records"] for s in payload["runs"]] == [6]


def test_bad_data_dir_is_an_eval_error(tmp_path, grader, monkeypatch):
    from ssr import datasets as D

    def offline(*args):
        raise ConnectionError("offline")

    monkeypatch.setattr(D, "_read_hub", offline)  # the hub is the last place searched; never wait on it here
    monkeypatch.setattr(D, "REPO_DATA_DIR", tmp_path / "no_repo_data")
    monkeypatch.delenv(D.DATA_ENV, raising=False)
    D._load_cached.cache_clear()
    build_base(tmp_path)
    with pytest.raises(EvalError, match="--data_dir"):
        evaluate([str(tmp_path)], Options(data_dir=str(tmp_path / "nothing")), grader)


def _final_tokens(path: dict) -> int:
    (p,) = from_json(make_record("ssr", "math", 0, 0, "1", "1", [path])).paths
    return p.tokens.final


def test_beta_uses_the_stored_final_tokens_and_excludes_rejected_drafts():
    path = make_path("1", target=30, draft=50, steps=[8, 3])
    assert _final_tokens(path) == 10 + 15  # from the steps: accepted draft + rewrite
    path["tokens"]["final"] = 24
    assert _final_tokens(path) == 24  # the loop's own count wins when stored
    assert _final_tokens(make_path("1", target=70)) == 70  # no steps: what the target wrote


def test_table_is_compact_by_default_and_wide_on_request(tmp_path):
    base, ssr = build_base(tmp_path), build_ssr(tmp_path)
    args = ["--result_dir", ssr, "--baseline_dir", base, "--no_plots", "--no_html", "--out", tmp_path / "o"]
    compact = run_script("spec_eval.py", *args).stdout
    table = [ln for ln in compact.splitlines() if ln.startswith(("run ", "---", "ssr/", "base/"))]
    assert len(table) == 4 and max(len(ln) for ln in table) <= 120
    assert "gamma" in table[0] and "tgt passes" in table[0] and "95% CI" not in table[0]
    wide = run_script("spec_eval.py", *args, "--wide").stdout
    assert "pass@1 95% CI" in wide and "beta" in wide and "alpha" in wide


# --------------------------------------------------------------------------- --beta, --grader (the authors' options)


def test_beta_all_paths_or_the_selected_path(tmp_path, grader):
    """Three paths of 10, 40 and 100 final tokens; the answer "7" is given by the 10- and 40-token paths.
    all: mean 50 per path; selected (the authors'): the longest path giving the answer, 40. Baseline: 100."""
    base = tmp_path / "base" / "math" / "b"
    ssr = tmp_path / "ssr" / "math" / "s"
    write(base, make_record("base", "math", 0, 0, "7", "7", [make_path("7", target=100)]))
    paths = [make_path(a, index=i, target=t) for i, (a, t) in enumerate([("7", 10), ("7", 40), ("8", 100)])]
    rec = make_record("ssr", "math", 0, 0, "7", "7", paths, models={"target": TARGET_INFO, "draft": DRAFT_INFO})
    write(ssr, rec)
    betas = {}
    for beta in ("all", "selected"):
        ev = evaluate([str(ssr)], Options(baseline_dir=str(base), alpha=0.1, beta=beta), grader)
        betas[beta] = (ev.summaries[0]["flops"]["beta"], ev.summaries[0]["flops"]["beta_from"], ev.payload()["beta"])
    assert betas == {"all": (0.5, "all", "all"), "selected": (0.4, "selected", "selected")}
    assert evaluate([str(ssr)], Options(baseline_dir=str(base)), grader).summaries[0]["flops"]["beta"] == 0.5


def _live_records(root: Path) -> Path:
    folder = root / "parallel" / "live" / "p"
    # "-34" against gold "34": right by the authors' digits rule, wrong by math-verify; two repeats
    for rep, final in enumerate(["-34", "-34"]):
        write(folder, make_record("parallel", "live", 0, rep, "34", final, [make_path(final)]))
    return folder


def test_reference_grader_and_its_report(tmp_path):
    folder = _live_records(tmp_path)
    mv = evaluate([str(folder)], Options(grader="math-verify"))
    ref = evaluate([str(folder)], Options(grader="reference"))
    assert (mv.summaries[0]["pass@1"], ref.summaries[0]["pass@1"]) == (0.0, 1.0)
    assert (mv.summaries[0]["majority_vote"], ref.summaries[0]["majority_vote"]) == (0.0, 1.0)
    assert (mv.payload()["grader"], ref.payload()["grader"]) == ("math-verify", "reference")


def test_both_graders_side_by_side_from_the_script(tmp_path):
    folder = _live_records(tmp_path)
    out = run_script(
        "baseline_eval.py", "--result_dir", folder, "--grader", "math-verify", "reference", "--no_plots",
        "--no_html", "--out", tmp_path / "o",
    ).stdout
    assert "graded with math-verify" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("live ") and "parallel/p" in ln)
    assert row.split()[2:] == ["0.0", "0.0", "100.0", "100.0"]
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["grader"] == "math-verify"
    assert summary["by_grader"]["reference"][0]["pass@1"] == 1.0


def test_eval_answer_rule_option_from_the_script(tmp_path):
    folder = tmp_path / "parallel" / "math" / "p"
    text = "the final answer is 12"
    path = {**make_path("12"), "text": text}
    write(folder, make_record("parallel", "math", 0, 0, "12", "12", [path], config={"answer_rule": "lenient"}))
    args = ["--result_dir", folder, "--no_plots", "--no_html", "--out", tmp_path / "o"]
    boxed = run_script("baseline_eval.py", *args, "--answer_rule", "boxed").stdout
    assert "answers read by --answer_rule boxed" in boxed
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["answer_rule"] == "boxed" and summary["runs"][0]["pass@1"] == 0.0
    run_script("baseline_eval.py", *args)
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["runs"][0]["pass@1"] == 1.0


# --------------------------------------------------------------------------- schedule columns (records with timelines)


def build_scheduled(root: Path, name: str, at_once: int = 1) -> Path:
    """An ssr run whose two records carry schedule blocks (tests/test_timeline.py's two problems)."""
    from ssr.timeline import block
    from tests.test_timeline import scenario, second_problem

    folder = root / "ssr" / "math" / name
    for pid, (events, wall) in enumerate(((scenario(), 11.0), (second_problem(), 6.0))):
        rec = make_record(
            "ssr", "math", pid, 0, "1", "1", [make_path("1")], config={"max_concurrent_problems": at_once}
        )
        rec["timing"]["wall_seconds"] = wall
        rec["timing"]["started_at"] = f"2026-11-29T22:00:0{3 * pid}Z"
        rec["schedule"] = block(name, True, events, wall)
        write(folder, rec)
    return folder


def test_schedule_columns_for_runs_with_timelines_only(tmp_path, grader):
    from ssr.analysis.table import summary_table_html, text_report

    from ssr.timeline import Event, block

    old, sched = build_ssr(tmp_path), build_scheduled(tmp_path, "async")
    base = build_base(tmp_path)
    # a baseline whose record has a (lock-step) timeline: its numbers are kept, but it gets no schedule cells
    timed = tmp_path / "base" / "math" / "timed"
    rec = make_record("base", "math", 0, 0, "42", "42", [make_path("42")])
    rec["schedule"] = block("lockstep", False, [Event("target", "generate", 0, None, 0.0, 1.0, tokens=9)], 1.0)
    write(timed, rec)
    ev = evaluate([str(old), str(sched), str(base), str(timed)], grader=grader)
    by_tag = {s["tag"]: s for s in ev.summaries}
    assert "schedule" not in by_tag["threshold7"] and "schedule" not in by_tag["default"]
    assert by_tag["timed"]["schedule"]["busy_fraction"]["target"] == 1.0
    s = by_tag["async"]["schedule"]
    # one problem at a time: busy seconds over the problems' wall seconds (9 and 12.5 of 17), pre-drafts 2 of 3 used
    assert s["basis"] == "problems" and s["busy_fraction"] == pytest.approx({"target": 9 / 17, "draft": 12.5 / 17})
    assert s["predraft_hit_rate"] == pytest.approx(2 / 3)
    wide = text_report(ev.summaries, [1], with_flops=False, wide=True)
    header = next(ln for ln in wide.splitlines() if ln.startswith("run "))
    assert all(h in header for h in ("schedule", "tgt busy%", "drf busy%", "overlap%", "predraft hit%"))
    row = next(ln for ln in wide.splitlines() if ln.startswith("ssr/async"))
    assert row.split()[-5:] == ["async", "52.9", "73.5", "32.4", "66.7"]  # 9/17, 12.5/17, 5.5/17, 2/3
    for other in ("ssr/threshold7", "base/timed"):
        assert next(ln for ln in wide.splitlines() if ln.startswith(other)).split()[-5:] == ["-"] * 5
    # compact: no room for the columns, the numbers in words under the table, still 120 columns at most
    compact = text_report(ev.summaries, [1], with_flops=False)
    assert "tgt busy" not in compact
    assert (
        "ssr/async: schedule async: target busy 52.9%, draft busy 73.5%, overlap 32.4%, pre-draft hits 66.7% "
        "(of its problems' wall time)" in compact
    )
    table = [ln for ln in compact.splitlines() if ln.startswith(("run ", "---", "ssr/", "base/"))]
    assert len(table) == 6 and max(len(ln) for ln in table) <= 120
    page = summary_table_html([(s, False) for s in ev.summaries], [1])
    assert "<th>target busy %</th>" in page and "<td>52.9</td>" in page and "<td>66.7</td>" in page
    _, csv_path = write_summary(tmp_path / "out", ev.payload())
    assert "schedule.busy_fraction.target" in csv_path.read_text().splitlines()[0].split(",")
    # records without schedule blocks: no schedule column anywhere
    plain = evaluate([str(old), str(base)], grader=grader)
    assert "busy" not in text_report(plain.summaries, [1], with_flops=False, wide=True)
    assert "busy %" not in summary_table_html([(s, False) for s in plain.summaries], [1])


def test_batched_schedule_fractions_come_from_the_runs_clock(tmp_path, grader):
    from ssr.analysis.table import text_report

    ev = evaluate([str(build_scheduled(tmp_path, "async", at_once=4))], grader=grader)
    s = ev.summaries[0]["schedule"]
    # problem 1 started 3 s after problem 0: the union over the run's 11 s (see tests/test_timeline.py)
    assert s["basis"] == "run" and s["busy_fraction"] == pytest.approx({"target": 6 / 11, "draft": 9 / 11})
    assert "target busy 54.5%, draft busy 81.8%" in text_report(ev.summaries, [1], with_flops=False)
    assert "(of the run's wall time)" in text_report(ev.summaries, [1], with_flops=False)
