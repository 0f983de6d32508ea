import math
from itertools import combinations

import pytest

from ssr.analysis.metrics import (
    bootstrap_ci,
    g_pass_at_k,
    latency_stats,
    majority_answer,
    majority_vote_accuracy,
    pass_at_k,
)


def _brute_force_at_least(n, c, k, m):
    """Fraction of k-subsets of n samples (c correct) holding at least m correct ones."""
    samples = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(sum(samples[i] for i in s) >= m for s in subsets) / len(subsets)


@pytest.mark.parametrize("n, c, k", [(5, 0, 1), (5, 2, 1), (5, 2, 3), (10, 3, 4), (6, 6, 2), (8, 1, 8), (3, 1, 3)])
def test_pass_at_k_matches_definition(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(_brute_force_at_least(n, c, k, 1))


def test_pass_at_k_simple_values():
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    assert pass_at_k(4, 0, 2) == 0.0


def test_pass_at_k_large_n_is_stable():
    # C(1000, 500) overflows a float; the product form does not
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5)


@pytest.mark.parametrize("n, c, k", [(2, 1, 3), (0, 0, 1), (3, 4, 1), (3, -1, 1), (3, 1, 0)])
def test_pass_at_k_rejects_bad_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@pytest.mark.parametrize("n, c, k", [(5, 3, 3), (10, 4, 4), (8, 8, 3), (6, 0, 3), (7, 5, 1)])
@pytest.mark.parametrize("tau", [0.25, 0.5, 0.75, 1.0])
def test_g_pass_at_k_matches_brute_force(n, c, k, tau):
    m = max(math.ceil(tau * k), 1)
    assert g_pass_at_k(n, c, k, tau) == pytest.approx(_brute_force_at_least(n, c, k, m))


def test_g_pass_at_k_special_cases():
    # tau -> 0 is pass@k; tau = 1 with k = n means "every sample right"
    assert g_pass_at_k(10, 3, 4, 0.0) == pytest.approx(pass_at_k(10, 3, 4))
    assert g_pass_at_k(3, 2, 3, 1.0) == 0.0
    assert g_pass_at_k(3, 3, 3, 1.0) == 1.0
    # hand computed: n=3, c=2, k=3, tau=0.5 -> need 2 of 3 -> the only subset has 2
    assert g_pass_at_k(3, 2, 3, 0.5) == 1.0
    # n=4, c=2, k=2, tau=1: C(2,2)/C(4,2) = 1/6
    assert g_pass_at_k(4, 2, 2, 1.0) == pytest.approx(1 / 6)
    # 0.28 * 25 is 7.000000000000001 in floating point: the threshold is 7 of 25, not 8
    assert 0.28 * 25 != 7
    assert g_pass_at_k(25, 7, 25, 0.28) == 1.0
    assert g_pass_at_k(50, 14, 50, 0.28) == 1.0
    with pytest.raises(ValueError):
        g_pass_at_k(4, 2, 2, 1.5)


def test_bootstrap_ci():
    values = [0.0, 1.0] * 50
    lo, hi = bootstrap_ci(values, seed=1)
    assert lo < 0.5 < hi and hi - lo < 0.3
    assert bootstrap_ci(values, seed=1) == (lo, hi)  # seeded
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)
    assert bootstrap_ci([0.25]) == (0.25, 0.25)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_latency_stats():
    s = latency_stats([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None])
    assert s["mean"] == pytest.approx(5.5)
    assert s["median"] == pytest.approx(5.5)
    assert s["p90"] == pytest.approx(9.1)
    assert s["n"] == 10
    assert latency_stats([])["mean"] is None


def test_majority_answer_and_accuracy():
    same = lambda a, b: a.strip("0") == b.strip("0")  # noqa: E731 - "025" == "25"
    assert majority_answer(["1", "025", "25", None, None, None], same) == "025"
    assert majority_answer(["1", "2"], same) == "1"  # tie -> first seen
    assert majority_answer([None, None], same) is None
    problems = [(["1", "1", "2"], "1"), (["3", None, None], "4"), ([None], "5"), (["7", "8", "8"], "8")]
    assert majority_vote_accuracy(problems, same, same) == pytest.approx(0.5)
    assert majority_vote_accuracy([], same, same) is None
