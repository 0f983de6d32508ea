"""Per-run statistics: accuracy, cost, and FLOPs against a baseline run.

FLOPs definitions (spec_eval), all per dataset against the matching baseline run (method ``base`` in
``--baseline_dir``), on the problems both runs share:

* ``N``     mean number of paths per record (``len(paths)``).
* ``beta``  the paper's length ratio T / T_base per path::

      beta = mean_p[ mean over repeats of sum_paths(final path tokens) / N_record ]
             / mean_p[ same quantity of the baseline, i.e. its target tokens per path ]

  where ``mean_p`` averages over problems and a path's *final* tokens are those of the path as it
  stands: accepted draft steps plus the target's rewrites (the reference code's token statistics).
  Rejected drafts are not in T (they are in the processed-token count below); strategy-selection
  tokens belong to no path. It is taken per *path* because ``gamma_spec`` multiplies by ``N`` itself.
  ``--beta selected`` (the authors' token statistics): T is the *selected* path's final tokens only,
  the longest path that gives the record's answer (their representative of a majority); a record of
  several paths without an answer is left out, a one-path record (the baseline) counts its path, as
  their baseline statistics do.
* ``R``     rewrite rate pooled over the run: sum(rewrites) / sum(steps).
* ``alpha`` ``--alpha`` if given, else ``flops.alpha_from_models`` on the records' ``models`` at
  ``context_len`` = ``--context_len`` or half the baseline's mean tokens per path (the mean position
  of a generated token).
* ``gamma`` ``gamma_base()`` for base, ``gamma_parallel(N)`` for parallel, ``gamma_spec(N, beta, R,
  alpha)`` for speculative methods.
* ``processed_flops_ratio`` mean_p of the record's ``processed_flops`` total divided by the same for
  the baseline (same ``context_len``): every token each model processed, scoring and strategy
  selection included.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Sequence

from ssr.analysis import flops as F
from ssr.analysis import metrics as M
from ssr.analysis.coverage import run_coverage
from ssr.analysis.loading import Grader, Run
from ssr.methods import is_speculative
from ssr.records import Record

FINISH_REASONS = ("answer", "repeated", "budget", "eos", "stopped_fast")
G_PASS_TAUS = (0.5, 1.0)


def _mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def default_context_len(base_tokens_per_path: float | None) -> int:
    """The context length per-token FLOPs are taken at: the mean position of a baseline token (half its
    mean tokens per path), or ``flops.DEFAULT_CONTEXT_LEN`` without a baseline."""
    return max(int(round(base_tokens_per_path / 2)), 1) if base_tokens_per_path else F.DEFAULT_CONTEXT_LEN


def per_problem_mean(
    run: Run, value: Callable[[Record], float | None], problems: Iterable[Any] | None = None
) -> float | None:
    """Mean over problems of the mean over that problem's repeats (unequal repeats weigh equally)."""
    by_p = run.by_problem()
    keys = by_p if problems is None else [p for p in problems if p in by_p]
    return _mean(_mean(value(g.record) for g in by_p[p]) for p in keys)


def accuracy_stats(run: Run, ks: Sequence[int], grader: Grader, notes: list[str]) -> dict[str, Any]:
    by_p = run.by_problem()
    counts = {p: (len(gs), sum(g.correct for g in gs)) for p, gs in by_p.items()}
    n_min = min(n for n, _ in counts.values())
    n_max = max(n for n, _ in counts.values())
    out: dict[str, Any] = {"problems": len(by_p), "records": len(run.graded), "repeats": n_min}
    if n_max != n_min:
        out["repeats_max"] = n_max
        notes.append(
            f"{run.dataset} {run.label}: unequal repeats per problem ({n_min}-{n_max}); "
            "pass@k uses each problem's own n"
        )
    for k in ks:
        if k > n_min:
            notes.append(f"{run.dataset} {run.label}: pass@{k} skipped (needs {k} repeats per problem, have {n_min})")
            continue
        out[f"pass@{k}"] = _mean(M.pass_at_k(n, c, k) for n, c in counts.values())
    per_problem_p1 = [c / n for n, c in counts.values()]
    out["pass@1_ci95"] = list(M.bootstrap_ci(per_problem_p1))
    k_g = min(n_min, 3)
    for tau in G_PASS_TAUS:
        out[f"g_pass@{k_g}_{tau}"] = _mean(M.g_pass_at_k(n, c, k_g, tau) for n, c in counts.values())
    out["majority_vote"] = M.majority_vote_accuracy(
        (([g.record.final_answer for g in gs], gs[0].gold) for gs in by_p.values()),
        same=grader.same,
        correct=lambda answer, gold: grader(answer, gold, run.dataset),
    )
    path_flags = [c for g in run.graded for c in g.path_correct]
    out["path_accuracy"] = sum(path_flags) / len(path_flags) if path_flags else None
    out["any_path_correct"] = _mean(float(any(g.path_correct)) for g in run.graded)
    out["no_answer_rate"] = _mean(float(g.record.final_answer is None) for g in run.graded)
    return out


