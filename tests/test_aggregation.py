from ssr.aggregation import PathOutcome, fast_decision, majority_vote, mean_step_score


def eq(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def test_mean_step_score_counts_rewrites_as_nine():
    assert mean_step_score([8, 3, 5], [True, False, False]) == (8 + 9 + 9) / 3
    assert mean_step_score([], []) is None


def test_majority_wins_over_higher_scores():
    outs = [PathOutcome(0, "1", 9.0), PathOutcome(1, "2", 5.0), PathOutcome(2, "2", 5.0)]
    d = majority_vote(outs, eq)
    assert (d.answer, d.reason, d.votes) == ("2", "majority", {"1": 1, "2": 2})


def test_tie_broken_by_mean_step_score():
    outs = [PathOutcome(0, "1", 6.0), PathOutcome(1, "2", 8.5), PathOutcome(2, "1", 7.0), PathOutcome(3, "2", 8.0)]
    d = majority_vote(outs, eq)
    assert d.answer == "2" and d.reason == "tie_break_score"


def test_tie_without_scores_goes_to_first_answer_seen():
    d = majority_vote([PathOutcome(0, "7"), PathOutcome(1, "3")], eq)
    assert d.answer == "7" and d.reason == "tie_break_first"


def test_no_answer_and_single_path():
    assert majority_vote([PathOutcome(0, None), PathOutcome(1, None)], eq).reason == "no_answer"
    d = majority_vote([PathOutcome(0, "4", None)], eq)
    assert (d.answer, d.reason) == ("4", "single_path")


def test_equivalent_answers_are_merged_by_the_given_test():
    loose = lambda a, b: a.lstrip("0") == b.lstrip("0")  # noqa: E731
    d = majority_vote([PathOutcome(0, "025"), PathOutcome(1, "25"), PathOutcome(2, "7")], loose)
    assert d.answer == "025" and d.votes == {"025": 2, "7": 1}


def test_fast1_waits_for_a_finished_path_then_takes_it():
    running = [PathOutcome(0, None, finished=False), PathOutcome(1, None, finished=False)]
    assert fast_decision(running, 1, eq) is None
    d = fast_decision([PathOutcome(0, None, finished=False), PathOutcome(1, "5", 7.0, True)], 1, eq)
    assert (d.answer, d.reason) == ("5", "fast1_first_finished")


def test_fast2_needs_two_agreeing_finished_paths():
    two_diff = [PathOutcome(0, "1", 8, True), PathOutcome(1, "2", 8, True), PathOutcome(2, None, None, False)]
    assert fast_decision(two_diff, 2, eq) is None
    agree = two_diff + [PathOutcome(3, "2", 6, True)]
    d = fast_decision(agree, 2, eq)
    assert (d.answer, d.reason) == ("2", "fast2_agreement")


def test_fast_mode_zero_never_stops():
    assert fast_decision([PathOutcome(0, "1", 9, True)] * 3, 0, eq) is None


def test_unfinished_path_answers_do_not_trigger_fast_modes():
    # a path cut by the budget may carry no answer; one stopped early never counts as finished
    outs = [PathOutcome(0, "3", 8, finished=False), PathOutcome(1, "3", 8, finished=False)]
    assert fast_decision(outs, 2, eq) is None


def test_two_two_one_split_goes_to_the_single_best_scored_path_as_in_the_paper():
    # the paper: on a tie, the path with the highest mean step score over all finished paths decides,
    # so the lone path "3" (mean 8.9) beats both tied pairs
    outs = [
        PathOutcome(0, "1", 7.0), PathOutcome(1, "1", 7.5),
        PathOutcome(2, "2", 8.0), PathOutcome(3, "2", 6.0),
        PathOutcome(4, "3", 8.9),
    ]
    d = majority_vote(outs, eq)
    assert (d.answer, d.reason) == ("3", "tie_break_score")
    assert d.votes == {"1": 2, "2": 2, "3": 1}


def test_all_answers_different_go_to_the_best_mean_score():
    outs = [PathOutcome(0, "1", 6.0), PathOutcome(1, "2", 8.0), PathOutcome(2, "3", 7.0)]
    d = majority_vote(outs, eq)
    assert (d.answer, d.reason) == ("2", "tie_break_score")


def test_a_lone_answer_among_unanswered_paths_is_taken_without_a_tie_break():
    d = majority_vote([PathOutcome(0, None, 9.0), PathOutcome(1, "4", 5.0), PathOutcome(2, None, 8.0)], eq)
    assert (d.answer, d.reason) == ("4", "majority")


def test_fast1_paths_finishing_together_use_the_same_rule():
    outs = [PathOutcome(0, "1", 6.0, True), PathOutcome(1, "2", 8.0, True), PathOutcome(2, None, 9.0, False)]
    d = fast_decision(outs, 1, eq)
    assert (d.answer, d.reason) == ("2", "tie_break_score")


def test_fast2_two_agreeing_pairs_at_once_go_to_the_best_scored_path():
    outs = [
        PathOutcome(0, "1", 7.0, True), PathOutcome(1, "1", 7.0, True),
        PathOutcome(2, "2", 6.0, True), PathOutcome(3, "2", 8.5, True),
        PathOutcome(4, "3", 9.0, True),  # not part of an agreement: Fast-2 decides among agreeing answers
    ]
    d = fast_decision(outs, 2, eq)
    assert (d.answer, d.reason) == ("2", "tie_break_score")


# --------------------------------------------------------------------------- --tie_break code (the authors' rule)


def P(i: int, answer: str | None, tokens: int, score: float | None = None, finished: bool = True) -> PathOutcome:
    return PathOutcome(i, answer, score, finished, tokens)


def test_code_rule_2_2_1_goes_to_the_first_seen_of_the_two_pairs_by_its_longest_path():
    # the paper's rule would give the lone "9" (best mean score); the code's, the pair seen first, "4"
    outs = [P(0, "4", 100, 5.0), P(1, "7", 900, 6.0), P(2, "4", 300, 5.0), P(3, "7", 50, 6.0), P(4, "9", 5000, 9.0)]
    assert majority_vote(outs, eq).answer == "9"
    d = majority_vote(outs, eq, "code")
    assert (d.answer, d.reason, d.votes) == ("4", "majority", {"4": 2, "7": 2, "9": 1})


def test_code_rule_majority_is_represented_by_its_longest_path():
    loose = lambda a, b: a.lstrip("0") == b.lstrip("0")  # noqa: E731
    outs = [P(0, "025", 10), P(1, "25", 40), P(2, "7", 99)]
    assert majority_vote(outs, loose).answer == "025"  # paper: the group's first path
    assert majority_vote(outs, loose, "code").answer == "25"  # code: the group's path with the most tokens


def test_code_rule_all_different_goes_to_the_path_with_most_tokens():
    outs = [P(0, "1", 200, 9.0), P(1, "2", 700, 1.0), P(2, "3", 700, 2.0)]
    assert majority_vote(outs, eq).answer == "1"  # paper: the best mean score
    d = majority_vote(outs, eq, "code")
    assert (d.answer, d.reason) == ("2", "tie_break_longest")  # code: the longest, the first of equal lengths


def test_parallel_without_scores_paper_first_path_code_longest_path():
    outs = [P(0, "11", 100), P(1, "12", 400), P(2, None, 8192, finished=False)]
    assert (majority_vote(outs, eq).answer, majority_vote(outs, eq).reason) == ("11", "tie_break_first")
    assert majority_vote(outs, eq, "code").answer == "12"  # the unanswered budget-cut path never wins


def test_code_rule_in_fast_modes_votes_over_every_finished_path():
    # Fast-2: the pair agrees; paper picks among the agreeing paths, code votes over all finished ones (still the pair)
    outs = [P(0, "3", 10, 9.0), P(1, "5", 20, 1.0), P(2, "5", 30, 1.0), P(3, None, 0, finished=False)]
    d = fast_decision(outs, 2, eq, "code")
    assert (d.answer, d.reason, d.votes) == ("5", "fast2_agreement", {"3": 1, "5": 2})
    # Fast-1, two paths finishing in the same round: paper takes the best score, code the longest path
    both = [P(0, "3", 10, 9.0), P(1, "5", 20, 1.0)]
    assert fast_decision(both, 1, eq).answer == "3"
    assert fast_decision(both, 1, eq, "code").answer == "5"


def test_unknown_tie_rule():
    import pytest

    with pytest.raises(ValueError, match="tie rule"):
        majority_vote([P(0, "1", 1), P(1, "2", 2)], eq, "coin")
