"""One dataclass per run; each field declares its command-line option and its role, once.

A field's metadata holds its help, choices (taken from the constants of the module that uses the
value), aliases, option group and role:

* ``SETTING``: recorded, and part of the run's identity (models, backend, sampling, budgets, method
  options, prompt format, scoring, block size). Two runs that differ in a setting the method uses
  write different records: the folder tag tells them apart and resume refuses to mix them.
* ``SCOPE``: recorded, not identity: what to run (problem ids, repeats), where (folders, devices,
  servers) and how fast (concurrency, memory shares, timeouts).
* ``FLAG``: how this command behaves (overwrite, progress bar, verbosity); never recorded.

``ssr.command_line`` builds the command line from this metadata and parses it into a checked RunConfig.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ssr import presets, prompt_sets
from ssr.aggregation import FAST_MODES, TIE_BREAKS
from ssr.datasets import DATASET_NAMES
from ssr.extraction import ANSWER_RULES
from ssr.engines import BACKENDS, default_backend
from ssr.methods import METHOD_NAMES, SCHEDULES, method
from ssr.prompts import POOL_SIZES, PROMPT_FORMATS, SCORE_METHODS, SCORE_PROMPTS

SETTING, SCOPE, FLAG = "setting", "scope", "flag"

GROUPS = ("data", "models and engines", "sampling", "paths and strategies", "speculative decoding", "running")


def _option(
    default: Any = None,
    help: str = "",
    *,
    role: str = SETTING,
    group: str,
    choices: Sequence[Any] | None = None,
    aliases: Sequence[str] = (),
    form: str = "value",
    factory: Any = None,
    parse: Any = None,
) -> Any:
    """A RunConfig field with its command-line option.

    ``parse``: the command line's type for a "value" (default: the field's type).
    ``form``: "value" (``--x V``), "switch" (``--x`` sets True), "bool" (``--x`` or ``--x 0|1|yes|no...``),
    "negated" (``--no_x`` sets False), "none" (no option: set by the script or the program).
    """
    meta = {
        "help": help,
        "role": role,
        "group": group,
        "choices": choices,
        "aliases": tuple(aliases),
        "form": form,
        "parse": parse,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


D, M, S, P, SD, R = GROUPS

AUTO = "auto"


def parse_tp(value: Any) -> int | str:
    """``auto`` or a positive int: a tensor-parallel size on the command line, in presets and in records."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise argparse.ArgumentTypeError(f"a tensor-parallel size must be >= 1 or 'auto', got {value}")
        return value
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    try:
        return parse_tp(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a tensor-parallel size must be a positive int or 'auto', got {value!r}")


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``"K/N"`` (1 <= K <= N) -> ``(K, N)``; None -> None."""
    if value is None:
        return None
    text = str(value).strip()
    k, sep, n = text.partition("/")
    try:
        ki, ni = int(k), int(n)
    except ValueError:
        ki = ni = 0
    if not sep or not 1 <= ki <= ni:
        raise argparse.ArgumentTypeError(f"--shard takes K/N with 1 <= K <= N (e.g. 1/2, 2/2), got {value!r}")
    return ki, ni


def _shard_text(value: str) -> str:
    parse_shard(value)
    return value.strip()


def base_urls(value: str | None) -> list[str]:
    """A ``--*_base_url`` value, one URL or several replicas separated by commas, as a list."""
    return [u.strip() for u in (value or "").split(",") if u.strip()]


@dataclass
class RunConfig:
    method: str = _option("ssr", "the method (set by the script)", group=R, choices=METHOD_NAMES, form="none")
    # --- what to run on
    dataset_name: str = _option("math", "the benchmark", group=D, choices=DATASET_NAMES)
    problem_id: str = _option("0", "ids to run: 7, 60-89, 1,5,9-12 or 'all'", role=SCOPE, group=D)
    repeat_id: int = _option(
        1, "number of repeats R: runs repeats 0..R-1 (as the paper's repository)", role=SCOPE, group=D
    )
    data_dir: str | None = _option(
        None, "folder of benchmark JSONL files (else $SSR_DATA_DIR, else data/, else the hub)", role=SCOPE, group=D
    )
    output_dir: str = _option(
        "results", "results go to <output_dir>/<method>/<dataset>/<run tag>/", role=SCOPE, group=D
    )
    # --- models and engines
    backend: str | None = _option(
        None, "engine (recorded as resolved); default: vllm when installed, else hf", group=M, choices=BACKENDS
    )
    target_model: str = _option(
        presets.PAPER_TARGET, "the target model (hub id or folder)", group=M, aliases=("--model_name",)
    )
    draft_model: str = _option(presets.PAPER_DRAFT, "the draft model (hub id or folder)", group=M)
    target_tokenizer: str | None = _option(
        None, "tokenizer (chat template) for the target; default: the model's own", group=M
    )
    draft_tokenizer: str | None = _option(
        None, "tokenizer (chat template) for the draft; default: the model's own", group=M
    )
    tensor_parallel_size: int | str = _option(
        AUTO,
        "the target's GPUs (vLLM tensor parallel); auto: the smallest of 1, 2, 4, 8 that fits the plan",
        role=SCOPE,
        group=M,
        aliases=("--target_tensor_parallel_size",),
        parse=parse_tp,
    )
    draft_tensor_parallel_size: int | str = _option(
        AUTO, "the draft's tensor-parallel size; auto: the smallest that fits and divides its heads",
        role=SCOPE, group=M, parse=parse_tp,
    )
    target_gpus: str | None = _option(
        None, "GPU ids the target uses, e.g. 0,1,2,3 (default: the first ones)", role=SCOPE, group=M
    )
    draft_gpus: str | None = _option(
        None, "GPU ids the draft uses (default: the target's first GPU)", role=SCOPE, group=M
    )
    target_engine_args: str | None = _option(
        None,
        'JSON object of other vLLM engine arguments for the target, e.g. \'{"max_num_seqs": 128}\'',
        group=M,
    )
    draft_engine_args: str | None = _option(None, "JSON object of other vLLM engine arguments for the draft", group=M)
    target_gpu_memory_utilization: float = _option(
        0.7, "the target's share of GPU memory", role=SCOPE, group=M, aliases=("--gpu_memory_utilization",)
    )
    draft_gpu_memory_utilization: float = _option(0.2, "the draft's share of GPU memory", role=SCOPE, group=M)
    max_model_len: int | None = _option(None, "context length; default: the model's", group=M)
    dtype: str = _option("auto", "weights' dtype (auto, float32, bfloat16, ...)", group=M)
    enforce_eager: bool = _option(False, "vLLM: no CUDA graphs", role=SCOPE, group=M, form="switch")
    kv_cache_gib: float | None = _option(
        None,
        "the target's KV-cache size in GiB (vLLM; on CPU default 1); on GPU it replaces the memory share's KV",
        role=SCOPE,
        group=M,
        aliases=("--target_kv_cache_gib",),
    )
    draft_kv_cache_gib: float | None = _option(
        None, "the draft's KV-cache size in GiB (default: as the target's)", role=SCOPE, group=M
    )
    target_config: str | None = _option(
        None, "the target's config.json (file or folder) for the plan, when the model is not at hand", role=SCOPE,
        group=M,
    )
    draft_config: str | None = _option(None, "the draft's config.json for the plan", role=SCOPE, group=M)
    assume_gpus: str | None = _option(
        None, "plan for other hardware: COUNTxGB as marketed, e.g. 4x80, 4x40, 8x80, 1x141", role=SCOPE, group=M
    )
    batch_invariant: bool = _option(
        False, "vLLM on GPU: batch-invariant kernels, so results do not depend on the batch", group=M, form="switch"
    )
    block_size: int | None = _option(
        None,
        "vLLM KV-cache block size, the prefix cache's granularity (CPU: a multiple of 32; default: vLLM's)",
        group=M,
    )
    target_base_url: str | None = _option(
        None,
        "OpenAI-compatible server of the target, e.g. http://host:8000/v1; several replicas: comma-separated "
        "(every request of one path goes to the same one)",
        role=SCOPE,
        group=M,
    )
    draft_base_url: str | None = _option(
        None, "OpenAI-compatible server(s) of the draft, as --target_base_url", role=SCOPE, group=M
    )
    max_inflight: int = _option(64, "servers: requests in flight at once, per role", role=SCOPE, group=M)
    wait_for_server: float = _option(
        600.0,
        "seconds to wait for a server to come up, or come back, before the run gives up on it",
        role=SCOPE,
        group=M,
    )
    session_header: str | None = _option(
        "x-user-id",
        "HTTP header carrying a per-path session key, so a router keeps a path on one replica ('' sends none)",
        role=SCOPE,
        group=M,
    )
    api_key_env: str = _option(
        "OPENAI_API_KEY", "environment variable holding the servers' API key", role=SCOPE, group=M
    )
    target_cpus: str | None = _option(
        None,
        "async schedule, vLLM on CPU: the target engine's cores, e.g. 0 or 0-5 (default: all but the draft's)",
        role=SCOPE,
        group=M,
    )
    draft_cpus: str | None = _option(
        None,
        "async schedule, vLLM on CPU: the draft engine's cores (default: the last core)",
        role=SCOPE,
        group=M,
    )
    request_timeout: float = _option(600.0, "seconds to wait for a server's answer", role=SCOPE, group=M)
    device: str | None = _option(
        None, "transformers backend: cpu or cuda; default: cuda when available", role=SCOPE, group=M
    )
    prompt_format: str = _option(
        "chat",
        "chat: each model's chat template; raw: plain text with a <think> block (no chat template); "
        "authors: the authors' code's exact plain text",
        group=M,
        choices=PROMPT_FORMATS,
    )
    prompt_set: str = _option(
        "ssr",
        "the texts every prompt is made of: a shipped set's name, 'reference' once imported "
        "(scripts/import_reference_prompts.py), or a folder",
        group=M,
    )
    answer_rule: str = _option(
        "boxed",
        "a path's answer: boxed, its last box or box group (every method alike); lenient, textual fallbacks too",
        group=M,
        choices=ANSWER_RULES,
    )
    # --- sampling
    temperature: float = _option(0.6, "sampling temperature", group=S)
    top_p: float = _option(0.95, "nucleus sampling", group=S)
    seed: int = _option(0, "base of every request's seed", group=S)
    token_budget: int = _option(8192, "max tokens of reasoning per path", group=S)
    max_step_tokens: int = _option(512, "max tokens of one drafted step", group=S)
    # --- parallel paths and strategies
    num_paths: int = _option(3, "paths per problem (parallel, spec); 3 as the authors' runs, one per role", group=P)
    use_role_prompts: bool = _option(False, "give each path a role prompt", group=P, form="bool")
    use_method_prompts: bool = _option(False, "parallel: SPM picks each path's strategy", group=P, form="bool")
    method_num: int = _option(3, "SPM: number of strategies (paths) to select", group=P)
    strategy_pool_size: int = _option(12, "strategies SPM chooses from", group=P, choices=POOL_SIZES)
    # --- step-level speculative decoding
    score_threshold: float = _option(7.0, "a drafted step scoring below this is rewritten by the target", group=SD)
    score_method: str = _option(
        "greedy", "greedy: the most likely digit; average: the expected digit", group=SD, choices=SCORE_METHODS
    )
    score_prompt: str = _option(
        "continuation",
        "continuation: the target reads the path itself + the step + a judging "
        "note; grader: a separate grading message (ablation)",
        group=SD,
        choices=SCORE_PROMPTS,
    )
    tie_break: str = _option(
        "paper",
        "paper: the best mean step score (Parallel: the first path); code: the authors' select_best_result",
        group=SD,
        choices=TIE_BREAKS,
    )
    fast: int = _option(
        0, "0 off; 1: stop at the first finished path; 2: at two agreeing paths", group=SD, choices=FAST_MODES
    )
    schedule: str = _option(
        "lockstep",
        "lockstep: every running path's step in one round of batched calls (draft, score, rewrite); async: each "
        "path advances on its own, draft and target working at once on their own cores or GPUs (same records)",
        group=SD,
        choices=SCHEDULES,
    )
    predraft: bool = _option(
        True,
        "async schedule: draft a path's next step while its current one is scored (cancelled if the step is "
        "rejected); off: the draft waits for the score",
        group=SD,
        form="bool",
    )
    # --- running
    max_concurrent_problems: int = _option(
        16, "problems in flight at once (their requests share engine calls)", role=SCOPE, group=R
    )
    shard: str | None = _option(
        None,
        "K/N: run the K-th of N disjoint shares of the (problem, repeat)s, so N jobs can share one --output_dir",
        role=SCOPE,
        group=R,
        parse=_shard_text,
    )
    overwrite: bool = _option(False, "redo problems whose result file is complete", role=FLAG, group=R, form="switch")
    dry_run: bool = _option(
        False, "print the engine plan as JSON and exit: no weights load, no engine starts", role=FLAG, group=R,
        form="switch",
    )
    preset: str | None = _option(
        None, f"fills every option not typed: {' | '.join(presets.PRESETS)}", role=SCOPE, group=R
    )
    progress: bool = _option(True, "no progress bar", role=FLAG, group=R, form="negated")
    verbose: bool = _option(
        False,
        "show the engines' own output (start-up logs, warnings); default: <run folder>/engine.log",
        role=FLAG,
        group=R,
        form="switch",
    )
    extra: dict[str, Any] = _option(
        help="notes on how the config was made (e.g. swapped models)", role=SCOPE, group=R, form="none", factory=dict
    )

    def to_dict(self) -> dict[str, Any]:
        """The recorded config: settings and scope; flags say how a command behaved, not what it ran."""
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields_of(SETTING, SCOPE)}
        out["prompt_set"] = prompt_sets.pinned(self.prompt_set)  # every record names its texts' hash
        return out


def fields_of(*roles: str) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(RunConfig) if f.metadata["role"] in roles]


_DEFAULTS = RunConfig()


def _canonical(name: str, value: Any) -> Any:
    """One spelling per value, so 7 and 7.0 (a preset's int, a record's float) count as equal."""
    f = RunConfig.__dataclass_fields__[name]
    if name == "prompt_set" and value is not None:  # its texts count: "ssr" -> "ssr#<content hash>"
        return prompt_sets.pinned(value)
    if value is not None and str(f.type).startswith("float"):
        return float(value)
    return value


# ---------------------------------------------------------------- run identity
def identity(cfg: RunConfig) -> dict[str, Any]:
    """The settings this run's method uses, by name: what a record of it depends on."""
    used = method(cfg.method).settings(cfg)
    return {f.name: _canonical(f.name, getattr(cfg, f.name)) for f in fields_of(SETTING) if f.name in used}


def identity_hash(cfg: RunConfig) -> str | None:
    """Short hash of the identity settings the folder name does not show, counting only those that differ
    from their defaults (so an option added later, at its default, renames no folder); None when none do."""
    shown = method(cfg.method).tag_fields(cfg)
    rest = {k: v for k, v in identity(cfg).items() if k not in shown and v != _canonical(k, getattr(_DEFAULTS, k))}
    if not rest:
        return None
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:8]


