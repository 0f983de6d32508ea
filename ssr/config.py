"""One dataclass per run, and the command-line options that fill it (defined once).

Every result file stores ``dataclasses.asdict(RunConfig)`` so any number in an
evaluation can be traced back to the exact run that produced it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

PAPER_TARGET = "Qwen/QwQ-32B"
PAPER_DRAFT = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"

METHODS = ("base", "parallel", "spec", "ssr")

# Runs a command written for the paper's models (e.g. the authors' README commands) on the models
# of a preset instead, whatever the command says: SSR_SWAP_MODELS=tiny python spec_scale_reason.py ...
# Everything a preset sets is replaced (models, engine settings, budgets), except what to run on.
SWAP_MODELS_ENV = "SSR_SWAP_MODELS"
KEPT_BY_SWAP = frozenset({"dataset_name", "problem_id", "repeat_id", "data_dir", "output_dir", "num_paths", "method_num"})


@dataclass
class RunConfig:
    method: str = "ssr"
    # --- what to run on
    dataset_name: str = "math"
    problem_id: str = "0"
    repeat_id: int = 1  # number of repeats: runs repeats 0..repeat_id-1 (as the paper's repository)
    data_dir: str | None = None
    output_dir: str = "results"
    # --- models and engines
    backend: str | None = None  # vllm | openai | hf; None = vllm when installed, else hf
    target_model: str = PAPER_TARGET
    draft_model: str = PAPER_DRAFT
    target_tokenizer: str | None = None
    draft_tokenizer: str | None = None
    tensor_parallel_size: int = 1
    target_gpu_memory_utilization: float = 0.7
    draft_gpu_memory_utilization: float = 0.2
    max_model_len: int | None = None
    dtype: str = "auto"
    enforce_eager: bool = False
    kv_cache_gib: float | None = None  # vLLM CPU: KV-cache size (VLLM_CPU_KVCACHE_SPACE)
    block_size: int | None = None  # vLLM KV-cache block size (prefix-cache granularity); None = vLLM's default
    target_base_url: str | None = None
    draft_base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    request_timeout: float = 600.0
    device: str | None = None  # transformers backend: cpu | cuda; None = cuda when available
    # --- sampling
    temperature: float = 0.6
    top_p: float = 0.95
    seed: int = 0
    token_budget: int = 8192
    max_step_tokens: int = 512
    # --- parallel paths and strategies
    num_paths: int = 5
    use_role_prompts: bool = False
    use_method_prompts: bool = False
    method_num: int = 3
    strategy_pool_size: int = 12
    # --- step-level speculative decoding
    score_threshold: float = 7.0
    score_method: str = "greedy"  # greedy | average
    # continuation: the path's own prompt + step + a judging note (the reference's scoring);
    # grader: a separate user message restating problem and steps (ablation)
    score_prompt: str = "continuation"
    # chat: each model's chat template; raw: plain text as the authors' code sends it
    prompt_format: str = "chat"
    fast: int = 0  # 0 off, 1 first finished path, 2 two agreeing paths
    # --- running
    max_concurrent_problems: int = 16
    overwrite: bool = False
    preset: str | None = None
    progress: bool = True
    verbose: bool = False  # engine output on the terminal instead of <run folder>/engine.log
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _str2bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "y", "on"):
        return True
    if v in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def add_run_args(parser: argparse.ArgumentParser, defaults: RunConfig | None = None) -> None:
    """The options every generation script shares (compatible with the paper's repository)."""
    d = defaults or RunConfig()
    g = parser.add_argument_group("data")
    g.add_argument("--dataset_name", default=d.dataset_name, help="aime | math | live | amc23 | gpqa")
    g.add_argument("--problem_id", default=d.problem_id, help="ids to run: 7, 60-89, 1,5,9-12 or 'all'")
    g.add_argument("--repeat_id", type=int, default=d.repeat_id, help="number of repeats R: runs repeats 0..R-1")
    g.add_argument("--data_dir", default=d.data_dir, help="folder of benchmark JSONL files (else $SSR_DATA_DIR, else data/, else the hub)")
    g.add_argument("--output_dir", default=d.output_dir)

    g = parser.add_argument_group("models and engines")
    g.add_argument("--backend", default=d.backend, choices=["vllm", "openai", "hf"], help="default: vllm when installed, else hf")
    g.add_argument("--target_model", "--model_name", dest="target_model", default=d.target_model)
    g.add_argument("--draft_model", default=d.draft_model)
    g.add_argument("--target_tokenizer", default=d.target_tokenizer, help="tokenizer (chat template) for the target; default: the model's own")
    g.add_argument("--draft_tokenizer", default=d.draft_tokenizer)
    g.add_argument("--tensor_parallel_size", type=int, default=d.tensor_parallel_size)
    g.add_argument("--target_gpu_memory_utilization", "--gpu_memory_utilization", dest="target_gpu_memory_utilization",
                   type=float, default=d.target_gpu_memory_utilization, help="the target's share of GPU memory")
    g.add_argument("--draft_gpu_memory_utilization", type=float, default=d.draft_gpu_memory_utilization)
    g.add_argument("--max_model_len", type=int, default=d.max_model_len)
    g.add_argument("--dtype", default=d.dtype)
    g.add_argument("--enforce_eager", action="store_true", default=d.enforce_eager)
    g.add_argument("--kv_cache_gib", type=float, default=d.kv_cache_gib, help="vLLM on CPU: KV-cache size in GiB")
    g.add_argument("--block_size", type=int, default=d.block_size,
                   help="vLLM KV-cache block size, the prefix cache's granularity (CPU: a multiple of 32; default: vLLM's)")
    g.add_argument("--target_base_url", default=d.target_base_url, help="OpenAI-compatible server of the target, e.g. http://host:8000/v1")
    g.add_argument("--draft_base_url", default=d.draft_base_url)
    g.add_argument("--api_key_env", default=d.api_key_env, help="environment variable holding the servers' API key")
    g.add_argument("--request_timeout", type=float, default=d.request_timeout)
    g.add_argument("--device", default=d.device, help="transformers backend: cpu or cuda")
    g.add_argument("--prompt_format", default=d.prompt_format, choices=["chat", "raw"],
                   help="chat: each model's chat template (default); raw: plain text with a <think> block, "
                        "as the authors' code (no chat template)")

    g = parser.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, default=d.temperature)
    g.add_argument("--top_p", type=float, default=d.top_p)
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--token_budget", type=int, default=d.token_budget, help="max tokens of reasoning per path")
    g.add_argument("--max_step_tokens", type=int, default=d.max_step_tokens)

    g = parser.add_argument_group("paths and strategies")
    g.add_argument("--num_paths", type=int, default=d.num_paths)
    g.add_argument("--use_role_prompts", type=_str2bool, nargs="?", const=True, default=d.use_role_prompts)
    g.add_argument("--use_method_prompts", type=_str2bool, nargs="?", const=True, default=d.use_method_prompts)
    g.add_argument("--method_num", type=int, default=d.method_num, help="SPM: number of strategies (paths) to select")
    g.add_argument("--strategy_pool_size", type=int, default=d.strategy_pool_size, choices=[6, 9, 12, 15])

    g = parser.add_argument_group("speculative decoding")
    g.add_argument("--score_threshold", type=float, default=d.score_threshold)
    g.add_argument("--score_method", default=d.score_method, choices=["greedy", "average"])
    g.add_argument("--fast", type=int, default=d.fast, choices=[0, 1, 2])
    g.add_argument("--score_prompt", default=d.score_prompt, choices=["continuation", "grader"],
                   help="continuation: the target reads the path itself + the step + a judging note (default); "
                        "grader: a separate grading message (ablation)")

    g = parser.add_argument_group("running")
    g.add_argument("--max_concurrent_problems", type=int, default=d.max_concurrent_problems)
    g.add_argument("--overwrite", action="store_true", default=d.overwrite)
    g.add_argument("--preset", default=d.preset, help="tiny | smoke | cpu-demo | paper")
    g.add_argument("--no_progress", dest="progress", action="store_false", default=d.progress)
    g.add_argument("--verbose", action="store_true", default=d.verbose,
                   help="show the engines' own output (start-up logs, warnings); default: <run folder>/engine.log")


