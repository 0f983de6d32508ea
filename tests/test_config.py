import argparse

import pytest

from ssr import presets
from ssr.config import RunConfig, add_run_args, config_from_args, explicit_args


def parser():
    p = argparse.ArgumentParser()
    add_run_args(p, RunConfig())
    return p


def test_paper_option_names_and_defaults():
    cfg = config_from_args("ssr", parser(), ["--model_name", "M", "--repeat_id", "6", "--problem_id", "60-89"])
    assert (cfg.target_model, cfg.repeat_id, cfg.problem_id) == ("M", 6, "60-89")
    assert (cfg.score_threshold, cfg.token_budget, cfg.max_step_tokens, cfg.temperature, cfg.top_p) == (7.0, 8192, 512, 0.6, 0.95)


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
    assert (o["tensor_parallel_size"], o["token_budget"], o["repeat_id"]) == (4, 8192, 6)


def test_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        config_from_args("ssr", parser(), ["--preset", "nope"])
    assert exc.value.code == 2 and "unknown preset" in capsys.readouterr().err


def test_cpu_demo_preset_asks_for_the_setup_step_when_models_are_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("SSR_CACHE_DIR", str(tmp_path))
    with pytest.raises(KeyError, match="setup_cpu_demo.py"):
        presets.preset_overrides("cpu-demo")


def test_swap_models_replaces_what_a_preset_sets_but_not_what_to_run(monkeypatch, capsys):
    from ssr.config import add_run_args, config_from_args

    monkeypatch.setenv("SSR_SWAP_MODELS", "smoke")
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    argv = ["--dataset_name", "aime", "--problem_id", "60-89", "--repeat_id", "3", "--model_name", "Qwen/QwQ-32B",
            "--token_budget", "8192", "--method_num", "3", "--output_dir", "results/x"]
    cfg = config_from_args("ssr", parser, argv)
    assert (cfg.dataset_name, cfg.problem_id, cfg.repeat_id, cfg.method_num, cfg.output_dir) == ("aime", "60-89", 3, 3, "results/x")
    assert cfg.target_model != "Qwen/QwQ-32B" and cfg.token_budget == 16  # typed, but swapped with the models
    assert cfg.extra["swapped_models"] == "smoke" and "SSR_SWAP_MODELS=smoke" in capsys.readouterr().err
    monkeypatch.setenv("SSR_SWAP_MODELS", "huge")
    with pytest.raises(SystemExit):
        config_from_args("ssr", parser, argv)


def test_new_options_reach_the_config():
    from ssr.config import add_run_args, config_from_args

    parser = argparse.ArgumentParser()
    add_run_args(parser)
    cfg = config_from_args("ssr", parser, ["--prompt_format", "raw", "--score_prompt", "grader", "--gpu_memory_utilization", "0.5",
                                           "--block_size", "32", "--verbose"])
    assert (cfg.prompt_format, cfg.score_prompt, cfg.target_gpu_memory_utilization, cfg.block_size, cfg.verbose) == ("raw", "grader", 0.5, 32, True)
    with pytest.raises(SystemExit):
        config_from_args("ssr", parser, ["--prompt_format", "xml"])