def run_tag(cfg: RunConfig) -> str:
    """Folder name: the method's main settings, then the hash of its other non-default identity settings."""
    parts = [text for _, text in method(cfg.method).tag_parts(cfg)]
    h = identity_hash(cfg)
    return "_".join(parts + ([h] if h else []))


def identity_differences(cfg: RunConfig, recorded: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (recorded, now)}`` for every identity setting a recorded config holds otherwise.
    A field an older record lacks counts as its default."""
    out = {}
    for name, now in identity(cfg).items():
        then = _canonical(name, recorded[name]) if name in recorded else _canonical(name, getattr(_DEFAULTS, name))
        if then != now:
            out[name] = (then, now)
    return out


# ---------------------------------------------------------------- checks and resolution
class ConfigError(ValueError):
    """A config that cannot run; the message names the option."""


def validate(cfg: RunConfig) -> None:
    checks = [
        (cfg.repeat_id >= 1, "--repeat_id must be >= 1"),
        (cfg.num_paths >= 1, "--num_paths must be >= 1"),
        (cfg.method_num >= 1, "--method_num must be >= 1"),
        (cfg.token_budget >= 1, "--token_budget must be >= 1"),
        (cfg.max_step_tokens >= 1, "--max_step_tokens must be >= 1"),
        (cfg.max_concurrent_problems >= 1, "--max_concurrent_problems must be >= 1"),
        (cfg.max_inflight >= 1, "--max_inflight must be >= 1"),
        (cfg.wait_for_server >= 0, "--wait_for_server must be >= 0"),
        (0.0 <= cfg.score_threshold <= 10.0, "--score_threshold must be within 0..10"),
        (cfg.temperature >= 0.0, "--temperature must be >= 0"),
        (0.0 < cfg.top_p <= 1.0, "--top_p must be in (0, 1]"),
    ]
    for f in dataclasses.fields(RunConfig):
        choices = f.metadata["choices"]
        value = getattr(cfg, f.name)
        if choices is not None and value is not None and value not in choices:
            checks.append((False, f"--{f.name} must be one of {', '.join(map(str, choices))}, got {value!r}"))
    for name in ("tensor_parallel_size", "draft_tensor_parallel_size"):
        try:
            setattr(cfg, name, parse_tp(getattr(cfg, name)))
        except argparse.ArgumentTypeError as exc:
            checks.append((False, f"--{name}: {exc}"))
    try:
        parse_shard(cfg.shard)
    except argparse.ArgumentTypeError as exc:
        checks.append((False, str(exc)))
    for name in ("target_engine_args", "draft_engine_args"):
        try:
            engine_args(cfg, name.split("_")[0])
        except ConfigError as exc:
            checks.append((False, str(exc)))
    try:
        prompt_sets.load(cfg.prompt_set)  # validated once, at start: a bad set names its file and field
    except prompt_sets.PromptSetError as exc:
        checks.append((False, str(exc)))
    if cfg.schedule == "async":
        if not method(cfg.method).speculative:
            checks.append((False, f"--schedule async is for the speculative methods (spec, ssr), not {cfg.method}"))
        if cfg.backend == "hf":
            checks.append((
                False,
                "--schedule async needs two engines working at once: the transformers backend runs one model at a "
                "time in this process; use --backend vllm or servers (--backend openai), or --schedule lockstep",
            ))
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise ConfigError("; ".join(problems))


# Engine arguments that have an option of their own: given in --*_engine_args they would disagree with it.
NAMED_ENGINE_ARGS = {
    "model": "--target_model / --draft_model",
    "tokenizer": "--target_tokenizer / --draft_tokenizer",
    "tensor_parallel_size": "--tensor_parallel_size / --draft_tensor_parallel_size",
    "gpu_memory_utilization": "--target_gpu_memory_utilization / --draft_gpu_memory_utilization",
    "max_model_len": "--max_model_len",
    "dtype": "--dtype",
    "seed": "--seed",
    "enforce_eager": "--enforce_eager",
    "kv_cache_memory_bytes": "--kv_cache_gib / --draft_kv_cache_gib",
    "block_size": "--block_size",
}


def engine_args(cfg: RunConfig, role: str) -> dict[str, Any]:
    """The role's ``--*_engine_args`` as a dict; a key that has its own option is refused, naming it."""
    text = getattr(cfg, f"{role}_engine_args")
    if not text:
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else dict(text)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--{role}_engine_args is not a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"--{role}_engine_args must be a JSON object, got {type(value).__name__}")
    for key in value:
        if key in NAMED_ENGINE_ARGS:
            raise ConfigError(f"--{role}_engine_args sets {key!r}: use {NAMED_ENGINE_ARGS[key]}")
    return value


