"""scripts/import_reference_prompts.py on a fixture shaped like the authors' repository (placeholder texts)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ssr import prompt_sets
from ssr.prompts import solve_message

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "reference_repo"
SCRIPT = REPO / "scripts" / "import_reference_prompts.py"


def importer():
    spec = importlib.util.spec_from_file_location("import_reference_prompts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    return importer().import_reference(FIXTURE, tmp_path_factory.mktemp("ref") / "reference")


def test_every_field_pool_and_spm_setting_is_imported(imported):
    ps = imported
    assert ps.name == "reference" and ps.codes == "letters" and ps.spm_repeats
    assert ps.max_tokens(3) == 5 and ps.max_tokens(5) == 9  # max_tokens=method_num * 2-1
    assert [s.code for s in ps.pool(12).strategies] == list("ABCDEFGHIJKL") and ps.pool(12).unknown.code == "M"
    assert [s.code for s in ps.pool(15).strategies] == list("ABCDEFGHIJKLMNO")
    assert ps.pool(12).by_code("B").name == "Name B" and ps.pool(12).by_code("B").hint == "HINT B PLACEHOLDER."
    assert ps.pool(12).unknown.hint == "None" and ps.pool(12).unknown.name == "Unknown"
    assert ps.pool(6).by_code("C").hint == "ABLA HINT C PLACEHOLDER." and ps.pool(6).unknown.code == "M"
    assert ps.pool(9).spm.startswith("\nPOOL 9 PLACEHOLDER:") and ps.pool(12).spm.startswith("\nCHOOSE PLACEHOLDER")
    assert ps.examples == {"3": "B,E,F", "4": "B,E,F,A", "default": "B,E"}
    assert ps.roles == ("\nROLE 1 PLACEHOLDER.\n", "\nROLE 2 PLACEHOLDER.\n", "\nROLE 3 PLACEHOLDER.\n")
    assert ps.text("score_note") == "SCORE NOTE PLACEHOLDER 0 to 9." and ps.text("score_prefix") == (
        "SCORE PREFIX PLACEHOLDER: "
    )
    assert ps.text("spm_prefix", n=3) == "PREFIX PLACEHOLDER 3: "


def test_solve_templates_render_as_their_format_calls(imported):
    ps = imported
    template = (
        "\n        SOLVE PLACEHOLDER (\n\n) \\boxed{{}}.\n\n        Tips: {method_prompt}\n\n"
        "        Problem: {problem}\n        "
    )
    strategy = ps.pool(12).by_code("A")
    got = solve_message("P {x}", strategy=strategy, ps=ps)
    assert got == template.format(method_prompt="HINT A PLACEHOLDER.", problem="P {x}")
    # their doubled braces stay literal, "{{literal}}" included (ours would read "{literal}" as a placeholder)
    base = "\n        BASE SOLVE PLACEHOLDER (\n\n) \\boxed{{}} {{literal}}.\n        Problem: {problem}\n        "
    assert solve_message("P", ps=ps) == base.format(problem="P")
    assert solve_message("P", role=ps.roles[1], ps=ps) == f"{ps.roles[1]}\n\n{base}".format(problem="P")


def test_the_cli_writes_reference_into_the_cache(tmp_path):
    env = {"SSR_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, str(SCRIPT), str(FIXTURE)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert prompt_sets.reference_available(tmp_path)
    ps = prompt_sets.load_folder(prompt_sets.reference_dir(tmp_path))
    assert f"hash {ps.digest}" in out.stdout and "score_note" in out.stdout


def test_a_checkout_missing_a_module_is_refused_naming_it(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "repo")
    (tmp_path / "repo" / "prompts" / "method_prompt.py").unlink()
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "repo"), "--out", str(tmp_path / "set")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "missing prompts/method_prompt.py" in out.stderr
    assert not (tmp_path / "set").exists()


@pytest.mark.parametrize(
    "rel,old,new,message",
    [
        ("spec_scale_reason.py", "\\n<think>SCORE PREFIX", "\\nSCORE PREFIX", "scoring prompt is not shaped"),
        ("spec_scale_reason.py", "\\n<think></think>PREFIX", "PREFIX", "no single '\\n<think></think>'"),
        ("prompts/method_prompt.py", 'C_prompt = ', 'C_tip = ', "no C_prompt"),
        ("spec_scale_reason.py", "method_num * 2-1", "method_num ** 2", "not a linear expression"),
    ],
)
def test_code_not_shaped_as_expected_is_a_clear_error(tmp_path, rel, old, new, message):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    path = repo / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    mod = importer()
    with pytest.raises(mod.ImportProblem, match=None) as err:
        mod.import_reference(repo, tmp_path / "set")
    assert message in str(err.value)


def test_a_failed_import_leaves_the_previous_set(tmp_path):
    mod = importer()
    dest = tmp_path / "reference"
    first = mod.import_reference(FIXTURE, dest)
    broken = tmp_path / "repo"
    shutil.copytree(FIXTURE, broken)
    (broken / "prompts" / "role_prompts.py").write_text("x = 1\n")
    with pytest.raises(prompt_sets.PromptSetError, match="roles"):
        mod.import_reference(broken, dest)
    assert prompt_sets.load_folder(dest).digest == first.digest


def test_the_hash_is_of_the_texts_not_of_where_the_checkout_was(tmp_path, imported):
    shutil.copytree(FIXTURE, tmp_path / "elsewhere")
    again = importer().import_reference(tmp_path / "elsewhere", tmp_path / "set")
    assert again.digest == imported.digest
