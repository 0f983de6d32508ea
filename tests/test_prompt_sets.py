"""Prompt sets as data: loading, validation errors naming file and field, the content hash, the run identity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ssr import prompt_sets
from ssr.config import ConfigError, RunConfig, identity, identity_differences, validate
from ssr.extraction import boxed_answer, extract_answer
from ssr.prompt_sets import PromptSetError, load, load_folder, render

SHIPPED = Path(__file__).resolve().parents[1] / "prompts"


def copy_set(tmp_path: Path, name: str = "myset") -> Path:
    dest = tmp_path / name
    shutil.copytree(SHIPPED, dest, ignore=shutil.ignore_patterns("README.md"))
    return dest


def test_shipped_set_loads_with_its_pools_roles_and_pinned_name():
    ps = load("ssr")
    assert ps.name == "ssr" and ps.codes == "numbers" and not ps.spm_repeats
    assert sorted(ps.pools) == [6, 9, 12, 15]
    assert [s.code for s in ps.pool(6).strategies] == [1, 2, 3, 4, 5, 6] and ps.pool(12).unknown.code == 0
    assert len(ps.roles) == 8
    name, digest = ps.pinned.split("#")
    assert name == "ssr" and len(digest) == prompt_sets.HASH_CHARS


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: (d / "score_note.txt").unlink(), "score_note.txt: missing (field 'score_note')"),
        (lambda d: (d / "solve.txt").write_text("Problem: {problem} in {lang}\n"), "unknown placeholder(s) {lang}"),
        (lambda d: (d / "solve_role.txt").write_text("Problem: {problem}\n"), "lacks placeholder(s) {role}"),
        (lambda d: (d / "solv.txt").write_text("x\n"), "unknown field 'solv'"),
        (lambda d: (d / "strategies" / "3.txt").write_text("Only a name\n"), "field 'strategies' 3"),
        (lambda d: (d / "strategies" / "5.txt").unlink(), "field 'pool 6': no strategy file for code 5"),
        (lambda d: (d / "strategies" / "B.txt").write_text("Name\nhint\n"), "code 'B' is not one of the set's numbers"),
        (lambda d: shutil.rmtree(d / "roles"), "field 'roles'"),
        (lambda d: (d / "set.txt").write_text("name: x\ncodes: digits\n"), "field 'codes'"),
        (lambda d: (d / "set.txt").write_text((d / "set.txt").read_text() + "spm_repeat: yes\n"), "'spm_repeat'"),
        (lambda d: (d / "spm-6.txt").write_text("{problem} {hint}\n"), "spm-6.txt: field 'spm' has unknown"),
    ],
)
def test_a_bad_set_is_a_clear_error_naming_file_and_field(tmp_path, edit, message):
    folder = copy_set(tmp_path)
    edit(folder)
    with pytest.raises(PromptSetError, match=None) as err:
        load_folder(folder)
    assert message in str(err.value)
    assert str(folder) in str(err.value)


@pytest.mark.parametrize("rel", ["solve.txt", "score_prefix.txt", "roles/01.txt", "strategies/3.txt", "set.txt"])
def test_the_hash_changes_with_any_text(tmp_path, rel):
    folder = copy_set(tmp_path)
    before = load_folder(folder).digest
    path = folder / rel
    path.write_text(path.read_text() + "# one more line\n")
    assert load_folder(folder).digest != before


def test_the_hash_ignores_the_readme_and_the_folder_it_lives_in(tmp_path):
    a, b = copy_set(tmp_path, "a"), copy_set(tmp_path, "b")
    (b / "README.md").write_text("notes\n")
    assert load_folder(a).digest == load_folder(b).digest == load("ssr").digest


def test_placeholders_render_and_doubled_braces_stay_literal():
    assert render(r"{problem} in \boxed{} and {{problem}} \frac{1}{2}", {"problem": "P"}) == (
        r"P in \boxed{} and {problem} \frac{1}{2}"
    )
    with pytest.raises(KeyError):
        render("{problem}", {})


def test_a_pinned_set_must_still_have_its_hash(tmp_path):
    folder = copy_set(tmp_path)
    ps = load(str(folder))
    assert load(f"{folder}#{ps.digest}").digest == ps.digest
    (folder / "score_note.txt").write_text("another note\n")
    with pytest.raises(PromptSetError, match="changed since"):
        load(f"{folder}#{ps.digest}")


def test_reference_is_looked_up_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSR_CACHE_DIR", str(tmp_path))
    assert not prompt_sets.reference_available()
    with pytest.raises(PromptSetError, match="import_reference_prompts.py"):
        load("reference")
    shutil.copytree(SHIPPED, tmp_path / "prompt_sets" / "reference")
    assert prompt_sets.reference_available() and load("reference").source == tmp_path / "prompt_sets" / "reference"


def test_the_set_and_its_hash_are_part_of_the_run_identity(tmp_path):
    folder = copy_set(tmp_path)
    cfg = RunConfig(method="ssr", prompt_set=str(folder))
    pinned = identity(cfg)["prompt_set"]
    assert pinned == f"{folder}#{load_folder(folder).digest}"
    assert cfg.to_dict()["prompt_set"] == pinned  # what every record holds
    assert identity(RunConfig(method="ssr"))["prompt_set"] == load("ssr").pinned
    recorded = cfg.to_dict()
    (folder / "spm_prefix.txt").write_text("Picks:\n")
    assert set(identity_differences(cfg, recorded)) == {"prompt_set"}


def test_validate_refuses_a_bad_set_naming_it(tmp_path):
    folder = copy_set(tmp_path)
    (folder / "grader.txt").unlink()
    with pytest.raises(ConfigError, match="grader.txt"):
        validate(RunConfig(prompt_set=str(folder)))
    with pytest.raises(ConfigError, match="neither a shipped set"):
        validate(RunConfig(prompt_set=str(tmp_path / "nowhere")))


def _every_text(ps):
    yield from ps.texts.items()
    for n, pool in ps.pools.items():
        yield f"spm-{n}", pool.spm
        for s in (*pool.strategies, pool.unknown):
            yield f"strategy {s.code} name", s.name
            yield f"strategy {s.code} hint", s.hint
    for i, role in enumerate(ps.roles):
        yield f"role {i}", role


@pytest.mark.parametrize("name", sorted(prompt_sets.SHIPPED))
def test_no_literal_in_a_shipped_set_parses_as_an_answer(name):
    """A small draft that echoes the solve prompt must not end its path with an answer the prompt wrote."""
    ps = load(name)
    for field, text in _every_text(ps):
        assert boxed_answer(text) is None and extract_answer(text) is None, (name, field, text)
    from ssr.prompts import solve_message, strategy_by_code

    for msg in (solve_message("", ps=ps), solve_message("", role=ps.roles[0], ps=ps),
                solve_message("", strategy=strategy_by_code(1, ps), ps=ps)):
        assert boxed_answer(msg) is None and extract_answer(msg) is None, msg
