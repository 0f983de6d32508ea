"""Accuracy and latency statistics over repeated samples (pure functions, no grading here)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Iterable, Sequence

import numpy as np


def _check_counts(n: int, c: int, k: int) -> None:
    if n < 1 or k < 1:
        raise ValueError(f"need n >= 1 and k >= 1 (got n={n}, k={k})")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n (got n={n}, c={c})")
    if k > n:
        # an estimate from fewer samples than k would be a guess, not an estimate
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021): ``1 - C(n-c, k) / C(n, k)``.

    ``n`` samples of which ``c`` are correct. Computed as the product
    ``prod_{i=n-c+1}^{n} (1 - k/i)``, which never forms the huge binomials.
    Raises ``ValueError`` when ``k > n`` (the estimator is undefined there).
    """
    _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def g_pass_at_k(n: int, c: int, k: int, tau: float) -> float:
    """G-Pass@k_tau of Liu et al. (2024), "Are Your LLMs Capable of Stable Reasoning?".

    The probability that at least ``ceil(tau * k)`` of ``k`` samples drawn
    without replacement from the ``n`` (with ``c`` correct) are correct::

        sum_{j=ceil(tau k)}^{c} C(c, j) C(n-c, k-j) / C(n, k)

    ``tau = 1`` asks for all ``k`` to be right; a ``tau`` so small that the
    threshold rounds to 0 is taken as 1 correct sample, i.e. pass@k (as the
    authors' implementation does). Exact rational arithmetic.
    """
    _check_counts(n, c, k)
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    # Fraction(str()) so that e.g. 0.7 * 10 is exactly 7, not 7.000000000000001
    m = max(math.ceil(Fraction(str(tau)) * k), 1)
    total = math.comb(n, k)
    hits = sum(math.comb(c, j) * math.comb(n - c, k - j) for j in range(m, min(c, k) + 1))
    return float(Fraction(hits, total))


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap ``(lo, hi)`` of the mean of ``values`` (problems are the resampled unit)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return (math.nan, math.nan)
    if v.size == 1:
        return (float(v[0]), float(v[0]))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def latency_stats(seconds: Iterable[float | None]) -> dict[str, float | None]:
    """Mean, median and 90th percentile (linear interpolation); missing values are ignored."""
    v = np.asarray([s for s in seconds if s is not None], dtype=float)
    if v.size == 0:
        return {"mean": None, "median": None, "p90": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "n": int(v.size),
    }


def majority_answer(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> str | None:
    """Most frequent answer under the equivalence ``same``; a tie goes to the answer seen first.

    ``None`` (no answer) never wins: a path that gave up should not outvote one that answered.
    """
    groups: list[list[str]] = []
    for a in answers:
        if a is None:
            continue
        for g in groups:
            if same(a, g[0]):
                g.append(a)
                break
        else:
            groups.append([a])
    if not groups:
        return None
    # max() keeps the first of equal counts, i.e. the earliest answer
    return max(groups, key=len)[0]


def majority_vote_accuracy(
    problems: Iterable[tuple[Sequence[str | None], Any]],
    same: Callable[[str, str], bool],
    correct: Callable[[str, Any], bool],
) -> float | None:
    """Fraction of problems whose majority answer (over its repeats) is correct.

    ``problems`` yields ``(answers, gold)`` per problem.
    """
    results = []
    for answers, gold in problems:
        winner = majority_answer(answers, same)
        results.append(winner is not None and bool(correct(winner, gold)))
    return sum(results) / len(results) if results else None
