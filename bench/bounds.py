"""What bounds the benchmark's targets: per-unit costs measured in one run and the floors they imply.

Everything here is computed from the run's own result records and engine
timings; nothing is assumed about the hardware. The floors answer "could this
target be met on this machine with these models if the loop wasted nothing?":

* spec-reason latency with no step rewritten: each token of the final path costs
  one draft decode step plus its share of one scoring pass, against one target
  decode step on the baseline;
* SSR latency with rewrites free: what strategy selection, drafting and scoring
  alone cost against the baseline's whole time;
* scoring share if a scoring pass prefilled nothing but the step it scores;
* the prefilled tokens of a scoring pass, split into the step, the judging note
  and the rest (the unfilled tail of the path's last cache block, the seam, the
  rewritten steps the cache holds only in whole blocks);
* batching, per engine operation: which of them gets cheaper per problem when
  problems share a batch;
* processed FLOPs of the speculative arms, split by what each model spent them on,
  in units of the baseline's, beside the floor beta * (1 + alpha).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ssr.analysis import flops as F
from ssr.analysis.stats import default_context_len
from ssr.prompts import scoring_continuation
from ssr.records import Record, Usage, load_records


def arm_records(folder: Path | str) -> list[Record]:
    return load_records(folder).records


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def unit_costs(records: Iterable[Record]) -> dict[str, Any]:
    """Per-problem means and per-unit costs (seconds per token or per pass) of one arm's records.

    ``totals`` and ``phase_total_s`` keep the sums the means come from, for ``phase_share`` and
    ``prefix_cache``.
    """
    n = wall = 0.0
    phase: dict[str, float] = {}
    tok = {
        "target_generated": 0,
        "draft_generated": 0,
        "scoring_passes": 0,
        "scoring_prompt": 0,
        "scoring_cached": 0,
        "scoring_prefilled": 0,
        "steps": 0,
        "scored_step_tokens": 0,
        "rewrite_tokens": 0,
        "final_path_tokens": 0,
        "paths": 0,
    }
    for rec in records:
        n += 1
        wall += rec.timing.wall_seconds or 0.0
        for k, v in rec.timing.phase_seconds.items():
            phase[k] = phase.get(k, 0.0) + v
        tgt, dft = rec.usage.get("target") or Usage(), rec.usage.get("draft") or Usage()
        tok["target_generated"] += tgt.generated_tokens or 0
        tok["draft_generated"] += dft.generated_tokens or 0
        tok["scoring_passes"] += tgt.scoring_calls or 0
        tok["scoring_prompt"] += tgt.scoring_prompt_tokens or 0
        tok["scoring_cached"] += tgt.scoring_cached_prompt_tokens or 0
        for p in rec.paths:
            tok["paths"] += 1
            tok["final_path_tokens"] += p.tokens.final
            for s in p.steps:
                tok["steps"] += 1
                tok["scored_step_tokens"] += s.draft_tokens
                if not s.accepted:
                    tok["rewrite_tokens"] += s.rewrite_tokens
    tok["scoring_prefilled"] = tok["scoring_prompt"] - tok["scoring_cached"]
    if not n:
        return {}
    return {
        "records": int(n),
        "wall_s": wall / n,
        "phase_s": {k: v / n for k, v in phase.items()},
        "tokens": {k: v / n for k, v in tok.items()},
        "totals": tok,
        "wall_total_s": wall,
        "phase_total_s": phase,
        "target_decode_s_per_token": _div(phase.get("generate"), tok["target_generated"]),
        "draft_s_per_token": _div(phase.get("draft"), tok["draft_generated"]),
        "score_s_per_pass": _div(phase.get("score"), tok["scoring_passes"]),
        "score_prefill_tokens_per_s": _div(tok["scoring_prefilled"], phase.get("score")),
        "rewrite_s_per_token": _div(phase.get("rewrite"), tok["rewrite_tokens"]),
        "mean_step_tokens": _div(tok["scored_step_tokens"], tok["scoring_passes"]),
    }


def phase_share(costs: dict[str, Any]) -> dict[str, float]:
    """Share of the problems' wall time per phase (select, draft, score, rewrite, generate), from ``unit_costs``."""
    wall = costs.get("wall_total_s")
    return {k: v / wall for k, v in costs["phase_total_s"].items()} if wall else {}