def _summary_of(values: list[float | None]) -> dict[str, float | None]:
    v = [x for x in values if x is not None]
    if not v:
        return {"mean": None, "min": None, "max": None}
    return {"mean": sum(v) / len(v), "min": min(v), "max": max(v)}


def _forward_passes(record: Record, role: str) -> int | None:
    u = record.usage.get(role)
    return u.sequential_forward_passes if u is not None else None


def problems_at_once(records: Iterable[Record]) -> int | None:
    """The most problems any of the records ran beside: the plan's concurrency (after its KV cap), else the
    recorded --max_concurrent_problems. Above 1, latency was measured under batching, not the paper's
    one problem at a time."""
    seen = [(r.plan or {}).get("concurrency") or (r.config or {}).get("max_concurrent_problems") for r in records]
    return max((int(n) for n in seen if n), default=None)


def cost_stats(run: Run) -> dict[str, Any]:
    recs = [g.record for g in run.graded]
    stats = [r.stats for r in recs]
    total_steps = sum(s.steps for s in stats)
    finish = Counter(p.finish_reason or "unknown" for r in recs for p in r.paths)
    out: dict[str, Any] = {
        "num_paths_config": recs[0].config.get("num_paths"),
        "paths_per_record": _mean(len(r.paths) for r in recs),
        "latency_s": M.latency_stats(r.timing.wall_seconds for r in recs),
        "problems_at_once": (at_once := problems_at_once(recs)),
        "latency_batched": at_once is not None and at_once > 1,
        "target_tokens_mean": _mean(r.generated_tokens("target") for r in recs),
        "draft_tokens_mean": _mean(r.generated_tokens("draft") for r in recs),
        "tokens_per_path_mean": _mean(r.tokens_per_path() for r in recs),
        # forward passes on each problem's critical path (see ssr.runner); None for records without the count
        "target_forward_passes_mean": _mean(_forward_passes(r, "target") for r in recs),
        "draft_forward_passes_mean": _mean(_forward_passes(r, "draft") for r in recs),
        "steps_mean": _mean(s.steps for s in stats),
        "rewrite_rate": (sum(s.rewrites for s in stats) / total_steps) if total_steps else None,
        "rewrite_rate_per_record": _summary_of([s.rewrite_rate for s in stats if s.steps]),
        "finish_reasons": {k: finish.get(k, 0) for k in FINISH_REASONS}
        | {k: v for k, v in finish.items() if k not in FINISH_REASONS},
        "answer_reasons": dict(Counter(r.answer_reason or "unknown" for r in recs)),
    }
    strategies = Counter(s for r in recs if r.selection for s in r.selection.strategies)
    if strategies:
        out["strategies"] = dict(strategies.most_common())
    return out


def summarize_run(run: Run, ks: Sequence[int], grader: Grader, notes: list[str]) -> dict[str, Any]:
    return {
        "dataset": run.dataset,
        "method": run.method,
        "tag": run.tag,
        "run_dir": run.run_dir,
        **accuracy_stats(run, ks, grader, notes),
        **cost_stats(run),
        "coverage": run_coverage(run),
    }


# --------------------------------------------------------------------------- FLOPs against a baseline


def _draft_and_target(run: Run) -> dict[str, Any]:
    for g in run.graded:
        models = g.record.models
        if models.get("target") and models.get("draft"):
            return models
    return {}


def processed_total(record: Record, context_len: int) -> float | None:
    """None, not 0, for a record without usage counters: a missing count is not a free run."""
    if not any(F.processed_tokens(record.usage.get(role))["total"] for role in ("target", "draft")):
        return None
    try:
        return F.processed_flops(record.usage, record.models, context_len)["total_flops"]
    except ValueError:
        return None


def _rewrite_rate(run: Run) -> float | None:
    stats = [g.record.stats for g in run.graded]
    steps = sum(s.steps for s in stats)
    return sum(s.rewrites for s in stats) / steps if steps else None


# --beta: "all", every path's mean final tokens (the default); "selected", the selected path's (the authors')
BETAS = ("all", "selected")


