"""The GPU smoke run's checks, each on records read through ``ssr.records`` and returning a ``CheckResult``.

Rules (the numbers are parameters; these are the defaults):

* ``distributions``: every step's ``score_probs`` has ten probabilities in [0, 1] summing to 1 within 1e-6,
  and the step's ``score`` is what its distribution gives (greedy: the most likely digit, ties to the higher;
  average: the expected digit). A distribution is one-hot when every digit but one has probability below 1e-12
  (what a missing or masked log-probability gives; a real softmax over ten digit logits only gets there with a
  logit gap above ~27). At most half the steps may be one-hot.
* ``prefix cache``: over the target's scoring passes after each path's first step, the prefix cache serves
  > 80% of the tokens an earlier request of the same path already computed: the pass's prompt minus the step
  being scored (``draft_tokens``), the judging note (``SCORE_SUFFIX`` + ``SCORE_PREFIX`` in the target's
  tokenizer) and the partial last block (vLLM caches whole blocks). The share of all prompt tokens is shown too:
  on short paths the step and note are a large part of each pass, so that share stays low with a working cache
  (72-76% on the CPU demo records in bench/results), while a cache that serves nothing gives 0 on both.
* ``schema``: each file is what ``ssr.records.to_json`` writes for the record it reads as (same keys at every
  level: nothing the reader had to default, nothing it drops), every value has its dataclass field's type,
  and ``schema_version`` is the current one.
* ``plan vs vLLM``: per engine, the plan's per-GPU ``weight_bytes`` and ``kv_cache_bytes`` and its
  ``kv_capacity_tokens`` are within 15% of what vLLM logged (plus the log's 0.005 GiB rounding). Weights are
  required where vLLM logs them (GPU; its CPU runner does not).
* ``runner``: the run's engine log says which model runner ran (V2 logs "Using V2 Model Runner").
* ``V2 vs V1``: steps are comparable when the two runs drafted the same step on the same path text (every
  earlier step of the path identical too); on those the greedy digit agrees for >= 80% and the expected score
  differs by at most 0.5 (on the 0-9 scale) for every one. At least one step must be comparable.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ssr.engines.base import ScoreResult
from ssr.records import SCHEMA_VERSION, Record, RecordError, Step, from_json, to_json
from ssr.smoke.engine_log import LOG_GIB_ROUNDING, EngineStart, latest_starts

SUM_TOLERANCE = 1e-6
ONE_HOT_FLOOR = 1e-12
MAX_ONE_HOT_SHARE = 0.5
MIN_CACHE_SHARE = 0.8
PLAN_TOLERANCE = 0.15
MIN_GREEDY_AGREEMENT = 0.8
MAX_EXPECTED_DIFF = 0.5
# vLLM 0.32's CacheConfig.DEFAULT_BLOCK_SIZE on GPU; on CPU this package sets its own (ssr.engines.vllm_engine)
GPU_DEFAULT_BLOCK_SIZE = 16


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    run: str = ""  # which run (folder) it judged


def _steps(records: Iterable[Record]) -> list[tuple[Record, int, int, Step]]:
    return [(r, p.index, i, s) for r in records for p in r.paths for i, s in enumerate(p.steps)]


# ------------------------------------------------------------------ 1. score distributions
def check_distributions(
    records: Sequence[Record],
    *,
    sum_tolerance: float = SUM_TOLERANCE,
    one_hot_floor: float = ONE_HOT_FLOOR,
    max_one_hot_share: float = MAX_ONE_HOT_SHARE,
) -> CheckResult:
    steps = _steps(records)
    if not steps:
        return CheckResult("distributions", False, "no scored steps in the records")
    bad, one_hot, wrong_score = [], 0, []
    for r, p, i, s in steps:
        where = f"problem {r.problem_id} path {p} step {i}"
        probs = s.score_probs
        if len(probs) != 10 or any(not 0.0 <= x <= 1.0 for x in probs) or abs(sum(probs) - 1.0) > sum_tolerance:
            bad.append(f"{where}: {len(probs)} probabilities summing to {sum(probs):.6g}")
            continue
        if sum(1 for x in probs if x >= one_hot_floor) <= 1:
            one_hot += 1
        dist = ScoreResult(list(probs), 0)
        want = float(dist.greedy) if r.config.get("score_method", "greedy") == "greedy" else dist.expected
        if abs(s.score - want) > 1e-6:
            wrong_score.append(f"{where}: score {s.score} but its distribution gives {want:g}")
    share = one_hot / len(steps)
    detail = f"{len(steps)} steps; {one_hot} one-hot ({share:.0%}, at most {max_one_hot_share:.0%} allowed)"
    problems = bad + wrong_score
    if problems:
        detail += f"; {len(problems)} bad: " + "; ".join(problems[:3])
    return CheckResult("distributions", not problems and share <= max_one_hot_share, detail)


# ------------------------------------------------------------------ 2. prefix cache
def note_tokens(tokenizer_ref: str) -> int:
    """Tokens of the judging note that follows the step in a continuation scoring pass, in this tokenizer."""
    from ssr.engines.conventions import load_tokenizer
    from ssr.prompts import SCORE_PREFIX, SCORE_SUFFIX

    return len(load_tokenizer(tokenizer_ref).encode(SCORE_SUFFIX + SCORE_PREFIX, add_special_tokens=False))


def block_size_of(record: Record) -> int:
    """The target's KV block size: the config's, else the plan's, else the platform's default."""
    from ssr.engines.vllm_engine import CPU_DEFAULT_BLOCK_SIZE

    if record.config.get("block_size"):
        return int(record.config["block_size"])
    planned = ((record.plan or {}).get("engines") or {}).get("target") or {}
    if planned.get("block_size"):
        return int(planned["block_size"])
    on_cpu = ((record.models.get("target") or {}).get("extra") or {}).get("on_cpu")
    return CPU_DEFAULT_BLOCK_SIZE if on_cpu else GPU_DEFAULT_BLOCK_SIZE


def check_prefix_cache(
    records: Sequence[Record],
    *,
    note: int | None = None,
    block_size: int | None = None,
    min_share: float = MIN_CACHE_SHARE,
) -> CheckResult:
    name = "prefix cache"
    if not records:
        return CheckResult(name, False, "no records")
    formats = {r.config.get("score_prompt", "continuation") for r in records}
    if formats != {"continuation"}:
        return CheckResult(name, False, f"the rule is for --score_prompt continuation; these records use {formats}")
    first = records[0]
    if note is None:
        note = note_tokens(first.config.get("target_tokenizer") or first.target_model)
    block = block_size or block_size_of(first)
    passes = prompt = cached = reusable = 0
    unreported = 0
    for r, _, i, s in _steps(records):
        if i == 0:
            continue  # a path's first pass has nothing of the path cached yet
        if s.score_cached_tokens is None or s.score_prompt_tokens <= 0:
            unreported += 1
            continue
        passes += 1
        prompt += s.score_prompt_tokens
        cached += s.score_cached_tokens
        reusable += max(0, s.score_prompt_tokens - s.draft_tokens - note) // block * block
    if unreported:
        return CheckResult(name, False, f"{unreported} scoring passes report no prompt or cached token counts")
    if not passes or reusable <= 0:
        return CheckResult(name, False, "no scoring pass after a path's first step: nothing to judge")
    share = cached / reusable
    detail = (
        f"{cached}/{reusable} reusable prompt tokens from the cache ({share:.0%}, need > {min_share:.0%}) over "
        f"{passes} passes; {cached / prompt:.0%} of all {prompt} prompt tokens (note {note}, block {block})"
    )
    return CheckResult(name, share > min_share, detail)


# ------------------------------------------------------------------ 3. schema
def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _type_errors(value: Any, hint: Any, where: str) -> list[str]:
    """Where ``value`` (loaded JSON) does not have the type ``hint`` (a dataclass field's annotation)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return []
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if not _type_errors(value, option, where):
                return []
        return [f"{where}: {type(value).__name__} is not {_hint_name(hint)}"]
    if hint is type(None):
        return [] if value is None else [f"{where}: {type(value).__name__} is not None"]
    if dataclasses.is_dataclass(hint):
        return _object_errors(value, hint, where)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} is not a list"]
        return [e for k, v in enumerate(value) for e in _type_errors(v, args[0], f"{where}[{k}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} is not an object"]
        return [e for k, v in value.items() for e in _type_errors(v, args[1], f"{where}.{k}")]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),  # JSON writes 2.0 as 2 at times
        str: isinstance(value, str),
    }.get(hint)
    if ok is None:
        return [f"{where}: no rule for the type {_hint_name(hint)}"]
    return [] if ok else [f"{where}: {type(value).__name__} {value!r} is not {_hint_name(hint)}"]


