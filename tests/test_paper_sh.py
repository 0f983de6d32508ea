"""scripts/paper.sh: every arm of the paper's Table 1 and Figures 2-4, their counts, and a tiny run end to end."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ssr import presets
from ssr.cli import build_parser
from ssr.command_line import config_from_args
from ssr.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
PAPER_SH = ROOT / "scripts" / "paper.sh"
# the script, the method it runs and its own defaults, as each script's main() call says (checked below)
SCRIPTS = {
    "base_test.py": ("base", {}),
    "scale_reason.py": ("parallel", {}),
    "spec_scale_reason.py": ("spec", {"use_role_prompts": True}),
    "spec_scale_reason_2.py": ("ssr", {}),
}
TABLE1 = ["baseline", "spec_reason_t7", "spec_reason_t9", "ssr_fast1", "ssr_fast2", "ssr_m5"]
ARMS = [*TABLE1, "ssr_m3", "parallel5", "parallel_spm5", "parallel9"]
PROBLEMS = {"aime": 30, "math": 100, "live": 46}
IDS = {"aime": "60-89", "math": "0-99", "live": "0-45"}
# (script, paths per problem, fast mode, score threshold) of every arm
EXPECTED = {
    "baseline": ("base_test.py", 1, 0, 7.0),
    "spec_reason_t7": ("spec_scale_reason.py", 1, 0, 7.0),
    "spec_reason_t9": ("spec_scale_reason.py", 1, 0, 9.0),
    "ssr_fast1": ("spec_scale_reason_2.py", 5, 1, 7.0),
    "ssr_fast2": ("spec_scale_reason_2.py", 5, 2, 7.0),
    "ssr_m5": ("spec_scale_reason_2.py", 5, 0, 7.0),
    "ssr_m3": ("spec_scale_reason_2.py", 3, 0, 7.0),
    "parallel5": ("scale_reason.py", 5, 0, 7.0),
    "parallel_spm5": ("scale_reason.py", 5, 0, 7.0),
    "parallel9": ("scale_reason.py", 9, 0, 7.0),
}


def paper_sh(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PAPER_SH), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHON": sys.executable, **(env or {})},
    )


def commands(stdout: str) -> dict[str, list[str]]:
    """'<dataset> <arm> <accuracy|latency>' or '<dataset> <figure>' -> argv, from a dry run's listing."""
    return {m[1]: shlex.split(m[2]) for m in re.finditer(r"^\[(?:gen|eval) ([^\]]+)\] (.*)$", stdout, re.M)}


def parsed(argv: list[str]) -> RunConfig:
    """A generation command as its script would read it."""
    method, defaults = SCRIPTS[Path(argv[1]).name]
    return config_from_args(method, build_parser("", RunConfig(method=method, **defaults)), argv[2:])


def option(argv: list[str], name: str) -> list[str]:
    """The values after ``name`` up to the next option."""
    i = argv.index(name) + 1
    out = []
    while i < len(argv) and not argv[i].startswith("--"):
        out.append(argv[i])
        i += 1
    return out


def test_script_map_matches_the_scripts():
    for script, (method, defaults) in SCRIPTS.items():
        text = (ROOT / script).read_text()
        assert f'main("{method}"' in text and all(f"{k}={v}" in text for k, v in defaults.items())


def test_dry_run_lists_every_arm_with_its_runs_and_commands(monkeypatch):
    monkeypatch.setattr(presets, "reference_set_imported", lambda: False)
    out = paper_sh("--dry_run", "--output_dir", "OUT")
    assert out.returncode == 0, out.stderr
    lines = [line.split("#")[0] for line in out.stdout.splitlines() if line.startswith("runs: ")]
    runs = [
        (*line.split()[1:3], re.search(r"accuracy=(\d+)", line)[1], (re.findall(r"latency=(\d+)", line) or [""])[0])
        for line in lines
    ]
    # every arm on every dataset; 6 batched repeats; Table 1's arms also once per problem, one at a time
    assert sorted((a, d) for a, d, *_ in runs) == sorted((a, d) for a in ARMS for d in PROBLEMS)
    for arm, ds, accuracy, latency in runs:
        assert int(accuracy) == 6 * PROBLEMS[ds]
        assert latency == (str(PROBLEMS[ds]) if arm in TABLE1 else "")
    cmds = commands(out.stdout)
    assert f"# {len(cmds) - 15} generation commands, 15 eval commands" in out.stdout
    assert "no 'reference' prompt set is imported" in out.stdout
    for ds in PROBLEMS:
        for arm in ARMS:
            script, paths, fast, threshold = EXPECTED[arm]
            for kind in ("accuracy", "latency") if arm in TABLE1 else ("accuracy",):
                argv = cmds[f"{ds} {arm} {kind}"]
                cfg = parsed(argv)
                n = cfg.method_num if cfg.method == "ssr" or cfg.use_method_prompts else cfg.num_paths
                assert (Path(argv[1]).name, n if cfg.method != "base" else 1) == (script, paths)
                assert (cfg.fast, cfg.score_threshold, cfg.score_method, cfg.token_budget) == (
                    fast,
                    threshold,
                    "greedy",
                    8192,
                )
                assert (cfg.preset, cfg.dataset_name, cfg.problem_id) == ("paper", ds, IDS[ds])
                if cfg.method == "parallel":  # SSR always picks its strategies with SPM
                    assert cfg.use_method_prompts == (arm == "parallel_spm5") and not cfg.use_role_prompts
                assert not (cfg.method == "spec" and cfg.use_role_prompts)  # spec-reason: one plain path
                assert cfg.output_dir == f"OUT/{kind}/{arm}"
                if kind == "accuracy":
                    assert (cfg.repeat_id, cfg.max_concurrent_problems) == (6, RunConfig().max_concurrent_problems)
                else:
                    assert (cfg.repeat_id, cfg.max_concurrent_problems) == (1, 1)
        # the evals: which folders make each table and figure
        acc = lambda *arms: [f"OUT/accuracy/{a}" for a in arms]  # noqa: E731
        expected_evals = {
            "table1": ("spec_eval.py", acc(*TABLE1)),
            "table1 latency": ("spec_eval.py", [f"OUT/latency/{a}" for a in TABLE1]),
            "figure3": ("spec_eval.py", acc("baseline", "parallel5", "parallel_spm5", "ssr_m3", "ssr_m5")),
            "figure4": ("spec_eval.py", acc("baseline", "parallel5", "parallel_spm5")),
            "figure2": ("baseline_eval.py", acc("parallel9")),
        }
        for fig, (script, folders) in expected_evals.items():
            argv = cmds[f"{ds} {fig}"]
            assert Path(argv[1]).name == script and option(argv, "--result_dir") == folders
            assert option(argv, "--dataset_name") == [ds]
            assert option(argv, "--grader") == ["math-verify", "reference"]  # the authors' rules beside the suite's
            if script == "spec_eval.py":
                assert option(argv, "--alpha") == ["0.047"]
                assert option(argv, "--baseline_dir") == [folders[0].rsplit("/", 1)[0] + "/baseline"]