def selected_path_tokens(record: Record) -> float | None:
    """Final tokens of the path that stands for the record's answer: the longest path giving exactly that
    answer (the authors' representative); a one-path record's path; None for other records without an answer."""
    if len(record.paths) == 1:
        return float(record.paths[0].tokens.final)
    if record.final_answer is None:
        return None
    lengths = [p.tokens.final for p in record.paths if p.answer == record.final_answer]
    return float(max(lengths)) if lengths else None


def _path_tokens(beta: str) -> Callable[[Record], float | None]:
    if beta == "all":
        return Record.tokens_per_path
    if beta == "selected":
        return selected_path_tokens
    raise ValueError(f"unknown beta {beta!r} ({' | '.join(BETAS)})")


def flops_stats(
    run: Run,
    baseline: Run | None,
    alpha: float | None,
    context_len: int | None,
    notes: list[str],
    beta: str = "all",
) -> dict[str, Any]:
    """The gamma model and the processed-token ratio of ``run`` against ``baseline`` (see module doc).

    Every key is present; what cannot be computed (no baseline, no shared problems, no model shapes)
    is None and explained in ``notes``.
    """
    where = f"{run.dataset} {run.label}"
    speculative = is_speculative(run.method)
    n_paths = _mean(len(g.record.paths) for g in run.graded) or 1.0
    out: dict[str, Any] = {
        "baseline_run": baseline.run_dir if baseline else None,
        "shared_problems": 0,
        "N": n_paths,
        "beta": None,
        "beta_from": beta,
        "R": _rewrite_rate(run),
        "alpha": None,
        "alpha_source": None,
        "context_len": context_len,
        "gamma": None,
        "inv_gamma": None,
        "processed_flops_ratio": None,
        "processed_tokens_mean": {
            role: per_problem_mean(run, lambda r, role=role: F.processed_tokens(r.usage.get(role))["total"])
            for role in ("target", "draft")
        },
    }
    shared: list[Any] = []
    base_len = None
    if baseline is None:
        notes.append(
            f"{where}: no matching baseline (method base, dataset {run.dataset}); beta and FLOPs ratio not computed"
        )
    else:
        shared = sorted(set(run.by_problem()) & set(baseline.by_problem()), key=str)
        out["shared_problems"] = len(shared)
        if not shared:
            notes.append(
                f"{where}: no problem in common with the baseline {baseline.run_dir}; beta and FLOPs ratio not computed"
            )
        else:
            tokens = _path_tokens(beta)
            base_len = per_problem_mean(baseline, tokens, shared)
            run_len = per_problem_mean(run, tokens, shared)
            out["beta"] = run_len / base_len if base_len and run_len is not None else None
    if context_len is None:
        context_len = default_context_len(base_len)
    out["context_len"] = context_len

    if speculative:
        if alpha is not None:
            out["alpha"], out["alpha_source"] = alpha, "--alpha"
        elif models := _draft_and_target(run):
            out["alpha"], out["alpha_source"] = (
                F.alpha_from_models(models["draft"], models["target"], context_len),
                "models",
            )
        else:
            notes.append(f"{where}: records carry no draft and target ModelInfo; pass --alpha")
        if out["R"] is None:
            notes.append(f"{where}: no steps recorded, rewrite rate unknown; gamma not computed")

    if run.method == "base":
        out["gamma"] = F.gamma_base()
    elif run.method == "parallel":
        out["gamma"] = F.gamma_parallel(n_paths)
    elif speculative and None not in (out["beta"], out["R"], out["alpha"]):
        out["gamma"] = F.gamma_spec(n_paths, out["beta"], out["R"], out["alpha"])
    out["inv_gamma"] = 1.0 / out["gamma"] if out["gamma"] else None

    if shared:
        base_flops = per_problem_mean(baseline, lambda r: processed_total(r, context_len), shared)  # type: ignore[arg-type]
        run_flops = per_problem_mean(run, lambda r: processed_total(r, context_len), shared)
        if base_flops and run_flops is not None:
            out["processed_flops_ratio"] = run_flops / base_flops
        else:
            notes.append(f"{where}: processed-FLOPs ratio not computed (usage or models missing)")
    return out


def pick_baseline(runs: Sequence[Run], dataset: str, notes: list[str]) -> Run | None:
    """The dataset's base run with the most records (a note when there were several)."""
    candidates = [r for r in runs if r.dataset == dataset and r.method == "base"]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: len(r.graded))
    if len(candidates) > 1:
        notes.append(f"{dataset}: several baseline runs; using {best.run_dir} (most records)")
    return best
