"""The GPU smoke run (scripts/gpu_smoke.sh) and its checks (ssr.smoke), on CPU.

The checks pass on records and an engine log the CPU path really wrote (a slow tiny-model run; the committed
benchmark records for the two-run comparison), and each one fails on a hand-made bad input: a one-hot
distribution, a cache share of 50%, a missing key, an estimate 2x off, differing scores. The engine-log lines are
vLLM 0.32's own format strings, checked to be present in the installed vLLM's source. The script itself refuses
to start on this machine (no NVIDIA GPU; with a fake nvidia-smi, no CUDA torch) with exit 3.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ssr.plan.plans import EnginePlan
from ssr.records import Path as RecordPath
from ssr.records import Record, Step, load_records, read_record, write_record
from ssr.smoke.checks import (
    check_distributions,
    check_plan_memory,
    check_prefix_cache,
    check_runner,
    check_schema,
    compare_runs,
    schema_errors,
)
from ssr.smoke.cli import check_outputs, check_run, main
from ssr.smoke.engine_log import GIB, parse_engine_log, read_engine_log

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_smoke.sh"
ARMS = ROOT / "bench" / "results" / "cpu-demo-arms-full"

NOTE, BLOCK, DRAFT_TOKENS, PROMPT0 = 25, 16, 60, 200


# ------------------------------------------------------------------ hand-made records
def spread(top: int, p: float = 0.6) -> list[float]:
    """A distribution with ``p`` on digit ``top`` and the rest spread evenly."""
    return [p if d == top else (1 - p) / 9 for d in range(10)]


def make_steps(n: int, *, cache=lambda prompt: (prompt - DRAFT_TOKENS - NOTE) // BLOCK * BLOCK, probs=None):
    """``n`` accepted steps of a path whose scoring prompts grow by one step each; ``cache(prompt)`` -> cached."""
    steps = []
    for i in range(n):
        prompt = PROMPT0 + DRAFT_TOKENS * i
        p = probs(i) if probs else spread(7)
        steps.append(
            Step(
                draft=f"step {i}",
                score=float(max(range(10), key=lambda d: (p[d], d))),
                score_probs=p,
                accepted=True,
                rewrite=None,
                draft_tokens=DRAFT_TOKENS,
                rewrite_tokens=0,
                score_prompt_tokens=prompt,
                score_cached_tokens=0 if i == 0 else cache(prompt),
            )
        )
    return steps


def make_record(problem_id=0, steps=None, plan=None, **config) -> Record:
    return Record(
        method="spec",
        dataset="math",
        problem_id=problem_id,
        repeat=0,
        gold_answer="1",
        final_answer="1",
        paths=[RecordPath(index=0, steps=steps if steps is not None else make_steps(6))],
        config={"score_method": "greedy", "score_prompt": "continuation", "block_size": BLOCK,
                "target_model": "org/target", "draft_model": "org/draft"} | config,
        models={"target": {"name": "org/target", "extra": {"on_cpu": False}}},
        plan=plan,
    )


def engine_plan(role: str, model: str, weight_gib: float, kv_gib: float, tokens: int) -> dict:
    """One engine of a plan as ssr.plan records it (per-GPU bytes, the engine's tokens)."""
    return EnginePlan(role=role, model=model, backend="vllm", block_size=BLOCK, weight_bytes=int(weight_gib * GIB),
                      kv_cache_bytes=int(kv_gib * GIB), kv_capacity_tokens=tokens).to_dict()


PLAN = {"engines": {"target": engine_plan("target", "org/target", 2.89, 90.0, 3_370_000),
                    "draft": engine_plan("draft", "org/draft", 0.93, 24.0, 2_090_000)}}


# ------------------------------------------------------------------ vLLM 0.32's log lines
VLLM = Path(__import__("vllm").__file__).parent
# (source file under vllm/, format string as it is written there)
FORMATS = {
    "start": ("v1/engine/core.py", '"Initializing a V1 LLM engine (v%s) with config: %s"'),
    "weights": ("v1/worker/gpu/model_runner.py", '"Model loading took %s GiB memory and %.6f seconds"'),
    "weights_v1": ("v1/worker/gpu_model_runner.py", '"Model loading took %s GiB memory and %.6f seconds"'),
    "kv_gpu": ("v1/worker/gpu_worker.py", '"Available KV cache memory: %s GiB"'),
    "kv_gpu_given": ("v1/worker/gpu_worker.py", 'reserved {format_gib(kv_cache_memory_bytes)} GiB memory for "\n'),
    "kv_cpu": ("v1/worker/cpu_worker.py", 'f"Explicitly set ({format_gib(kv_cache_size)}/"'),
    "tokens": ("v1/core/kv_cache_utils.py", '"%s KV cache size: %s tokens, "\n        "Maximum concurrency for %s'),
    "runner": ("v1/worker/gpu_worker.py", 'logger.info_once("Using V2 Model Runner")'),
    "config_str": ("config/vllm.py", 'f"model={self.model_config.model!r}, "'),
}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_the_log_lines_read_are_vllms_own(kind):
    where, text = FORMATS[kind]
    assert text in (VLLM / where).read_text(), f"vLLM's {where} no longer logs {text!r}: update ssr/smoke/engine_log.py"


def gpu_engine_lines(model: str, weight_gib: str, kv_gib: str, tokens: int, *, v2: bool = True) -> list[str]:
    """One engine start on GPU, as vLLM 0.32 formats it (the templates above)."""
    prefix = "(EngineCore_DP0 pid=7) INFO 01-01 00:00:00 [x.py:1] "
    lines = [
        "Initializing a V1 LLM engine (v%s) with config: %s" % ("0.32.0", f"model={model!r}, speculative_config=None"),
        "Model loading took %s GiB memory and %.6f seconds" % (weight_gib, 3.2),
        "Available KV cache memory: %s GiB" % kv_gib,
        "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"
        % ("GPU", f"{tokens:,}", f"{32768:,}", tokens / 32768),
    ]
    if v2:
        lines.insert(1, "Using V2 Model Runner")
    return [prefix + line for line in lines]


GPU_LOG = "\n".join(
    ["noise before any engine: Model loading took 99.00 GiB memory and 1.0 seconds"]
    + gpu_engine_lines("org/target", "2.89", "90.12", 3_374_336)
    + gpu_engine_lines("org/draft", "0.93", "24.3", 2_080_000)
)


def test_engine_log_sections_give_each_engines_figures():
    starts = parse_engine_log(GPU_LOG)
    assert [(s.model, s.runner, s.kv_pool) for s in starts] == [("org/target", "v2", "GPU"), ("org/draft", "v2", "GPU")]
    assert starts[0].weight_bytes == pytest.approx(2.89 * GIB) and starts[1].kv_cache_bytes == pytest.approx(24.3 * GIB)
    assert starts[0].kv_capacity_tokens == 3_374_336
    rerun = parse_engine_log(GPU_LOG + "\n" + "\n".join(gpu_engine_lines("org/target", "2.5", "80", 10, v2=False)))
    assert check_plan_memory([make_record(plan=PLAN)], rerun).passed is False  # the latest start counts


# ------------------------------------------------------------------ 1. distributions
def test_distributions_pass_on_spread_scores_and_fail_when_one_hot():
    assert check_distributions([make_record()]).passed
    one_hot = [1.0 if d == 9 else 0.0 for d in range(10)]
    mostly = make_steps(6, probs=lambda i: one_hot if i < 4 else spread(7))
    result = check_distributions([make_record(steps=mostly)])
    assert not result.passed and "4 one-hot" in result.detail
    half = make_steps(6, probs=lambda i: one_hot if i < 3 else spread(7))
    assert check_distributions([make_record(steps=half)]).passed  # at most half may be one-hot


def test_distributions_fail_when_not_summing_to_one_or_when_the_score_is_not_the_distributions():
    short = make_steps(3, probs=lambda i: [0.09] * 10)
    assert not check_distributions([make_record(steps=short)]).passed
    steps = make_steps(3)
    steps[1].score = 3.0  # spread(7)'s greedy digit is 7
    result = check_distributions([make_record(steps=steps)])
    assert not result.passed and "score 3.0" in result.detail
    assert check_distributions([make_record(steps=make_steps(3), score_method="average")]).passed is False
    assert not check_distributions([make_record(steps=[])]).passed


# ------------------------------------------------------------------ 2. prefix cache
def test_prefix_cache_passes_when_the_path_is_served_and_fails_at_half():
    assert check_prefix_cache([make_record()], note=NOTE).passed
    half = check_prefix_cache([make_record(steps=make_steps(6, cache=lambda prompt: prompt // 2))], note=NOTE)
    assert not half.passed and "need > 80%" in half.detail
    # the first step of a path is not judged: nothing of the path can be cached yet
    assert check_prefix_cache([make_record(steps=make_steps(1))], note=NOTE).passed is False


def test_prefix_cache_fails_when_the_engine_reports_no_cached_tokens():
    steps = make_steps(4)
    steps[2].score_cached_tokens = None
    assert not check_prefix_cache([make_record(steps=steps)], note=NOTE).passed


def test_prefix_cache_counts_the_note_in_the_targets_tokenizer(tiny_models):
    from ssr.smoke.checks import note_tokens

    assert 10 < note_tokens(str(tiny_models[1])) < 40


# ------------------------------------------------------------------ 3. schema
def test_schema_passes_on_what_the_writer_writes_and_names_a_missing_key(tmp_path):
    path = tmp_path / "problem_0_repeat_0.json"
    write_record(path, make_record(plan=PLAN))
    assert check_schema([read_record(path)]).passed
    data = json.loads(path.read_text())
    del data["paths"][0]["steps"][1]["score_cached_tokens"]
    path.write_text(json.dumps(data))
    result = check_schema([read_record(path)])
    assert not result.passed and "record.paths[0].steps[1].score_cached_tokens: missing" in result.detail


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(extra_field=1), "record.extra_field: not in the schema"),
        (lambda d: d["paths"][0]["steps"][0].update(score="7"), "record.paths[0].steps[0].score: str '7' is not float"),
        (lambda d: d["paths"][0]["steps"][0].update(accepted=1), "accepted: int 1 is not bool"),
        (lambda d: d["usage"].update(target={"calls": "3"}), "record.usage.target.calls: str '3' is not int"),
        (lambda d: d.update(schema_version=1), "schema_version 1"),
        (lambda d: d.pop("config"), "missing keys: config"),
    ],
)
def test_schema_fails_on_a_changed_file(tmp_path, mutate, message):
    path = tmp_path / "problem_0_repeat_0.json"
    write_record(path, make_record())
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    assert any(message in e for e in schema_errors(path)), schema_errors(path)


# ------------------------------------------------------------------ 4. plan vs vLLM
def test_plan_within_tolerance_passes_and_an_estimate_twice_too_large_fails():
    starts = parse_engine_log(GPU_LOG)
    assert check_plan_memory([make_record(plan=PLAN)], starts).passed
    for key in ("weight_bytes", "kv_cache_bytes", "kv_capacity_tokens"):
        off = json.loads(json.dumps(PLAN))
        off["engines"]["draft"][key] *= 2
        result = check_plan_memory([make_record(plan=off)], starts)
        assert not result.passed and "(OFF)" in result.detail, key


def test_plan_check_fails_without_a_plan_a_figure_or_the_engines_start():
    starts = parse_engine_log(GPU_LOG)
    assert not check_plan_memory([make_record(plan=None)], starts).passed
    no_kv = json.loads(json.dumps(PLAN))
    no_kv["engines"]["target"]["kv_capacity_tokens"] = None
    assert "the plan has no kv_capacity_tokens" in check_plan_memory([make_record(plan=no_kv)], starts).detail
    only_target = parse_engine_log("\n".join(gpu_engine_lines("org/target", "2.89", "90.12", 3_374_336)))
    assert "no start of org/draft" in check_plan_memory([make_record(plan=PLAN)], only_target).detail
    no_weights = parse_engine_log("\n".join(x for x in GPU_LOG.splitlines() if "Model loading" not in x))
    assert "target weights: not in the engine log" in check_plan_memory([make_record(plan=PLAN)], no_weights).detail


def test_runner_check_reads_which_runner_ran():
    assert check_runner(parse_engine_log(GPU_LOG), "v2").passed
    assert not check_runner(parse_engine_log(GPU_LOG), "v1").passed
    v1 = parse_engine_log("\n".join(gpu_engine_lines("org/target", "2.89", "90", 10, v2=False)))
    assert check_runner(v1, "v1").passed and not check_runner(v1, "v2").passed
    assert not check_runner([], "v1").passed


# ------------------------------------------------------------------ 5. two runs
def test_two_cpu_runs_of_the_same_settings_agree():
    """The committed benchmark ran each arm twice, one problem at a time and batched: on CPU, alike."""
    for arm in ("spec/math/paths1_th3.5_average_budget256", "ssr/math/paths3_th3.5_average_budget256_pool12_fast0"):
        first = load_records(ARMS / "runs-sequential" / arm).records
        second = load_records(ARMS / "runs-batched" / arm).records
        result = compare_runs(first, second)
        assert result.passed and "greedy digit equal" in result.detail, result.detail


def test_differing_scores_fail_the_comparison():
    assert compare_runs([make_record()], [make_record()]).passed
    other = make_record(steps=make_steps(6, probs=lambda i: spread(2)))
    result = compare_runs([make_record()], [other])
    assert not result.passed and "equal on 0" in result.detail
    # the same greedy digit 7; expected scores 5.4 and 5.0 against spread(7)'s 5.89: 0.49 and 0.89 apart
    def moved(low: int) -> Record:
        return make_record(steps=make_steps(6, probs=lambda i: [0.6 * (d == 7) + 0.4 * (d == low) for d in range(10)]))

    assert compare_runs([make_record()], [moved(3)]).passed
    assert not compare_runs([make_record()], [moved(2)]).passed


def test_only_steps_drafted_alike_on_the_same_text_are_compared():
    steps = make_steps(6)
    steps[3].draft = "another step"
    other = make_record(steps=steps)
    result = compare_runs([make_record()], [other])
    assert result.passed and result.detail.startswith("3/6 steps comparable")
    rewritten = make_steps(6)
    rewritten[1].accepted, rewritten[1].rewrite = False, "a rewrite"
    assert compare_runs([make_record()], [make_record(steps=rewritten)]).detail.startswith("2/6")
    first_differs = make_steps(6)
    first_differs[0].draft = "x"
    assert not compare_runs([make_record()], [make_record(steps=first_differs)]).passed


# ------------------------------------------------------------------ the table and the exit code
def write_run(out: Path, record: Record, log: str) -> Path:
    folder = out / "spec" / "math" / "tag"
    write_record(folder / "problem_0_repeat_0.json", record)
    (folder / "engine.log").write_text(log)
    return folder


def test_cli_prints_the_table_and_exits_1_on_a_failure(tmp_path, capsys):
    write_run(tmp_path / "runner-v2", make_record(plan=PLAN), GPU_LOG)
    v1_log = GPU_LOG.replace("Using V2 Model Runner", "")
    write_run(tmp_path / "runner-v1", make_record(plan=PLAN), v1_log)
    args = ["--first", str(tmp_path / "runner-v2"), "--first_runner", "v2", "--second", str(tmp_path / "runner-v1"),
            "--second_runner", "v1", "--note_tokens", str(NOTE), "--json", str(tmp_path / "checks.json")]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "11/11 checks passed" in table and "V2 vs V1" in table
    assert len(json.loads((tmp_path / "checks.json").read_text())) == 11
    write_run(tmp_path / "runner-v1", make_record(plan=PLAN, steps=make_steps(6, probs=lambda i: spread(2))), v1_log)
    assert main(args) == 1
    assert "FAILED" in capsys.readouterr().out


def test_cli_reads_the_engine_logs_of_shards(tmp_path):
    folder = write_run(tmp_path, make_record(plan=PLAN), "")
    (folder / "engine.log").unlink()
    plan_check = [r.detail for r in check_run(folder, note=NOTE) if r.name == "plan vs vLLM"]
    assert plan_check == ["no engine.log in the run folder"]
    (folder / "engine.shard-1-of-2.log").write_text(GPU_LOG)
    assert all(r.passed for r in check_run(folder, runner="v2", note=NOTE))


# ------------------------------------------------------------------ the script
def test_script_parses_and_never_installs():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    code = [line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not any("install_cpu" in line for line in code)
    assert "NOT YET RUN ON A GPU" in SCRIPT.read_text()


def _script_env(tmp_path: Path, fake_gpu: bool) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if fake_gpu:
        fake = bin_dir / "nvidia-smi"
        fake.write_text('#!/usr/bin/env bash\necho "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n')
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    # PATH without any real nvidia-smi, this Python first
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "nvidia-smi").exists()]
    return dict(os.environ, PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), *dirs]),
                PYTHON=sys.executable)


