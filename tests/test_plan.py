"""The engine plan (ssr.plan) for the paper's models on the GPU nodes its users have, from config.json fixtures.

Expectations are hand figures, not the estimator's: the issue's KV capacities (at TP 4 and a 0.7 share,
4x80 GB holds ~570k QwQ-32B tokens, 4x40 GB ~140k; at TP 2 an 80 GB pair ~165k), within 15%, and the TP
each command gets under the rule "the smallest TP whose KV cache holds max_concurrent_problems x paths x
tokens per path, else the largest that fits". Tokens per path: 512 (prompt allowance) + 8192 (budget),
+ 512 (step) + 32 (note) for the speculative methods: 8704 or 9248. Per problem: base 1 path, parallel and
spec 5, SSR 3 (--method_num 3). So base needs 16 x 8.7k = 139k (an 80 GB pair at TP 2 holds it), SSR 16 x
27.7k = 444k (TP 4 on 80 GB cards), parallel 696k and spec 740k (only TP 8 holds them).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ssr.cli import build_parser
from ssr.command_line import config_from_args
from ssr.config import RunConfig
from ssr.plan import PlanError, make_plan
from ssr.plan.hardware import assumed
from tests.test_seed_commands import GENERATE

FIXTURES = Path(__file__).parent / "fixtures" / "model_configs"
QWQ, R1 = FIXTURES / "QwQ-32B", FIXTURES / "DeepSeek-R1-Distill-Qwen-1.5B"
SCRIPTS = {  # script -> (method, the script's own defaults), as in the scripts
    "base_test.py": ("base", {}),
    "scale_reason.py": ("parallel", {}),
    "spec_scale_reason.py": ("spec", {"use_role_prompts": True}),
    "spec_scale_reason_2.py": ("ssr", {}),
}
HAND_KV_TOKENS = {("4x80", 4): 570_000, ("4x40", 4): 140_000, ("2x80", 2): 165_000}
WITHIN = 0.15


def plan_of(command: str, *extra: str, hw: str | None = "4x80"):
    argv = shlex.split(command)
    method, defaults = SCRIPTS[argv[1]]
    args = argv[2:] + ["--backend", "vllm", "--target_config", str(QWQ), "--draft_config", str(R1), *extra]
    if hw:
        args += ["--assume_gpus", hw]
    cfg = config_from_args(method, build_parser("t", RunConfig(method=method, **defaults)), args)
    return make_plan(cfg)


SSR_CMD = next(c for c in GENERATE if "spec_scale_reason_2.py" in c)


# TP per command and hardware, by the rule (see the module docstring)
EXPECTED_TP = {
    "base_test.py": {"4x80": 2, "4x40": 4, "8x80": 2, "1x141": 1},
    "scale_reason.py": {"4x80": 4, "4x40": 4, "8x80": 4, "1x141": 1},  # 3 paths, as the authors' role runs
    "spec_scale_reason.py": {"4x80": 4, "4x40": 4, "8x80": 4, "1x141": 1},
    "spec_scale_reason_2.py": {"4x80": 4, "4x40": 4, "8x80": 4, "1x141": 1},
}


@pytest.mark.parametrize("command", GENERATE, ids=lambda c: c.split()[1])
@pytest.mark.parametrize("hw", ["4x80", "4x40", "8x80", "1x141"])
def test_the_authors_commands_get_the_tp_the_rule_gives(command, hw):
    plan = plan_of(command, hw=hw)
    target = plan.engines["target"]
    assert target.tensor_parallel_size == EXPECTED_TP[command.split()[1]][hw]
    assert target.gpus == list(range(target.tensor_parallel_size))
    if "draft" in plan.engines:  # R1-1.5B: 12 heads, 2 KV heads; TP 1 fits everywhere here
        assert plan.engines["draft"].tensor_parallel_size == 1 and plan.engines["draft"].gpus == [0]
    assert plan.to_dict()["hardware"]["assumed"] is True


def test_the_ssr_command_on_4x80_holds_sixteen_problems_and_570k_tokens():
    plan = plan_of(SSR_CMD, hw="4x80")
    target = plan.engines["target"]
    assert target.kv_capacity_tokens == pytest.approx(HAND_KV_TOKENS[("4x80", 4)], rel=WITHIN)
    assert plan.concurrency == 16 and plan.paths_per_problem == 3
    assert target.engine_args["tensor_parallel_size"] == 4 and target.engine_args["gpu_memory_utilization"] == 0.7
    assert "device_ids" not in target.engine_args  # the first GPUs: vLLM's own default
    assert any("79.2 GiB" in n for n in plan.notes)  # says it converted the marketed size


def test_the_ssr_command_on_4x40_caps_concurrency_at_about_five():
    plan = plan_of(SSR_CMD, hw="4x40")
    assert plan.engines["target"].kv_capacity_tokens == pytest.approx(HAND_KV_TOKENS[("4x40", 4)], rel=WITHIN)
    # 140k / (3 x 9248) = 5.0: about five problems
    assert plan.concurrency in (4, 5, 6) and plan.requested_concurrency == 16
    assert any("concurrency capped" in n for n in plan.notes)


def test_an_80gb_pair_at_tp2_holds_about_165k_tokens():
    plan = plan_of(SSR_CMD, "--tensor_parallel_size", "2", hw="2x80")
    assert plan.engines["target"].kv_capacity_tokens == pytest.approx(HAND_KV_TOKENS[("2x80", 2)], rel=WITHIN)


def test_one_h200_runs_tp1_with_concurrency_capped():
    plan = plan_of(SSR_CMD, hw="1x141")
    assert plan.engines["target"].tensor_parallel_size == 1
    # 139.8 GiB x 0.7 = 97.9 GiB, less 61 GiB of weights and a few of activations: ~30 GiB at 256 KiB a token
    assert 3 <= plan.concurrency <= 6


@pytest.mark.parametrize("hw,tp", [("4x80", 4), ("4x40", 4), ("8x80", 4), ("1x141", 1)])
def test_the_paper_preset_takes_tp4_on_four_gpus_or_more_else_what_fits(hw, tp):
    plan = plan_of(SSR_CMD, "--preset", "paper", hw=hw)
    assert plan.engines["target"].tensor_parallel_size == tp
    said = "the layout the paper's latencies assume" if tp == 4 else "on four or more GPUs; 1 here"
    assert any(said in n for n in plan.notes)


def test_the_paper_preset_keeps_tp4_where_auto_would_take_eight():
    spec = next(c for c in GENERATE if "spec_scale_reason.py" in c) + " --num_paths 5"
    assert plan_of(spec, hw="8x80").engines["target"].tensor_parallel_size == 8
    assert plan_of(spec, "--preset", "paper", hw="8x80").engines["target"].tensor_parallel_size == 4


def test_placement_goes_to_vllm_as_device_ids():
    plan = plan_of(SSR_CMD, "--target_gpus", "4,5,6,7", "--draft_gpus", "3", hw="8x80")
    target, draft = plan.engines["target"], plan.engines["draft"]
    assert target.tensor_parallel_size == 4 and target.engine_args["device_ids"] == [4, 5, 6, 7]
    assert draft.gpus == [3] and draft.engine_args["device_ids"] == [3]


def test_the_draft_tp8_is_refused_naming_its_heads():
    with pytest.raises(PlanError, match="12 attention heads and 2 KV heads"):
        plan_of(SSR_CMD, "--draft_tensor_parallel_size", "8", hw="8x80")
    with pytest.raises(PlanError, match="40 attention heads"):
        plan_of(SSR_CMD, "--tensor_parallel_size", "3", hw="4x80")


def test_weights_that_cannot_fit_say_what_to_change():
    with pytest.raises(PlanError, match=r"61\.0 GiB of weights.*more GPUs"):
        plan_of(SSR_CMD, hw="1x40")


def test_two_shares_over_one_gpu_are_refused():
    with pytest.raises(PlanError, match="GPU 0 cannot hold.*lower --target_gpu_memory_utilization"):
        plan_of(SSR_CMD, "--target_gpu_memory_utilization", "0.8", "--draft_gpu_memory_utilization", "0.2")
    plan = plan_of(SSR_CMD, "--target_gpu_memory_utilization", "0.8", "--draft_gpus", "4", hw="8x80")  # elsewhere
    assert plan.engines["draft"].gpus == [4]


@pytest.mark.parametrize("text", ["4*80", "four", "x80", "4x", "0x80"])
def test_unknown_assume_gpus_syntax(text):
    with pytest.raises(PlanError, match="COUNTxGB"):
        assumed(text)


def test_offline_without_a_config_asks_for_one(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    cfg = RunConfig(method="base", backend="vllm", assume_gpus="4x80")
    with pytest.raises(PlanError, match="--target_config PATH"):
        make_plan(cfg)


def test_the_plan_is_json_and_prints_a_few_lines():
    import json

    plan = plan_of(SSR_CMD, hw="4x80")
    d = json.loads(json.dumps(plan.to_dict()))
    assert set(d) >= {"hardware", "engines", "concurrency", "tokens_per_problem", "prompt_format", "notes", "versions"}
    assert d["engines"]["draft"]["engine_args"]["model"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    lines = plan.summary_lines()
    assert 3 <= len(lines) <= 8 and "GPUs 0-3 (TP 4" in lines[1]


def test_servers_are_recorded_not_sized():
    cfg = RunConfig(method="ssr", backend="openai", target_base_url="http://a:8000/v1,http://b:8000/v1",
                    draft_base_url="http://c:8001/v1")
    plan = make_plan(cfg)
    assert plan.engines["target"].base_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    assert plan.concurrency == cfg.max_concurrent_problems and plan.engines["target"].weight_bytes is None


def test_cpu_vllm_takes_the_kv_size_given(tiny_models):
    draft, target = tiny_models
    cfg = RunConfig(method="ssr", backend="vllm", target_model=str(target), draft_model=str(draft),
                    kv_cache_gib=0.25, draft_kv_cache_gib=0.125)
    plan = make_plan(cfg, hardware=None)
    t, d = plan.engines["target"], plan.engines["draft"]
    assert (t.tensor_parallel_size, t.kv_cache_bytes, d.kv_cache_bytes) == (1, 1 << 28, 1 << 27)
    assert t.dtype == "float32" and t.engine_args["block_size"] == 32 and t.gpus is None