def prefix_cache(costs: dict[str, Any]) -> dict[str, Any]:
    """Target prompt tokens per scoring pass: prefilled vs served from the prefix cache, vs the step scored."""
    t = costs.get("totals") or {}
    calls, prompt, cached = t.get("scoring_passes"), t.get("scoring_prompt", 0), t.get("scoring_cached", 0)
    if not calls:
        return {}
    return {
        "scoring_calls": calls,
        "mean_scoring_prompt_tokens": prompt / calls,
        "mean_uncached_prefill_tokens": (prompt - cached) / calls,
        "mean_cached_tokens": cached / calls,
        "mean_draft_step_tokens": t["scored_step_tokens"] / max(t["steps"], 1),
        "cache_hit_fraction": cached / prompt if prompt else None,
    }


def note_tokens(target_model: str) -> int | None:
    """Tokens of the judging note and answer prefix after each step, in the target's tokenizer."""
    from ssr.engines.conventions import load_tokenizer
    from ssr.engines.base import EngineError

    try:
        tok = load_tokenizer(target_model)
    except EngineError:  # a hub id offline, or no tokenizer files: the split is then reported without it
        return None
    return len(tok(scoring_continuation(""), add_special_tokens=False)["input_ids"])


def flops_split(records: list[Record], baseline: list[Record], context_len: int | None = None) -> dict[str, Any]:
    """Processed FLOPs per problem by where they went, in units of the baseline's processed FLOPs per problem.

    The parts add up to the processed-FLOPs ratio of the eval table (ratio of the per-problem means on equal
    repeats), at the eval's context length: half the baseline's mean tokens per path unless given.
    ``floor`` is paths * beta * (1 + alpha): the target prefills and the draft decodes each final token once.
    """
    if not records or not baseline:
        return {}
    base_tokens = [r.tokens_per_path() or 0.0 for r in baseline]
    if context_len is None:
        context_len = default_context_len(sum(base_tokens) / len(base_tokens))
    base = [F.processed_flops(r.usage, r.models, context_len)["total_flops"] for r in baseline]
    if any(b is None for b in base):
        return {}
    unit = sum(base) / len(base)
    models = records[0].models
    per_tok = {role: F.flops_per_token(models[role], context_len) for role in ("target", "draft") if models.get(role)}
    parts = {
        "target: the scored steps": 0.0,
        "target: note, seam, re-prefilled context": 0.0,
        "target: rewrites and selection": 0.0,
        "draft: generated": 0.0,
        "draft: prefill": 0.0,
    }
    final = 0.0
    for rec in records:
        tgt = F.processed_tokens(rec.usage.get("target"))
        steps = sum(
            min(s.draft_tokens, s.score_prompt_tokens - (s.score_cached_tokens or 0))
            for p in rec.paths
            for s in p.steps
        )
        parts["target: the scored steps"] += steps * per_tok["target"]
        parts["target: note, seam, re-prefilled context"] += (tgt["scoring"] - steps) * per_tok["target"]
        parts["target: rewrites and selection"] += (tgt["prefill"] + tgt["generated"]) * per_tok["target"]
        if "draft" in per_tok:
            d = F.processed_tokens(rec.usage.get("draft"))
            parts["draft: generated"] += d["generated"] * per_tok["draft"]
            parts["draft: prefill"] += d["prefill"] * per_tok["draft"]
        final += rec.tokens_per_path() or 0.0
    k = len(records)
    out = {name: v / k / unit for name, v in parts.items()}
    beta = (final / k) / (sum(base_tokens) / len(base_tokens)) if sum(base_tokens) else None
    alpha = _div(per_tok.get("draft"), per_tok["target"])
    n_paths = sum(len(r.paths) for r in records) / k
    return {
        "parts": out,
        "total": sum(out.values()),
        "beta": beta,
        "alpha": alpha,
        "paths": n_paths,
        "context_len": context_len,
        # every final token prefilled once by the target and decoded once by the draft, on every path
        "floor": None if beta is None or alpha is None else n_paths * beta * (1 + alpha),
    }