@pytest.mark.parametrize(
    "fake_gpu, reason", [(False, "no NVIDIA GPU is visible"), (True, "sees no CUDA device")]
)
def test_script_refuses_without_an_nvidia_gpu(tmp_path, fake_gpu, reason):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], env=_script_env(tmp_path, fake_gpu), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("gpu_smoke: refusing to start: ") and reason in first, proc.stderr
    assert "pip install -e . && pip install -r requirements.txt" in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------ slow: a real CPU run
@pytest.mark.slow
def test_checks_pass_on_a_real_tiny_cpu_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "spec_scale_reason.py", "--preset", "tiny", "--num_paths", "1", "--use_role_prompts", "0",
           "--output_dir", str(tmp_path),
           "--no_progress"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = {p.parent for p in tmp_path.rglob("problem_*_repeat_*.json")}
    records = load_records(folder).records
    assert len(records) == 2
    for check in (check_distributions(records), check_prefix_cache(records), check_schema(records)):
        assert check.passed, check
    starts = read_engine_log(folder / "engine.log")
    assert [s.kv_pool for s in starts] == ["CPU", "CPU"] and check_runner(starts, "v1").passed
    result = check_plan_memory(records, starts)  # the plan ssr.plan made and the runner recorded
    assert result.passed and "draft KV tokens" in result.detail, result.detail
    assert all(r.passed for r in check_outputs(tmp_path, first_runner="v1")), check_outputs(tmp_path)
