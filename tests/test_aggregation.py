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
