"""Every generation script end to end on ``--preset tiny`` with real engines, scored by the eval scripts.

The tiny models' text is meaningless: these tests check that each script runs
the real engine, writes schema-valid result files, resumes, and that the eval
scripts turn the files into tables, summaries and plots.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssr.records import is_complete, load_records, to_json

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SCRIPTS = {
    "base": ("base_test.py", []),
    "parallel": ("scale_reason.py", ["--use_method_prompts", "--method_num", "2"]),
    "spec": ("spec_scale_reason.py", ["--num_paths", "2"]),
    "ssr": ("spec_scale_reason_2.py", ["--fast", "2"]),
}


def run(args, cwd=REPO, check=True):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def vllm_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    procs = {}
    for method, (script, extra) in SCRIPTS.items():
        procs[method] = run(
            [script, "--preset", "tiny", "--backend", "vllm", "--output_dir", str(out), "--no_progress", *extra]
        )
    return out, procs


@pytest.mark.parametrize("method", list(SCRIPTS))
def test_script_writes_complete_records_with_the_real_vllm_engine(vllm_results, method):
    out, procs = vllm_results
    files = sorted((out / method / "math").rglob("problem_*_repeat_*.json"))
    assert [f.name for f in files] == ["problem_0_repeat_0.json", "problem_1_repeat_0.json"]
    assert all(is_complete(f) for f in files)
    rec = json.loads(files[0].read_text())
    assert rec["method"] == method and rec["config"]["backend"] in (None, "vllm")
    assert rec["models"]["target"]["n_params"] > 0
    n_paths = {"base": 1, "parallel": 2, "spec": 2, "ssr": 2}[method]
    assert len(rec["paths"]) == n_paths
    if method in ("spec", "ssr"):
        steps = [s for p in rec["paths"] for s in p["steps"]]
        assert steps and all(abs(sum(s["score_probs"]) - 1) < 1e-4 for s in steps)
        assert rec["usage"]["draft"]["generated_tokens"] > 0
        assert rec["usage"]["target"]["scoring_calls"] == len(steps)
        # per scoring pass, prompt tokens prefilled vs served from vLLM's prefix cache (reported, never None)
        assert all(
            s["score_prompt_tokens"] > 0 and 0 <= s["score_cached_tokens"] < s["score_prompt_tokens"] for s in steps
        )
        assert sum(s["score_cached_tokens"] for s in steps) > 0  # later steps reuse the path's cached blocks
        assert sum(s["score_prompt_tokens"] for s in steps) == rec["usage"]["target"]["scoring_prompt_tokens"]
    else:
        assert "draft" not in rec["usage"]
    # the critical path: one pass per token of each request's longest generation, one per scoring batch
    t = rec["usage"]["target"]
    assert 0 < t["sequential_forward_passes"] <= t["generated_tokens"] + t["scoring_calls"]
    if method == "base":
        assert t["sequential_forward_passes"] == t["generated_tokens"]
    if method in ("parallel", "ssr"):
        assert len(rec["selection"]["codes"]) == 2
    assert "2/2 results" in procs[method].stdout


def test_engine_chatter_goes_to_the_run_folder_log(vllm_results):
    out, procs = vllm_results
    for method, proc in procs.items():
        log = next((out / method / "math").iterdir()) / "engine.log"
        assert "engine output: " in proc.stderr and str(log) in proc.stderr
        assert " INFO " not in proc.stderr and " WARNING " not in proc.stderr, proc.stderr[-2000:]
        assert " INFO " in log.read_text()  # vLLM's start-up lines, kept for reading


def test_rerun_skips_finished_problems(vllm_results):
    out, _ = vllm_results
    folder = next((out / "base" / "math").iterdir())
    before = {f.name: f.stat().st_mtime_ns for f in folder.glob("problem_*.json")}
    proc = run(["base_test.py", "--preset", "tiny", "--backend", "vllm", "--output_dir", str(out), "--no_progress"])
    assert "2 already done, skipped" in proc.stdout
    assert {f.name: f.stat().st_mtime_ns for f in folder.glob("problem_*.json")} == before
    summary = json.loads((folder / "run_summary.json").read_text())  # the rerun's own account
    assert summary["counts"] == {"total": 2, "skipped": 2, "written": 0, "failed": 0}
    assert summary["plan"]["backend"] == "vllm" and summary["plan"] == load_records(folder).records[0].plan


def test_eval_scripts_score_the_results(vllm_results, tmp_path):
    out, _ = vllm_results
    proc = run(
        ["baseline_eval.py", "--result_dir", str(out / "base"), str(out / "parallel"), "--out", str(tmp_path / "b")]
    )
    assert "base/budget96" in proc.stdout and "parallel/paths2_spm2_pool12_budget96" in proc.stdout
    proc = run(
        [
            "spec_eval.py",
            "--result_dir",
            str(out / "spec"),
            str(out / "ssr"),
            "--baseline_dir",
            str(out / "base"),
            "--out",
            str(tmp_path / "s"),
        ]
    )
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    runs = {r["method"]: r for r in summary["runs"]}
    assert set(runs) == {"spec", "ssr"}
    for r in runs.values():
        assert r["flops"]["gamma"] is not None and r["flops"]["alpha"] > 0
    assert (tmp_path / "s" / "summary.csv").exists()
    assert list((tmp_path / "s").glob("*.png"))


def test_transformers_backend_runs_ssr_and_base(tmp_path):
    for script in ("spec_scale_reason_2.py", "base_test.py"):
        run(
            [
                script,
                "--preset",
                "tiny",
                "--backend",
                "hf",
                "--problem_id",
                "3",
                "--output_dir",
                str(tmp_path),
                "--no_progress",
            ]
        )
    recs = [to_json(r) for r in load_records(tmp_path).records]
    assert sorted(r["method"] for r in recs) == ["base", "ssr"]
    assert all(r["config"]["backend"] == "hf" for r in recs)


def test_paper_style_bash_sweep_over_thresholds(tmp_path):
    script = f"""