def analyse(
    seq: dict[str, dict[str, Any]], batched: dict[str, Path], arms: dict[str, dict[str, Any]], target_model: str
) -> dict[str, Any]:
    """The bounds section of a benchmark report: ``seq`` is ``unit_costs`` of each arm run one problem at a
    time, ``batched`` the arms' batched run folders, ``arms`` their engine timings."""
    base = seq.get("baseline") or {}
    out: dict[str, Any] = {"unit_costs": seq, "note_tokens": note_tokens(target_model)}
    b_tok, b_wall = base.get("target_decode_s_per_token"), base.get("wall_s")

    sp = seq.get("spec-reason") or {}
    if sp and b_tok:
        per_token = (sp.get("draft_s_per_token") or 0.0) + (
            _div(sp.get("score_s_per_pass"), sp.get("mean_step_tokens")) or 0.0
        )
        out["spec_latency_floor"] = {
            "draft_s_per_token": sp.get("draft_s_per_token"),
            "score_s_per_token": _div(sp.get("score_s_per_pass"), sp.get("mean_step_tokens")),
            "baseline_s_per_token": b_tok,
            "ratio": per_token / b_tok,
        }
    ssr = seq.get("ssr") or {}
    if ssr and b_wall:
        ph = ssr["phase_s"]
        out["ssr_latency_floor"] = {
            "select_ratio": ph.get("select", 0.0) / b_wall,
            "draft_ratio": ph.get("draft", 0.0) / b_wall,
            "score_ratio": ph.get("score", 0.0) / b_wall,
            "rewrite_ratio": ph.get("rewrite", 0.0) / b_wall,
            "without_rewrites_ratio": (ssr["wall_s"] - ph.get("rewrite", 0.0)) / b_wall,
        }
        passes, step, rate = (
            ssr["tokens"]["scoring_passes"],
            ssr.get("mean_step_tokens"),
            ssr.get("score_prefill_tokens_per_s"),
        )
        if passes and step and rate:
            min_score = passes * step / rate
            rest = ssr["wall_s"] - ph.get("score", 0.0)
            out["score_share_floor"] = {
                "prefill_tokens_per_s": rate,
                "draft_s_per_token": ssr.get("draft_s_per_token"),
                "share_if_only_the_step": min_score / (rest + min_score),
            }
        pre = _div(ssr["tokens"]["scoring_prefilled"], passes)
        if pre is not None and step is not None:
            note = out["note_tokens"]
            out["prefill_split"] = {
                "prefilled": pre,
                "step": step,
                "note": note,
                "rest": None if note is None else pre - step - note,
            }
    by_op: dict[str, Any] = {}
    for name in ("ssr", "spec-reason", "baseline"):
        b, q = (arms.get("batched") or {}).get(name), (arms.get("sequential") or {}).get(name)
        if not b or not q or not b.get("written") or not q.get("written"):
            continue
        ops = {}
        for op in sorted(set(b["engine_seconds"]) | set(q["engine_seconds"])):
            one = q["engine_seconds"].get(op, 0.0) / q["written"]
            together = b["engine_seconds"].get(op, 0.0) / b["written"]
            ops[op] = {"one_at_a_time_s": one, "batched_s": together, "speedup": _div(one, together)}
        by_op[name] = ops
    out["batching_by_op"] = by_op
    base_recs = arm_records(batched["baseline"]) if "baseline" in batched else []
    out["flops_split"] = {
        name: flops_split(arm_records(batched[name]), base_recs) for name in ("spec-reason", "ssr") if name in batched
    }
    return out


# --------------------------------------------------------------------------- the async schedule

# the table (48 tokens per request, batch 1, demo models on 2 cores): tokens/s alone on both cores, and
# both engines at once, each pinned to its own core; their ratio is what giving up a core costs each engine
TABLE_TOK_S = {"target": (7.45, 4.86), "draft": (16.4, 13.96)}
TABLE_SLOWDOWN = {k: both / pinned for k, (both, pinned) in TABLE_TOK_S.items()}
TARGET_PHASES = ("select", "score", "rewrite", "generate")


