import argparse

import json

import pytest

from ssr import presets
from ssr.command_line import add_run_args, config_from_args, explicit_args
from ssr.config import RunConfig


def parser():
    p = argparse.ArgumentParser()
    add_run_args(p, RunConfig())
    return p


def test_paper_option_names_and_defaults():
    cfg = config_from_args("ssr", parser(), ["--model_name", "M", "--repeat_id", "6", "--problem_id", "60-89"])
    assert (cfg.target_model, cfg.repeat_id, cfg.problem_id) == ("M", 6, "60-89")
    assert (cfg.score_threshold, cfg.token_budget, cfg.max_step_tokens, cfg.temperature, cfg.top_p) == (
        7.0,
        8192,
        512,
        0.6,
        0.95,
    )


def test_boolean_flags_accept_bare_and_valued_forms():
    assert config_from_args("spec", parser(), ["--use_role_prompts"]).use_role_prompts is True
    assert config_from_args("spec", parser(), ["--use_role_prompts", "0"]).use_role_prompts is False
    with pytest.raises(SystemExit):
        config_from_args("spec", parser(), ["--use_role_prompts", "maybe"])


def test_explicit_args_sees_only_typed_options():
    typed = explicit_args(parser(), ["--token_budget", "5", "--overwrite", "--model_name", "x"])
    assert typed == {"token_budget", "overwrite", "target_model"}


def test_preset_fills_untyped_options_only(monkeypatch):
    monkeypatch.setattr(presets, "preset_overrides", lambda name: {"token_budget": 10, "target_model": "preset-model"})
    cfg = config_from_args("ssr", parser(), ["--preset", "paper", "--token_budget", "99"])
    assert cfg.token_budget == 99 and cfg.target_model == "preset-model"


