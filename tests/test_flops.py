import pytest

from ssr.engines.base import ModelInfo
from ssr.records import Usage
from ssr.analysis.flops import (
    alpha_from_models,
    flops_per_token,
    gamma_base,
    gamma_parallel,
    gamma_spec,
    processed_flops,
    processed_tokens,
)

# shapes of the paper's pair, as their configurations give them (rounded parameter counts)
TARGET = ModelInfo(
    name="Qwen/QwQ-32B", n_params=31_000_000_000, n_layers=64, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128
)
DRAFT = ModelInfo(
    name="R1-Distill-Qwen-1.5B",
    n_params=1_300_000_000,
    n_layers=28,
    hidden_size=1536,
    n_heads=12,
    n_kv_heads=2,
    head_dim=128,
)


def test_gamma_formulas():
    assert gamma_base() == 1.0
    assert gamma_parallel(5) == 5.0
    assert gamma_spec(3, 1.0, 1.0, 0.05) == pytest.approx(3.0)  # every step rewritten = parallel
    assert gamma_spec(3, 1.0, 0.0, 0.05) == pytest.approx(0.15)  # nothing rewritten = N * alpha
    # N * beta * (R + (1 - R) * alpha) = 3 * 1.2 * (0.25 + 0.75 * 0.1)
    assert gamma_spec(3, 1.2, 0.25, 0.1) == pytest.approx(1.17)


def test_gamma_paper_scale():
    # SSR on MATH-500 reports ~30% of baseline compute: with 3 paths, beta ~ 1 and alpha ~ 0.05
    # that needs a rewrite rate near 5%, which is what 3 * (0.05 + 0.95 * 0.05) = 0.2925 gives
    assert gamma_spec(3, 1.0, 0.05, 0.05) == pytest.approx(0.2925)


@pytest.mark.parametrize("args", [(0, 1, 0.5, 0.1), (3, -1, 0.5, 0.1), (3, 1, 1.5, 0.1), (3, 1, 0.5, -0.1)])
def test_gamma_spec_rejects_bad_inputs(args):
    with pytest.raises(ValueError):
        gamma_spec(*args)


def test_flops_per_token_formula():
    # 2 N + 2 n_layers n_ctx d_attn
    assert flops_per_token(TARGET, 0) == 2 * 31_000_000_000
    assert flops_per_token(TARGET, 1000) == 2 * 31_000_000_000 + 2 * 64 * 1000 * 40 * 128
    # dicts (as stored in result files) work, and d_attn falls back to hidden_size
    assert flops_per_token({"n_params": 10, "n_layers": 2, "hidden_size": 8}, 3) == 20 + 2 * 2 * 3 * 8
    with pytest.raises(ValueError):
        flops_per_token({"name": "x", "n_params": 0, "n_layers": 2}, 3)
    with pytest.raises(TypeError):
        flops_per_token(42, 3)


def test_alpha_from_models():
    a0 = alpha_from_models(DRAFT, TARGET, context_len=0)
    assert a0 == pytest.approx(1.3 / 31)
    # attention makes long contexts relatively dearer for the small model's share
    a = alpha_from_models(DRAFT, TARGET, context_len=8192)
    expected = (2 * 1.3e9 + 2 * 28 * 8192 * 1536) / (2 * 31e9 + 2 * 64 * 8192 * 5120)
    assert a == pytest.approx(expected)
    assert 0 < a < 0.1


def _usage(tp=100, tc=40, tg=50, sp=30, sc=20, dp=60, dc=10, dg=200):
    return {
        "target": Usage(
            calls=3,
            prompt_tokens=tp,
            cached_prompt_tokens=tc,
            generated_tokens=tg,
            scoring_prompt_tokens=sp,
            scoring_cached_prompt_tokens=sc,
            scoring_calls=2,
        ),
        "draft": Usage(calls=4, prompt_tokens=dp, cached_prompt_tokens=dc, generated_tokens=dg),
    }


def test_processed_tokens():
    t = processed_tokens(_usage()["target"])
    assert t == {"prefill": 60, "generated": 50, "scoring": 10, "total": 120}
    assert processed_tokens(None)["total"] == 0


def test_processed_flops():
    models = {
        "target": {"n_params": 1000, "n_layers": 1, "hidden_size": 1},
        "draft": {"n_params": 10, "n_layers": 1, "hidden_size": 1},
    }
    out = processed_flops(_usage(), models, context_len=0)
    assert out["target"]["total"] == 120 and out["target"]["flops"] == 120 * 2000
    assert out["draft"]["total"] == 250 and out["draft"]["flops"] == 250 * 20
    assert out["total_flops"] == 120 * 2000 + 250 * 20
    # a baseline record: no draft at all
    base = processed_flops({"target": _usage()["target"]}, {"target": models["target"], "draft": None}, 0)
    assert base["draft"]["flops"] == 0.0 and base["total_flops"] == 120 * 2000
    # draft tokens but no draft ModelInfo: no guessed cost
    assert processed_flops(_usage(), {"target": models["target"]}, 0)["total_flops"] is None
