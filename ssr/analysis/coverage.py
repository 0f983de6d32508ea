"""Coverage, the paper's Figure 2: pass@k over the paths of one run.

A path is correct when its own answer is right. For a problem whose record holds n paths of which c are
correct, pass@k is the unbiased estimator ``1 - C(n-c, k) / C(n, k)`` (Chen et al. 2021), the chance that
k paths drawn from the n include a correct one; a run's coverage@k is its mean over (problem, repeat)
records. This differs from majority-vote accuracy of separate runs with k paths: it asks whether any
path found the answer, not whether the vote picked it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ssr.analysis.metrics import pass_at_k

if TYPE_CHECKING:
    from ssr.analysis.loading import Run

MAX_K = 9  # the paper's Figure 2 goes up to 9 paths


def path_pass_at_k(path_correct: Sequence[bool], k: int) -> float | None:
    """pass@k over one record's paths; None when it has fewer than k paths."""
    n = len(path_correct)
    if k < 1 or n < k:
        return None
    return pass_at_k(n, sum(bool(c) for c in path_correct), k)


def coverage_curve(records: Sequence[Sequence[bool]], max_k: int = MAX_K) -> dict[int, float]:
    """k -> mean pass@k over ``records`` (each a list of its paths' correctness), for k = 1 .. the fewest
    paths any record has (at most ``max_k``); empty when a record has no path."""
    if not records:
        return {}
    n_min = min(len(r) for r in records)
    return {
        k: sum(path_pass_at_k(r, k) or 0.0 for r in records) / len(records) for k in range(1, min(n_min, max_k) + 1)
    }


def run_coverage(run: "Run", max_k: int = MAX_K) -> dict[str, float] | None:
    """``{"1": coverage@1, ...}`` of a graded run whose records have two or more paths (None otherwise):
    each problem's mean over its repeats, then the mean over problems, as pass@k of the repeats."""
    by_problem = [[list(g.path_correct) for g in gs] for gs in run.by_problem().values()]
    paths = [len(r) for recs in by_problem for r in recs]
    if not paths or min(paths) < 2:
        return None
    curves = [coverage_curve(recs, max_k) for recs in by_problem]
    ks = range(1, min(min(paths), max_k) + 1)
    return {str(k): sum(c[k] for c in curves) / len(curves) for k in ks}


def coverage_points(summary: dict[str, Any]) -> list[tuple[int, float]]:
    """(k, coverage@k) of a run summary, in order of k; empty when the run has no coverage."""
    cov = summary.get("coverage") or {}
    return sorted((int(k), float(v)) for k, v in cov.items())
