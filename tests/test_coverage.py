"""Coverage (the paper's Figure 2): pass@k over the paths of one run, on hand-made records."""

from math import comb

import pytest

from ssr.analysis.coverage import MAX_K, coverage_curve, path_pass_at_k
from ssr.analysis.evaluate import Options, evaluate
from ssr.analysis.loading import Grader
from ssr.analysis.plots import make_plots
from tests.test_evaluation import exact, make_path, make_record, write


def brute_force(correct: list[bool], k: int) -> float:
    """The share of k-subsets of the paths that hold a correct one."""
    n, c = len(correct), sum(correct)
    return 1 - comb(n - c, k) / comb(n, k)


@pytest.mark.parametrize(
    "correct", [[False] * 9, [True] + [False] * 8, [False, True, False, True, True, False], [True] * 4]
)
def test_pass_at_k_over_paths_for_every_k(correct):
    for k in range(1, len(correct) + 1):
        assert path_pass_at_k(correct, k) == pytest.approx(brute_force(correct, k))
    assert path_pass_at_k(correct, len(correct) + 1) is None


def test_no_some_all_correct_paths():
    none, some, every = [False] * 9, [True, True] + [False] * 7, [True] * 9
    curve = coverage_curve([none, some, every])
    assert list(curve) == list(range(1, 10))
    # one correct path in three records of 9: 0, 2/9, 1 at k=1; 0, 1, 1 at k=8 and 9 (any 8 of 9 hold one of 2)
    assert curve[1] == pytest.approx((0 + 2 / 9 + 1) / 3)
    assert curve[8] == pytest.approx((0 + 1 + 1) / 3) and curve[9] == pytest.approx(2 / 3)
    # more paths never lower coverage
    assert all(curve[k] <= curve[k + 1] for k in range(1, 9))
    # k stops at the fewest paths a record has, and at 9
    assert list(coverage_curve([[True] * 12, [False] * 5])) == [1, 2, 3, 4, 5]
    assert max(coverage_curve([[True] * 12])) == MAX_K


def _nine_path_run(tmp_path):
    """Parallel, 9 paths, 2 problems x 2 repeats: problem 0 right on 3 paths then 9, problem 1 on none."""
    folder = tmp_path / "parallel" / "math" / "paths9"
    rights = {(0, 0): 3, (0, 1): 9, (1, 0): 0, (1, 1): 0}
    gold = {0: "42", 1: "5"}
    for (pid, rep), right in rights.items():
        answers = [gold[pid]] * right + ["7"] * (9 - right)
        paths = [make_path(a, index=i, target=10) for i, a in enumerate(answers)]
        final = gold[pid] if right >= 5 else "7"
        write(folder, make_record("parallel", "math", pid, rep, gold[pid], final, paths, config={"num_paths": 9}))
    return folder


def test_a_run_with_several_paths_reports_coverage_and_its_plot(tmp_path):
    folder = _nine_path_run(tmp_path)
    ev = evaluate([str(folder)], Options(ks=[1]), Grader(exact))
    (s,) = ev.summaries
    cov = {int(k): v for k, v in s["coverage"].items()}
    assert list(cov) == list(range(1, 10))
    # problem 0: mean over its repeats of (3 of 9, all 9); problem 1: 0; then the mean over problems
    for k in range(1, 10):
        assert cov[k] == pytest.approx(((brute_force([True] * 3 + [False] * 6, k) + 1) / 2 + 0) / 2)
    # not the vote: the vote was right on 1 of 4 records, coverage@9 on 2 of 4
    assert s["pass@1"] == pytest.approx(0.25) and cov[9] == pytest.approx(0.5)
    written = make_plots(ev, tmp_path / "out")
    assert (tmp_path / "out" / "coverage_math.png") in written


def test_one_path_runs_have_no_coverage(tmp_path):
    folder = tmp_path / "base" / "math" / "default"
    write(folder, make_record("base", "math", 0, 0, "42", "42", [make_path("42")]))
    ev = evaluate([str(folder)], Options(ks=[1]), Grader(exact))
    assert ev.summaries[0]["coverage"] is None
    assert not any("coverage" in p.name for p in make_plots(ev, tmp_path / "out"))