def test_paper_preset_matches_the_paper_setting():
    o = presets.preset_overrides("paper")
    assert o["target_model"] == "Qwen/QwQ-32B" and o["draft_model"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert ("tensor_parallel_size" not in o, o["token_budget"], o["repeat_id"]) == (True, 8192, 6)  # TP: the plan


def test_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        config_from_args("ssr", parser(), ["--preset", "nope"])
    assert exc.value.code == 2 and "unknown preset" in capsys.readouterr().err


def test_cpu_demo_preset_asks_for_the_setup_step_when_models_are_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("SSR_CACHE_DIR", str(tmp_path))
    with pytest.raises(KeyError, match="setup_cpu_demo.py"):
        presets.preset_overrides("cpu-demo")


def test_swap_models_replaces_what_a_preset_sets_but_not_what_to_run(monkeypatch, capsys):
    from ssr.command_line import add_run_args, config_from_args

    monkeypatch.setenv("SSR_SWAP_MODELS", "smoke")
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    argv = [
        "--dataset_name",
        "aime",
        "--problem_id",
        "60-89",
        "--repeat_id",
        "3",
        "--model_name",
        "Qwen/QwQ-32B",
        "--token_budget",
        "8192",
        "--method_num",
        "3",
        "--output_dir",
        "results/x",
    ]
    cfg = config_from_args("ssr", parser, argv)
    assert (cfg.dataset_name, cfg.problem_id, cfg.repeat_id, cfg.method_num, cfg.output_dir) == (
        "aime",
        "60-89",
        3,
        3,
        "results/x",
    )
    assert cfg.target_model != "Qwen/QwQ-32B" and cfg.token_budget == 16  # typed, but swapped with the models
    assert cfg.extra["swapped_models"] == "smoke" and "SSR_SWAP_MODELS=smoke" in capsys.readouterr().err
    monkeypatch.setenv("SSR_SWAP_MODELS", "huge")
    with pytest.raises(SystemExit):
        config_from_args("ssr", parser, argv)


def test_new_options_reach_the_config():
    from ssr.command_line import add_run_args, config_from_args

    parser = argparse.ArgumentParser()
    add_run_args(parser)
    cfg = config_from_args(
        "ssr",
        parser,
        [
            "--prompt_format",
            "raw",
            "--score_prompt",
            "grader",
            "--gpu_memory_utilization",
            "0.5",
            "--block_size",
            "32",
            "--verbose",
        ],
    )
    assert (cfg.prompt_format, cfg.score_prompt, cfg.target_gpu_memory_utilization, cfg.block_size, cfg.verbose) == (
        "raw",
        "grader",
        0.5,
        32,
        True,
    )
    with pytest.raises(SystemExit):
        config_from_args("ssr", parser, ["--prompt_format", "xml"])


# ---------------------------------------------------------------- one declaration per option
def test_help_lists_every_option_and_alias():
    from ssr.config import fields_of, SETTING, SCOPE, FLAG

    text = parser().format_help()
    for f in fields_of(SETTING, SCOPE, FLAG):
        if f.metadata["form"] == "none":
            continue
        name = f"--no_{f.name}" if f.metadata["form"] == "negated" else f"--{f.name}"
        assert name in text, name
        for alias in f.metadata["aliases"]:
            assert alias in text
    assert "--model_name" in text and "--gpu_memory_utilization" in text and "--no_progress" in text


def test_choices_come_from_the_modules_that_use_the_values():
    from ssr.aggregation import FAST_MODES
    from ssr.engines import BACKENDS
    from ssr.prompts import POOL_SIZES, PROMPT_FORMATS, SCORE_METHODS, SCORE_PROMPTS

    choices = {a.dest: a.choices for a in parser()._actions}
    assert choices["score_method"] is SCORE_METHODS and choices["score_prompt"] is SCORE_PROMPTS
    assert choices["prompt_format"] is PROMPT_FORMATS and choices["backend"] is BACKENDS
    assert choices["strategy_pool_size"] is POOL_SIZES and choices["fast"] is FAST_MODES


@pytest.mark.parametrize(
    "argv,option",
    [
        (["--top_p", "0"], "--top_p"),
        (["--num_paths", "0"], "--num_paths"),
        (["--score_threshold", "11"], "--score_threshold"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        config_from_args("ssr", parser(), argv)
    assert exc.value.code == 2 and option in capsys.readouterr().err


def test_a_preset_value_is_checked_like_a_typed_one(monkeypatch, capsys):
    monkeypatch.setattr(presets, "preset_overrides", lambda name: {"score_method": "median"})
    with pytest.raises(SystemExit):
        config_from_args("ssr", parser(), ["--preset", "paper"])
    assert "--score_method" in capsys.readouterr().err


def test_the_backend_is_resolved_so_records_name_the_engine_that_ran(monkeypatch):
    from ssr import config

    monkeypatch.setattr(config, "default_backend", lambda: "vllm")
    assert config_from_args("ssr", parser(), []).backend == "vllm"
    assert config_from_args("ssr", parser(), ["--backend", "openai"]).backend == "openai"


def test_without_vllm_a_large_target_is_not_silently_loaded_on_transformers(monkeypatch, tmp_path, capsys):
    from ssr import config

    monkeypatch.setattr(config, "default_backend", lambda: "hf")
    # the paper's target by name: refused, naming what to do
    with pytest.raises(SystemExit) as exc:
        config_from_args("ssr", parser(), [])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "vLLM is not installed" in err and "Qwen/QwQ-32B" in err and "--backend hf" in err
    # a local folder whose config.json says 14.8B parameters (Qwen2.5-14B's shape): refused with its size
    big = tmp_path / "big"
    big.mkdir()
    (big / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 48,
        "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064,
    }))
    with pytest.raises(SystemExit):
        config_from_args("ssr", parser(), ["--target_model", str(big)])
    assert "B parameters" in capsys.readouterr().err
    # typed out, it runs; a small local model falls back as before
    assert config_from_args("ssr", parser(), ["--backend", "hf"]).backend == "hf"
    small = tmp_path / "small"
    small.mkdir()
    (small / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    }))
    assert config_from_args("ssr", parser(), ["--target_model", str(small)]).backend == "hf"


def test_flags_are_not_recorded():
    recorded = RunConfig(overwrite=True, progress=False, verbose=True).to_dict()
    assert not {"overwrite", "progress", "verbose"} & set(recorded)
    assert {"problem_id", "output_dir", "max_concurrent_problems", "top_p", "target_model", "extra"} <= set(recorded)