def test_arms_and_datasets_select_and_a_real_run_needs_the_reference_set():
    out = paper_sh("--dry_run", "--datasets", "math", "--arms", "figure2,ssr_fast1", "--no_latency")
    cmds = commands(out.stdout)
    assert sorted(cmds) == ["math figure2", "math parallel9 accuracy", "math ssr_fast1 accuracy", "math table1"]
    bad = paper_sh("--arms", "baseline,nope")
    assert bad.returncode == 2 and "unknown arm 'nope'" in bad.stderr
    if not presets.reference_set_imported():
        refused = paper_sh("--datasets", "aime", "--arms", "baseline")
        assert refused.returncode == 2 and "import_reference_prompts.py" in refused.stderr
        assert "--own_prompts" in refused.stderr


@pytest.mark.slow
def test_paper_sh_runs_end_to_end_on_the_tiny_models(tmp_path, tiny_models):
    """One dataset, two problems: a Table 1 arm with its latency run, an SSR arm and Figure 2's 9 paths, and
    their evals. Every other arm's command is checked in the dry run."""
    env = {"SSR_SWAP_MODELS": "tiny", "SSR_DATA_DIR": os.environ.get("SSR_DATA_DIR", "/work/shared/data")}
    arms = ["--arms", "baseline,ssr_m3,parallel9", "--repeats", "2"]
    args = ["--datasets", "aime", "--problem_id", "60-61", *arms, "--own_prompts"]
    out = paper_sh(*args, "--output_dir", str(tmp_path), env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    records = sorted(tmp_path.glob("*/*/*/aime/*/problem_*_repeat_*.json"))
    by_folder: dict[str, int] = {}
    for r in records:
        kind, arm = r.relative_to(tmp_path).parts[:2]
        by_folder[f"{kind}/{arm}"] = by_folder.get(f"{kind}/{arm}", 0) + 1
    assert by_folder == {
        "accuracy/baseline": 4,
        "accuracy/ssr_m3": 4,
        "accuracy/parallel9": 4,
        "latency/baseline": 2,
    }
    rec = json.loads(next((tmp_path / "latency").rglob("problem_*.json")).read_text())
    assert rec["config"]["max_concurrent_problems"] == 1 and rec["config"]["extra"]["swapped_models"] == "tiny"
    assert "prompt_set_note" in rec["config"]["extra"]
    # the evals: Table 1 (batched, marked) and its latency run (one at a time, unmarked), Figure 2's coverage
    ev = tmp_path / "eval"
    table1 = json.loads((ev / "table1" / "aime" / "summary.json").read_text())
    assert [s["latency_batched"] for s in table1["runs"]] == [True]
    latency = json.loads((ev / "table1_latency" / "aime" / "summary.json").read_text())
    assert [(s["latency_batched"], s["problems_at_once"]) for s in latency["runs"]] == [(False, 1)]
    fig2 = json.loads((ev / "figure2" / "aime" / "summary.json").read_text())
    (run,) = fig2["runs"]
    assert sorted(run["coverage"], key=int) == [str(k) for k in range(1, 10)]
    assert (ev / "figure2" / "aime" / "coverage_aime.png").exists()
    assert (ev / "figure3" / "aime" / "summary.json").exists() and (ev / "figure4" / "aime" / "summary.json").exists()
    # a rerun resumes: nothing left to do, the same records
    again = paper_sh(*args, "--output_dir", str(tmp_path), env=env, timeout=600)
    assert again.returncode == 0 and sorted(tmp_path.glob("*/*/*/aime/*/problem_*_repeat_*.json")) == records
