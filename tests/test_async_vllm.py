"""The async schedule against a pair of real local vLLM servers (tiny models), each pinned to its own core:
the records equal the lock-step schedule's over the same servers, and no request is left running in either
server after the run (rejected pre-drafts are aborted there, not only forgotten by the client).

The in-process async engines are checked in tests/test_scripts.py (the async script against the lock-step
one) and tests/test_async_engines.py (cancellation, pinning, conformance)."""

from __future__ import annotations

import os
import re
import urllib.request

import pytest

from conftest import VLLMServer, vllm_installed
from bench.equality import compare_folders, describe
from ssr.cli import build_parser
from ssr.command_line import config_from_args
from ssr.config import RunConfig
from ssr.datasets import select_problems
from ssr.plan import build_engines
from ssr.records import load_records
from ssr.runner import run_dir, run_experiment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_installed(), reason="needs vLLM"),
    pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two engines at once need a core each"),
]


class PinnedServer(VLLMServer):
    """A local vLLM server confined to one core (taskset, one OpenMP thread, vLLM's own binding on it)."""

    def __init__(self, model, core: int) -> None:
        self.core = core
        super().__init__(model)

    def command(self) -> list[str]:
        env = ["env", "OMP_NUM_THREADS=1", f"VLLM_CPU_OMP_THREADS_BIND={self.core}"]
        return [*env, "taskset", "-c", str(self.core), *super().command()]


def running(server: VLLMServer) -> float:
    """Requests the server is working on now, by its own metrics."""
    with urllib.request.urlopen(server.root + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(m) for m in re.findall(r"^vllm:num_requests_running\{[^}]*\} (\S+)$", text, re.M))


def test_async_over_a_pinned_server_pair_writes_the_lockstep_records(tiny_models, tmp_path):
    draft_model, target_model = tiny_models
    cores = sorted(os.sched_getaffinity(0))
    servers = [PinnedServer(target_model, cores[0]), PinnedServer(draft_model, cores[-1])]
    folders = {}
    try:
        for s in servers:
            s.wait_ready()
        for schedule in ("lockstep", "async"):
            # threshold 5: the tiny target rejects some steps, so pre-drafts are both used and cancelled
            cfg = config_from_args("ssr", build_parser("test", RunConfig(method="ssr")), [
                "--preset", "tiny", "--no_progress", "--token_budget", "64", "--score_threshold", "5",
                "--output_dir", str(tmp_path), "--schedule", schedule, "--backend", "openai",
                "--target_base_url", servers[0].url, "--draft_base_url", servers[1].url,
                "--target_tokenizer", str(target_model), "--draft_tokenizer", str(draft_model),
            ])
            target, draft = build_engines(cfg, need_draft=True)
            try:
                run_experiment(cfg, select_problems(cfg.dataset_name, cfg.problem_id, cfg.data_dir),
                               {"target": target, "draft": draft})
            finally:
                target.close()
                draft.close()
            folders[schedule] = run_dir(cfg)
        assert [running(s) for s in servers] == [0, 0]
    finally:
        for s in servers:
            s.stop()
    same = compare_folders(folders["lockstep"], folders["async"])
    assert same.equal and len(same.agreeing) == 2, describe(same, "lockstep", "async")
    events = [e for r in load_records(folders["async"]).records for e in r.schedule["timeline"]]
    assert any(e["phase"] == "predraft" and not e["wasted"] for e in events)
    assert any(e["phase"] == "predraft" and e["wasted"] for e in events)
    assert any(r.schedule["overlap_seconds"] > 0 for r in load_records(folders["async"]).records), (
        "no draft request overlapped a target request"
    )