# ---------------------------------------------------------------- run identity
# Written out here, not read from ssr.methods, so that a setting dropped from a method's identity fails.
SCOPE_AND_FLAGS = {
    "problem_id",
    "repeat_id",
    "data_dir",
    "output_dir",
    "tensor_parallel_size",
    "draft_tensor_parallel_size",
    "target_gpus",
    "draft_gpus",
    "draft_kv_cache_gib",
    "target_config",
    "draft_config",
    "assume_gpus",
    "max_inflight",
    "wait_for_server",
    "session_header",
    "shard",
    "dry_run",
    "target_gpu_memory_utilization",
    "draft_gpu_memory_utilization",
    "enforce_eager",
    "kv_cache_gib",
    "target_base_url",
    "draft_base_url",
    "api_key_env",
    "request_timeout",
    "device",
    "max_concurrent_problems",
    "target_cpus",
    "draft_cpus",
    "preset",
    "extra",
    "overwrite",
    "progress",
    "verbose",
}
SPECULATIVE = {
    "draft_model",
    "draft_tokenizer",
    "draft_engine_args",
    "max_step_tokens",
    "score_threshold",
    "score_method",
    "score_prompt",
    "fast",
    "tie_break",
    "schedule",
    "predraft",  # an option of the async schedule: the base config runs lock-step
}
IGNORED = {
    "base": SPECULATIVE | {"num_paths", "use_role_prompts", "method_num", "strategy_pool_size", "use_method_prompts"},
    "parallel": (SPECULATIVE - {"tie_break"}) | {"method_num", "strategy_pool_size"},  # plain prompts: no SPM
    "spec": {"method_num", "strategy_pool_size", "use_method_prompts", "predraft"},
    "ssr": {"num_paths", "use_role_prompts", "use_method_prompts", "predraft"},
}
OTHER = {
    "backend": "hf",
    "score_method": "average",
    "score_prompt": "grader",
    "prompt_format": "raw",
    "fast": 2,
    "strategy_pool_size": 6,
    "answer_rule": "lenient",
    "tie_break": "code",
    "tensor_parallel_size": 2,
    "draft_tensor_parallel_size": 2,
    "shard": "1/2",
    "schedule": "async",
    "target_engine_args": '{"max_num_seqs": 8}',
    "draft_engine_args": '{"max_num_seqs": 8}',
}


def _changed(name, value):
    if name in OTHER:
        return OTHER[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, dict):
        return {"note": "x"}
    return f"{value or ''}x"


@pytest.mark.parametrize("method", ["base", "parallel", "spec", "ssr"])
def test_the_folder_tag_changes_with_every_setting_the_method_uses_and_with_nothing_else(method):
    import dataclasses

    from ssr.config import run_tag

    base = RunConfig(method=method)
    for f in dataclasses.fields(RunConfig):
        if f.name in ("method", "dataset_name"):
            continue  # the folder's path names these
        other = dataclasses.replace(base, **{f.name: _changed(f.name, getattr(base, f.name))})
        changes = run_tag(other) != run_tag(base)
        assert changes == (f.name not in SCOPE_AND_FLAGS | IGNORED[method]), f.name


def test_the_tag_keeps_todays_names_and_appends_a_hash_of_the_rest():
    from ssr.config import run_tag

    assert run_tag(RunConfig(method="ssr")) == "paths3_th7_greedy_budget8192_pool12_fast0"
    tag = run_tag(RunConfig(method="ssr", top_p=0.9))
    assert tag.startswith("paths3_th7_greedy_budget8192_pool12_fast0_") and len(tag.rsplit("_", 1)[1]) == 8
    # a preset's int for a float setting is the same setting
    assert run_tag(RunConfig(method="ssr", score_threshold=7, temperature=1)) == run_tag(
        RunConfig(method="ssr", score_threshold=7.0, temperature=1.0)
    )
    spm = RunConfig(method="parallel", use_method_prompts=True)
    assert run_tag(spm) != run_tag(RunConfig(method="parallel", use_method_prompts=True, strategy_pool_size=6))
    assert run_tag(spm) == run_tag(
        RunConfig(method="parallel", use_method_prompts=True, num_paths=9, use_role_prompts=True)
    )


def test_identity_differences_count_a_missing_field_as_its_default():
    from ssr.config import identity_differences

    now = RunConfig(method="spec", fast=1)
    recorded = now.to_dict()
    assert identity_differences(now, recorded) == {}
    del recorded["prompt_format"]  # older records lack it; the default is this run's value
    assert identity_differences(now, recorded) == {}
    del recorded["fast"]
    assert identity_differences(now, recorded) == {"fast": (0, 1)}
    assert identity_differences(now, {**now.to_dict(), "problem_id": "7", "score_threshold": 7}) == {}