def explicit_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """Names of the options the user typed, so a preset never overrides them."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # noqa: SLF001 - argparse has no public API for this
        if not action.option_strings or action.dest == "help":
            continue
        kwargs: dict[str, Any] = {"dest": action.dest, "default": argparse.SUPPRESS}
        if action.nargs == 0:
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        else:
            kwargs["nargs"] = action.nargs
        probe.add_argument(*action.option_strings, **kwargs)
    ns, _ = probe.parse_known_args(argv)
    return set(vars(ns))


def config_from_args(
    method: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
) -> RunConfig:
    """Parse ``argv`` into a RunConfig; a ``--preset`` fills every option the user did not type."""
    from ssr import presets  # late import: presets may build models

    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k in RunConfig.__dataclass_fields__}
    cfg = RunConfig(method=method, **values)
    if cfg.preset:
        try:
            overrides = presets.preset_overrides(cfg.preset, method)
        except KeyError as exc:
            parser.error(str(exc.args[0]))
        typed = explicit_args(parser, argv)
        for key, value in overrides.items():
            if key not in typed:
                setattr(cfg, key, value)
    swap = os.environ.get(SWAP_MODELS_ENV, "").strip()
    if swap:
        try:
            overrides = presets.preset_overrides(swap, method)
        except KeyError as exc:
            parser.error(f"${SWAP_MODELS_ENV}: {exc.args[0]}")
        for key, value in overrides.items():
            if key not in KEPT_BY_SWAP:
                setattr(cfg, key, value)
        cfg.extra["swapped_models"] = swap
        print(f"note: ${SWAP_MODELS_ENV}={swap}: models, engine settings and budgets come from the {swap!r} preset "
              f"(target {cfg.target_model})", file=sys.stderr)
    return cfg