def _object_errors(value: Any, cls: type, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__} is not an object ({cls.__name__})"]
    hints = typing.get_type_hints(cls)
    errors = []
    for key, v in value.items():
        hint = hints.get(key)
        prop = getattr(cls, key, None)
        if hint is None and isinstance(prop, property):  # to_json stores some properties (Record.stats)
            hint = typing.get_type_hints(prop.fget).get("return")
        if hint is None:
            errors.append(f"{where}.{key}: not a field of {cls.__name__}")
        else:
            errors += _type_errors(v, hint, f"{where}.{key}")
    return errors


def _key_differences(stored: Any, written: Any, where: str) -> list[str]:
    """Keys one side has and the other lacks, at every level."""
    if isinstance(stored, dict) and isinstance(written, dict):
        out = [f"{where}.{k}: missing" for k in written if k not in stored]
        out += [f"{where}.{k}: not in the schema" for k in stored if k not in written]
        shared = [k for k in stored if k in written]
        return out + [e for k in shared for e in _key_differences(stored[k], written[k], f"{where}.{k}")]
    if isinstance(stored, list) and isinstance(written, list):
        return [e for k, (a, b) in enumerate(zip(stored, written)) for e in _key_differences(a, b, f"{where}[{k}]")]
    return []


def schema_errors(path: str | Path) -> list[str]:
    """How the file at ``path`` differs from what the record writer (the CPU runs' too) writes."""
    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
        record = from_json(stored, Path(path))
    except (OSError, ValueError, RecordError) as exc:
        return [f"not a record: {exc}"]
    if stored.get("schema_version") != SCHEMA_VERSION:
        return [f"schema_version {stored.get('schema_version')!r}, the writer's is {SCHEMA_VERSION}"]
    return _key_differences(stored, to_json(record), "record") + _object_errors(stored, Record, "record")