@pytest.mark.parametrize("script", ["bench/run_bench.py", "bench/calibrate.py", "bench/block_size.py"])
def test_the_bench_checks_its_options_as_the_scripts_do(script):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    records = [] if script == "bench/run_bench.py" else ["--records", "nowhere"]
    proc = subprocess.run([sys.executable, script, *records, "--top_p", "0"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 2 and "--top_p must be in (0, 1]" in proc.stderr


def test_paper_preset_is_the_papers_setting_with_the_authors_prompt_shape(monkeypatch, capsys):
    from ssr.prompts import PROMPT_FORMATS

    monkeypatch.setattr(presets, "reference_set_imported", lambda: False)
    cfg = config_from_args("ssr", parser(), ["--preset", "paper"])
    # "authors" once that format ships in ssr.prompts; until then its nearest shape, the plain-text "raw"
    assert cfg.prompt_format == ("authors" if "authors" in PROMPT_FORMATS else "raw")
    assert (cfg.score_threshold, cfg.score_method, cfg.repeat_id, cfg.token_budget) == (7.0, "greedy", 6, 8192)
    assert cfg.tensor_parallel_size == "auto"  # the plan decides (TP 4 on four or more GPUs)
    # no imported reference set: the project's texts, said on stderr and recorded in every result
    assert cfg.prompt_set == "ssr"
    assert "import_reference_prompts.py" in cfg.extra["prompt_set_note"]
    assert cfg.extra["prompt_set_note"] in capsys.readouterr().err
    assert cfg.to_dict()["extra"]["prompt_set_note"] == cfg.extra["prompt_set_note"]


def test_paper_preset_takes_the_reference_set_once_imported(monkeypatch, capsys):
    monkeypatch.setattr(presets, "reference_set_imported", lambda: True)
    o = presets.preset_overrides("paper")
    assert o["prompt_set"] == "reference" and "extra" not in o
    assert "warning" not in capsys.readouterr().err
    # a typed --prompt_set still wins over the preset's
    typed = config_from_args("ssr", parser(), ["--preset", "paper", "--prompt_set", "ssr"])
    assert typed.prompt_set == "ssr"


@pytest.mark.parametrize("preset", [[], ["--preset", "paper"]])
def test_role_runs_make_three_paths_unless_told(preset, monkeypatch):
    monkeypatch.setattr(presets, "reference_set_imported", lambda: False)
    # the authors' role runs make 3 paths, one per role, with or without a preset
    assert config_from_args("spec", parser(), [*preset, "--use_role_prompts"]).num_paths == 3
    assert config_from_args("parallel", parser(), [*preset, "--use_role_prompts", "--num_paths", "5"]).num_paths == 5


def test_swap_keeps_a_typed_one_problem_at_a_time(monkeypatch):
    # scripts/paper.sh's latency runs type --max_concurrent_problems 1; a swapped run must stay one at a time
    monkeypatch.setenv("SSR_SWAP_MODELS", "smoke")
    typed = config_from_args("base", parser(), ["--max_concurrent_problems", "1"])
    untyped = config_from_args("base", parser(), [])
    assert (typed.max_concurrent_problems, untyped.max_concurrent_problems) == (1, 128)


@pytest.mark.parametrize("method", ["spec", "ssr"])
def test_the_schedule_names_its_own_folder_and_predraft_counts_only_under_async(method):
    from ssr.config import identity, run_tag

    lock = RunConfig(method=method)
    asyn = RunConfig(method=method, schedule="async")
    assert run_tag(asyn) == run_tag(lock) + "_async"
    assert run_tag(RunConfig(method=method, schedule="async", predraft=False)) == run_tag(lock) + "_async-nopredraft"
    assert run_tag(RunConfig(method=method, predraft=False)) == run_tag(lock)
    assert "predraft" not in identity(lock) and identity(asyn)["predraft"] is True


@pytest.mark.parametrize(
    "changes, words",
    [({"method": "base"}, "speculative methods"), ({"backend": "hf"}, "transformers backend")],
)
def test_the_async_schedule_refuses_what_it_cannot_run(changes, words):
    from ssr.config import ConfigError, validate

    with pytest.raises(ConfigError, match=words):
        validate(RunConfig(**{"schedule": "async", "method": "ssr", **changes}))
