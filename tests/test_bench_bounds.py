"""The benchmark's bounds analysis (bench/bounds.py) and threshold calibration helpers, on hand-built records."""

import json
from pathlib import Path

import pytest

from bench.bounds import flops_split, phase_share, prefix_cache, unit_costs
from bench.calibrate import rank_correlation, summarise
from bench.replay import paths_to_replay, recorded_paths, scoring_passes
from scripted import ScriptedEngine, stable_int
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.runner import run_dir, run_experiment
from ssr.analysis import flops as F
from ssr.records import Path as RecordPath
from ssr.records import PathTokens, Record, Step, Timing, Usage

TARGET = {"name": "t", "n_params": 1_000_000, "n_layers": 4, "n_heads": 4, "head_dim": 16}
DRAFT = {"name": "d", "n_params": 250_000, "n_layers": 2, "n_heads": 2, "head_dim": 16}


def _step(draft_tokens, accepted, rewrite_tokens=0, prompt=100, cached=60):
    return Step(
        "draft",
        8.0 if accepted else 2.0,
        [],
        accepted,
        None if accepted else "rewrite",
        draft_tokens,
        rewrite_tokens,
        prompt,
        cached,
    )


def _record(wall, phases, usage, models, path):
    return Record(
        method="x",
        dataset="math",
        problem_id=0,
        repeat=0,
        gold_answer="1",
        final_answer=None,
        paths=[path],
        config={},
        usage=usage,
        timing=Timing(wall, phases),
        models=models,
    )


def spec_record(wall=10.0):
    steps = [_step(30, True), _step(20, False, rewrite_tokens=25), _step(10, True, prompt=80, cached=75)]
    usage = {
        "target": Usage(
            prompt_tokens=50,
            cached_prompt_tokens=30,
            generated_tokens=25,
            scoring_calls=3,
            scoring_prompt_tokens=280,
            scoring_cached_prompt_tokens=195,
        ),
        "draft": Usage(prompt_tokens=300, cached_prompt_tokens=200, generated_tokens=60),
    }
    return _record(
        wall,
        {"draft": 4.0, "score": 3.0, "rewrite": 2.0, "select": 1.0},
        usage,
        {"target": TARGET, "draft": DRAFT},
        RecordPath(0, steps=steps, tokens=PathTokens(final=65)),
    )


def base_record(generated=100):
    usage = {"target": Usage(prompt_tokens=40, cached_prompt_tokens=0, generated_tokens=generated)}
    return _record(
        20.0, {"generate": 20.0}, usage, {"target": TARGET}, RecordPath(0, tokens=PathTokens(final=generated))
    )


def test_unit_costs_are_per_problem_means_and_per_unit_rates():
    u = unit_costs([spec_record(), spec_record(wall=14.0)])
    assert u["records"] == 2 and u["wall_s"] == pytest.approx(12.0)
    assert u["phase_s"] == {"draft": 4.0, "score": 3.0, "rewrite": 2.0, "select": 1.0}
    assert u["draft_s_per_token"] == pytest.approx(8.0 / 120)  # 2 x 4 s over 2 x 60 draft tokens
    assert u["score_s_per_pass"] == pytest.approx(1.0)
    assert u["score_prefill_tokens_per_s"] == pytest.approx(85 / 3.0)  # 280 - 195 prefilled per 3 s
    assert u["rewrite_s_per_token"] == pytest.approx(2.0 / 25)  # only the rejected step's rewrite counts
    assert u["mean_step_tokens"] == pytest.approx(60 / 3)
    assert u["target_decode_s_per_token"] is None  # no plain generation phase in a speculative record
    b = unit_costs([base_record()])
    assert b["target_decode_s_per_token"] == pytest.approx(0.2) and b["draft_s_per_token"] is None
    assert unit_costs([]) == {}


def test_phase_share_and_prefix_cache_come_from_the_same_pass_over_the_records():
    u = unit_costs([spec_record(), spec_record(wall=14.0)])
    assert phase_share(u) == pytest.approx({"draft": 8 / 24, "score": 6 / 24, "rewrite": 4 / 24, "select": 2 / 24})
    pc = prefix_cache(u)
    assert pc["scoring_calls"] == 6
    assert pc["mean_scoring_prompt_tokens"] == pytest.approx(280 / 3) and pc["mean_cached_tokens"] == pytest.approx(65)
    assert pc["mean_uncached_prefill_tokens"] == pytest.approx(85 / 3) and pc["cache_hit_fraction"] == pytest.approx(
        195 / 280
    )
    assert pc["mean_draft_step_tokens"] == pytest.approx(20)
    assert phase_share({}) == {} and prefix_cache({}) == {} and prefix_cache(unit_costs([base_record()])) == {}


