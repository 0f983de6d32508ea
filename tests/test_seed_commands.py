"""The paper repository's README commands, typed as written, on the tiny models.

``SSR_SWAP_MODELS=smoke`` replaces the models, engine settings and budgets the
commands imply (QwQ-32B, 8192 tokens) by the tiny models at tiny budgets;
nothing else in a command changes: the same scripts, options, problem range
(AIME 60-89), repeats and folders. The tiny models' text is meaningless; this
checks that a researcher coming from the paper's repository can type its
commands and read the tables.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

GENERATE = [
    "python base_test.py --dataset_name aime --problem_id 60-89 --repeat_id 3 --model_name Qwen/QwQ-32B --output_dir results/baseline_vllm_test",  # noqa: E501 - the authors' README commands, verbatim
    "python scale_reason.py --dataset_name aime --problem_id 60-89 --repeat_id 3 --model_name Qwen/QwQ-32B --output_dir results/scale_reason --use_role_prompts",  # noqa: E501 - the authors' README commands, verbatim
    "python spec_scale_reason.py --dataset_name aime --problem_id 60-89 --repeat_id 3 --output_dir results/spec_scale_Inf --score_threshold 7.0 --token_budget 8192 --score_method greedy",  # noqa: E501 - the authors' README commands, verbatim
    "python spec_scale_reason_2.py --dataset_name aime --problem_id 60-89 --repeat_id 3 --output_dir results/spec_scale_m --score_threshold 7.0 --token_budget 8192 --score_method greedy --method_num 3",  # noqa: E501 - the authors' README commands, verbatim
]
EVALUATE = [
    "python baseline_eval.py --dataset_name aime --model_name QwQ-32B --results_dir results/baseline_vllm_test",
    "python spec_eval.py --dataset_name aime --model_name QwQ-32b --results_dir results/spec_scale_m",
]
SCRIPTS = [
    "base_test.py",
    "scale_reason.py",
    "spec_scale_reason.py",
    "spec_scale_reason_2.py",
    "baseline_eval.py",
    "spec_eval.py",
]


def run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SSR_SWAP_MODELS="smoke", PYTHONPATH=str(REPO))
    argv = shlex.split(command)
    assert argv[0] == "python"
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{command}\nexit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out like the paper's repository: the scripts at its top, results/ below."""
    if not os.environ.get("SSR_DATA_DIR"):
        pytest.skip("SSR_DATA_DIR is not set (the local AIME 2024 copy is needed)")
    root = tmp_path_factory.mktemp("paper_repo")
    for name in SCRIPTS:
        (root / name).symlink_to(REPO / name)
    procs = {cmd.split()[1]: run(cmd, root) for cmd in GENERATE + EVALUATE}
    return root, procs


def records(folder: Path) -> list[Path]:
    return sorted(folder.rglob("problem_*_repeat_*.json"))


def test_generation_commands_write_every_problem_and_repeat(workdir):
    root, procs = workdir
    for folder, method in [
        ("baseline_vllm_test", "base"),
        ("scale_reason", "parallel"),
        ("spec_scale_Inf", "spec"),
        ("spec_scale_m", "ssr"),
    ]:
        files = records(root / "results" / folder / method / "aime")
        assert len(files) == 30 * 3, folder
        assert files[0].name.startswith("problem_") and {f.name for f in files} >= {
            "problem_60_repeat_0.json",
            "problem_89_repeat_2.json",
        }
    assert "SSR_SWAP_MODELS=smoke" in procs["base_test.py"].stderr  # the swap is said, not silent


def test_baseline_eval_prints_the_table_with_the_model_label(workdir):
    _, procs = workdir
    out = procs["baseline_eval.py"].stdout
    assert "== aime (QwQ-32B)" in out and "base/budget16" in out
    row = next(line for line in out.splitlines() if line.startswith("base/budget16"))
    assert row.split()[1:3] == ["30", "3"]  # problems, repeats
    assert "the records' target is" in procs["baseline_eval.py"].stderr  # QwQ-32B asked, tiny models ran


def test_spec_eval_finds_the_baseline_beside_the_results(workdir):
    root, procs = workdir
    err, out = procs["spec_eval.py"].stderr, procs["spec_eval.py"].stdout
    assert "baseline: using" in err and "baseline_vllm_test/base/aime/budget16" in err
    assert "gamma" in out and "ssr/paths3_th7_greedy_budget16_pool12_fast0" in out
    import json

    summary = json.loads((root / "results" / "spec_scale_m" / "summary.json").read_text())
    (ssr,) = summary["runs"]
    assert ssr["problems"] == 30 and ssr["flops"]["gamma"] is not None and ssr["flops"]["beta"] is not None
    assert (root / "results" / "spec_scale_m" / "report.html").is_file()