def check_schema(records: Sequence[Record]) -> CheckResult:
    files = [r.source for r in records if r.source is not None]
    if not files:
        return CheckResult("schema", False, "no record files")
    errors = {f.name: e for f in files if (e := schema_errors(f))}
    if errors:
        name, first = next(iter(errors.items()))
        return CheckResult("schema", False, f"{len(errors)}/{len(files)} files differ; {name}: " + "; ".join(first[:3]))
    return CheckResult("schema", True, f"{len(files)} files have the writer's keys and types")


# ------------------------------------------------------------------ 4. plan vs vLLM
def planned_engines(record: Record) -> dict[str, dict[str, Any]]:
    """``role -> engine plan`` of the record's plan, for the engines vLLM ran in this process."""
    engines = (record.plan or {}).get("engines") or {}
    return {role: e for role, e in engines.items() if isinstance(e, dict) and e.get("backend", "vllm") == "vllm"}


def _within(planned: float, logged: float, tolerance: float, slack: float = 0.0) -> bool:
    return abs(planned - logged) <= tolerance * abs(logged) + slack


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def check_plan_memory(
    records: Sequence[Record], starts: list[EngineStart], *, tolerance: float = PLAN_TOLERANCE
) -> CheckResult:
    name = "plan vs vLLM"
    if not records:
        return CheckResult(name, False, "no records")
    engines = planned_engines(records[0])
    if not engines:
        return CheckResult(name, False, "the records hold no plan of a vLLM engine (Record.plan)")
    models = {role: e.get("model") or records[0].config.get(f"{role}_model") for role, e in engines.items()}
    logged = latest_starts(starts, models)
    parts, ok = [], True
    for role, plan in engines.items():
        start = logged.get(role)
        if start is None:
            parts.append(f"{role}: no start of {models[role]} in the engine log")
            ok = False
            continue
        figures = [
            ("weights", "weight_bytes", start.weight_bytes, LOG_GIB_ROUNDING, _gib),
            ("KV", "kv_cache_bytes", start.kv_cache_bytes, LOG_GIB_ROUNDING, _gib),
            ("KV tokens", "kv_capacity_tokens", start.kv_capacity_tokens, 0.0, lambda n: f"{n:,.0f}"),
        ]
        for label, key, seen, slack, fmt in figures:
            if seen is None:
                if label == "weights" and start.kv_pool != "GPU":
                    continue  # vLLM's CPU runner does not log the weights' size
                parts.append(f"{role} {label}: not in the engine log")
                ok = False
            elif plan.get(key) is None:
                parts.append(f"{role} {label}: the plan has no {key}")
                ok = False
            else:
                good = _within(plan[key], seen, tolerance, slack)
                ok &= good
                parts.append(f"{role} {label} {fmt(plan[key])} planned, {fmt(seen)} logged{'' if good else ' (OFF)'}")
    return CheckResult(name, ok, f"within {tolerance:.0%}: " + "; ".join(parts))