set -e
for dataset in math aime; do
  for th in 6 8; do
    python spec_scale_reason_2.py --dataset_name $dataset --problem_id {{ids}} --repeat_id 1 --preset tiny \\
      --backend hf --score_threshold $th --method_num 2 --output_dir {tmp_path} --no_progress
  done
done
"""
    script = script.replace("--problem_id {ids}", "--problem_id $([ $dataset = aime ] && echo 60 || echo 0)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tags = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("ssr/*/*"))
    # the main settings, then one hash of the others (the tiny models, the backend), the same in every folder
    assert [t.rsplit("_", 1)[0] for t in tags] == [
        f"ssr/{d}/paths2_th{t}_greedy_budget96_pool12_fast0" for d in ("aime", "math") for t in (6, 8)
    ]
    assert len({t.rsplit("_", 1)[1] for t in tags}) == 1


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset_name", "nope"], "invalid choice: 'nope'"),
        (["--problem_id", "9999"], "valid ids for math: 0-499"),
        (["--problem_id", "3-x"], "valid ids"),
        (["--preset", "huge"], "unknown preset"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    proc = run(["base_test.py", "--output_dir", str(tmp_path), *args], check=False)
    assert proc.returncode == 2
    assert message in proc.stderr.lower()
    assert not list(tmp_path.rglob("*.json"))


def test_missing_model_path_is_a_clear_error_and_writes_nothing(tmp_path):
    proc = run(
        [
            "base_test.py",
            "--backend",
            "hf",
            "--target_model",
            str(tmp_path / "no-such-model"),
            "--output_dir",
            str(tmp_path / "o"),
        ],
        check=False,
    )
    assert proc.returncode == 1 and "no-such-model" in proc.stderr
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").rglob("*.json"))