# Above this many parameters the transformers backend is no stand-in for vLLM: it would load the whole model
# on one device, unbatched, for hours. It is never chosen silently for such a model.
HF_FALLBACK_MAX_PARAMS = 8_000_000_000


def _local_param_count(model: str) -> int | None:
    """The model's parameter count from a config.json on this machine (a folder, or the hub cache); None when
    unknown. Never downloads: resolving a config must work offline."""
    from ssr.engines.conventions import model_info_from_config

    path = os.path.join(os.path.expanduser(model), "config.json")
    if not os.path.isfile(path):
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "config.json")
        except Exception:  # noqa: BLE001 - not a hub id, no hub library: unknown
            cached = None
        path = cached if isinstance(cached, str) else None
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return model_info_from_config(json.load(fh), model).n_params or None
    except (OSError, ValueError):
        return None


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill what the machine decides, so the record holds the backend that really ran, not "default".

    Without vLLM the default is transformers, but not for a model over ~8B parameters (the paper's QwQ-32B):
    that is refused, naming what to install; ``--backend hf`` typed out still runs it."""
    if cfg.backend is None:
        cfg.backend = default_backend()
        if cfg.backend == "hf":
            n = _local_param_count(cfg.target_model)
            large = cfg.target_model == presets.PAPER_TARGET or (n is not None and n > HF_FALLBACK_MAX_PARAMS)
            if large:
                size = f" ({n / 1e9:.1f}B parameters)" if n else ""
                raise ConfigError(
                    f"vLLM is not installed, and the transformers backend would load {cfg.target_model}{size} on one "
                    "device: install vLLM (`pip install -r requirements.txt` on a GPU machine), use a server "
                    "(--backend openai --target_base_url URL), or pass --backend hf to run it on transformers anyway"
                )
    return cfg