def check_runner(starts: list[EngineStart], expected: str) -> CheckResult:
    """Every engine of the log's latest starts ran the ``expected`` model runner ("v1" or "v2")."""
    if not starts:
        return CheckResult("runner", False, "no engine start in the engine log")
    seen = [s.runner for s in starts]
    ok = all(r == expected for r in seen)
    return CheckResult("runner", ok, f"expected {expected}; the engine log's starts ran {', '.join(seen)}")


# ------------------------------------------------------------------ 5. two runs
def _key(r: Record) -> tuple:
    return (r.method, r.dataset, str(r.problem_id), r.repeat)


def comparable_steps(a: Record, b: Record) -> list[tuple[Step, Step]]:
    """Steps scored on the same text in both records: the same draft after the same earlier steps."""
    pairs = []
    paths_b = {p.index: p for p in b.paths}
    for pa in a.paths:
        pb = paths_b.get(pa.index)
        if pb is None:
            continue
        for sa, sb in zip(pa.steps, pb.steps):
            if sa.draft != sb.draft:
                break
            pairs.append((sa, sb))
            if sa.text != sb.text or sa.ended_on_blank != sb.ended_on_blank:
                break  # the next step continues another text
    return pairs


def compare_runs(
    first: Sequence[Record],
    second: Sequence[Record],
    *,
    min_greedy_agreement: float = MIN_GREEDY_AGREEMENT,
    max_expected_diff: float = MAX_EXPECTED_DIFF,
) -> CheckResult:
    name = "V2 vs V1"
    by_key = {_key(r): r for r in second}
    matched = [(r, by_key[_key(r)]) for r in first if _key(r) in by_key]
    pairs = [pair for a, b in matched for pair in comparable_steps(a, b)]
    total = sum(len(p.steps) for a, _ in matched for p in a.paths)
    if not pairs:
        return CheckResult(name, False, f"no comparable step ({len(matched)} problems in both runs, {total} steps)")
    agree = sum(ScoreResult(sa.score_probs, 0).greedy == ScoreResult(sb.score_probs, 0).greedy for sa, sb in pairs)
    diffs = [abs(ScoreResult(sa.score_probs, 0).expected - ScoreResult(sb.score_probs, 0).expected) for sa, sb in pairs]
    share, worst = agree / len(pairs), max(diffs)
    ok = share >= min_greedy_agreement and worst <= max_expected_diff
    detail = (
        f"{len(pairs)}/{total} steps comparable over {len(matched)} problems; greedy digit equal on {agree} "
        f"({share:.0%}, need {min_greedy_agreement:.0%}); expected score differs by at most {worst:.3f} "
        f"(allowed {max_expected_diff}), mean {sum(diffs) / len(diffs):.3f}"
    )
    return CheckResult(name, ok, detail)