def engine_time(records: Iterable[Record]) -> dict[str, Any]:
    """Per-problem means of wall seconds and each engine's busy seconds: from the records' timelines
    (``schedule`` blocks), else from their phase seconds (target: select, score, rewrite, generate)."""
    recs = list(records)
    if not recs:
        return {}
    wall = busy_t = busy_d = 0.0
    timelines = 0
    for r in recs:
        if r.schedule is not None:
            timelines += 1
            wall += float(r.schedule.get("wall_seconds") or r.timing.wall_seconds or 0.0)
            busy = r.schedule.get("busy_seconds") or {}
            busy_t += float(busy.get("target") or 0.0)
            busy_d += float(busy.get("draft") or 0.0)
        else:
            ph = r.timing.phase_seconds
            wall += r.timing.wall_seconds or 0.0
            busy_t += sum(ph.get(k, 0.0) for k in TARGET_PHASES)
            busy_d += ph.get("draft", 0.0)
    n = len(recs)
    return {
        "records": n,
        "from_timelines": timelines,
        "wall_s": wall / n,
        "busy_s": {"target": busy_t / n, "draft": busy_d / n},
    }


def async_bounds(
    seq: dict[str, list[Record]], schedule: dict[str, dict[str, Any]], arms: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What bounds the async arms: ``seq`` the records of each arm run one problem at a time, ``schedule``
    the report's per-mode schedule numbers (``bench.async_arms.schedule_stats``), ``arms`` its engine timings.

    Per async arm (one at a time): each engine's busy seconds under lock-step and async, their ratio (what
    its own cores cost it, wasted pre-drafts included), and the engine floor, the busier engine's busy
    seconds: no overlap of the two engines makes a problem faster than that. The reference is the baseline
    for spec-reason (its target), else the arm's lock-step twin. Batched SSR: the throughput ratio cannot
    exceed the lock-step run's seconds over the async run's bottleneck busy seconds.
    """
    from bench.async_arms import is_async, lockstep_of

    base = engine_time(seq.get("baseline") or [])
    out: dict[str, Any] = {"table_slowdown": TABLE_SLOWDOWN, "arms": {}}
    for name, recs in seq.items():
        twin = lockstep_of(name)
        if not is_async(name) or twin not in seq:
            continue
        lk, asy = engine_time(seq[twin]), engine_time(recs)
        if not lk or not asy:
            continue
        ref_name, ref = ("baseline", base) if twin == "spec-reason" else (twin, lk)
        if not ref:
            continue
        engine = max(asy["busy_s"], key=asy["busy_s"].__getitem__)
        floor = asy["busy_s"][engine]
        out["arms"][name] = {
            "lockstep": lk,
            "async": asy,
            "slowdown": {k: _div(asy["busy_s"][k], lk["busy_s"][k]) for k in ("target", "draft")},
            "bottleneck": engine,
            "engine_floor_s": floor,
            "reference": ref_name,
            "reference_s": ref["wall_s"],
            "floor_ratio": _div(floor, ref["wall_s"]),
            "ratio": _div(asy["wall_s"], ref["wall_s"]),
            "over_floor": _div(asy["wall_s"], floor),
        }
    run = ((schedule.get("batched") or {}).get("ssr-async") or {}).get("run")
    lock, asy_arm = (arms.get("batched") or {}).get("ssr"), (arms.get("batched") or {}).get("ssr-async")
    if run and lock and asy_arm and lock.get("written") and asy_arm.get("written"):
        busy = {k: v for k, v in run["busy_seconds"].items() if k in ("target", "draft")}
        engine = max(busy, key=busy.__getitem__)
        # problems per second of each run, the async one at best one problem per bottleneck-busy share
        lock_rate = lock["written"] / lock["seconds"]
        out["throughput"] = {
            "lockstep_wall_s": lock["seconds"],
            "async_wall_s": asy_arm["seconds"],
            "bottleneck": engine,
            "engine_floor_s": busy[engine],
            "ratio_ceiling": _div(asy_arm["written"] / busy[engine], lock_rate) if busy[engine] else None,
            "ratio": _div(asy_arm["written"] / asy_arm["seconds"], lock_rate),
        }
    return out