def test_flops_split_adds_up_to_the_processed_flops_ratio():
    recs, base = [spec_record(), spec_record()], [base_record(100), base_record(140)]
    out = flops_split(recs, base)
    ctx = 60  # as the eval table: half the baseline's mean tokens per path
    assert out["context_len"] == ctx
    unit = sum(F.processed_flops(b.usage, b.models, ctx)["total_flops"] for b in base) / 2
    assert out["total"] == pytest.approx(F.processed_flops(recs[0].usage, recs[0].models, ctx)["total_flops"] / unit)
    t = F.flops_per_token(TARGET, ctx)
    # scored steps: every step's tokens were prefilled, except the last, where only 5 tokens were not cached
    assert out["parts"]["target: the scored steps"] == pytest.approx((30 + 20 + 5) * t / unit)
    assert out["parts"]["target: note, seam, re-prefilled context"] == pytest.approx((85 - 55) * t / unit)
    assert out["parts"]["target: rewrites and selection"] == pytest.approx((20 + 25) * t / unit)
    assert out["beta"] == pytest.approx(65 / 120) and out["paths"] == 1
    assert out["alpha"] == pytest.approx(F.flops_per_token(DRAFT, ctx) / t)
    assert out["floor"] == pytest.approx(out["beta"] * (1 + out["alpha"]))
    assert flops_split([], base) == {}


def test_threshold_summary_and_rank_correlation():
    scores = [float(x) for x in range(10)]
    s = summarise(scores, 20, [2.0, 5.0])
    assert s["suggested_threshold"] == pytest.approx(1.8)  # numpy's linear percentile of 0..9
    assert s["rewrite_share"] == {2.0: 0.2, 5.0: 0.5}
    assert rank_correlation(scores, [x * x for x in scores]) == pytest.approx(1.0)  # monotone: same ranks
    assert rank_correlation(scores, scores[::-1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 1, 2, 3], [5, 6, 7, 8]) == pytest.approx(0.9486833)  # a tie gets the mean rank
    assert rank_correlation([1.0, 1.0], [1.0, 2.0]) is None


def test_a_missing_records_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder of result records: .*missing"):
        recorded_paths(tmp_path / "missing")
    assert recorded_paths(tmp_path) == []  # an existing folder without records: the tools say "no speculative paths"


def test_rerender_refuses_a_report_in_the_format_before_the_per_arm_benchmark(tmp_path, capsys):
    from bench.run_bench import rerender

    old = Path(__file__).resolve().parents[1] / "bench" / "results" / "cpu-demo-continuation" / "report.json"
    (tmp_path / "report.json").write_text(old.read_text())
    assert rerender(tmp_path, None) == 2
    assert "format before the per-arm benchmark" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # nothing rewritten


def test_replay_rebuilds_the_scoring_prompts_the_loop_sent_for_v2_and_v1_records(tmp_path):
    """The calibration replays recorded paths: every prompt must be the one the loop scored, including after a
    step cut at its token limit (no blank line) and a second </think> the loop dropped."""
    def draft(prompt, params):
        k = prompt.count("Step ")
        h = stable_int(prompt, params.seed)
        if k >= 4:
            return f"So \\boxed{{{h % 2}}}", "stop", None
        if h % 3 == 0:  # longer than a step may be: cut at max_step_tokens, no blank line after it
            return f"Step {k}: " + "word " * 20, "stop", "\n\n"
        return f"Step {k}: think {h % 7} </think>", "stop", "\n\n"

    scored: list[str] = []
    target = ScriptedEngine(lambda p, sp: ("Step r: rewritten", "stop", "\n\n"),
                            lambda p: scored.append(p) or stable_int(p) % 10)
    cfg = RunConfig(method="spec", dataset_name="math", output_dir=str(tmp_path), num_paths=2, max_step_tokens=8,
                    token_budget=60, score_threshold=5.0, progress=False)
    problems = [Problem("math", i, f"Problem {i}", "1", {}) for i in range(3)]
    run_experiment(cfg, problems, {"target": target, "draft": ScriptedEngine(draft)})
    folder = run_dir(cfg)
    records = [json.loads(f.read_text()) for f in sorted(folder.glob("problem_*.json"))]
    steps = [s for r in records for p in r["paths"] for s in p["steps"]]
    assert any(not s["ended_on_blank"] for s in steps) and any(s["ended_on_blank"] for s in steps)
    assert any("</think>" in p["text"] for r in records for p in r["paths"])

    def replayed():
        passes = scoring_passes(cfg, target, paths_to_replay([str(folder)]))
        return sorted(target.render(prompt) for _, prompt in passes)

    assert replayed() == sorted(scored) and len(scored) == len(steps)
    for f, r in zip(sorted(folder.glob("problem_*.json")), records):  # the same records as schema 1 wrote them
        r["schema_version"] = 1
        for p in r["paths"]:
            for s in p["steps"]:
                del s["ended_on_blank"]
        f.write_text(json.dumps(r))
    assert replayed() == sorted(scored)
