"""The test command's own rules: plain ``pytest`` is the fast loop, ``scripts/test.sh`` runs everything,
and there a skip fails unless its reason holds on every machine (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import NO_SKIPS_ENV, SKIPS_THAT_HOLD_EVERYWHERE

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

SAMPLE = f'''
import pytest

def test_runs():
    pass

@pytest.mark.slow
def test_slow():
    pass

def test_skips_for_a_local_reason():
    pytest.skip("the data is not here")

@pytest.mark.skipif(True, reason="no browser")
def test_skipif_marker():
    pass

@pytest.mark.parametrize("engine", ["a", "b"])
def test_skips_where_it_cannot_apply(engine):
    if engine == "b":
        pytest.skip({SKIPS_THAT_HOLD_EVERYWHERE[0]!r})

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
'''


def run_sample(tmp_path: Path, *args: str, no_skips: bool, source: str = SAMPLE) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a test file under a copy of the suite's conftest and pyproject's pytest options."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != NO_SKIPS_ENV}
    if no_skips:
        env[NO_SKIPS_ENV] = "1"
    ini_args = ["-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path)]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *ini_args, *args, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_plain_pytest_deselects_the_slow_tests(tmp_path):
    proc = run_sample(tmp_path, no_skips=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 3 skipped, 1 deselected, 1 xfailed" in proc.stdout, proc.stdout


def test_the_full_command_runs_slow_tests_and_fails_each_unexplained_skip(tmp_path):
    proc = run_sample(tmp_path, "-m", "slow or not slow", no_skips=True)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "deselected" not in out
    # the slow test ran; the two local skips failed, naming their reasons; the case that cannot apply,
    # and the expected failure, stay as they are
    assert "3 passed" in out and "1 skipped" in out and "1 xfailed" in out, out
    assert "test_skips_for_a_local_reason" in out and "the data is not here" in out
    assert "test_skipif_marker" in out and "no browser" in out
    assert out.count(f"skipped under scripts/test.sh ({NO_SKIPS_ENV}=1)") == 2


def test_a_module_level_skip_fails_too(tmp_path):
    source = 'import pytest\n\npytest.importorskip("no_such_module_here")\n\n\ndef test_never_collected():\n    pass\n'
    assert "1 skipped" in run_sample(tmp_path, no_skips=False, source=source).stdout
    proc = run_sample(tmp_path, no_skips=True, source=source)
    assert proc.returncode == 2 and "1 error during collection" in proc.stdout, proc.stdout
    assert f"skipped under scripts/test.sh ({NO_SKIPS_ENV}=1)" in proc.stdout and "no_such_module_here" in proc.stdout


def test_the_test_script_runs_everything_and_forbids_skips():
    script = (REPO / "scripts" / "test.sh").read_text()
    command = script.strip().splitlines()[-1]
    assert command.startswith("exec python -m pytest") and '-m "slow or not slow"' in command
    assert f"export {NO_SKIPS_ENV}=1" in script and "export SSR_DATA_DIR=" in script
    # a failed browser install stops the script instead of turning the browser tests into skips
    assert "bash scripts/install_browser.sh\n" in script
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
