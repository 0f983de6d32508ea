from ssr import prompts
from ssr.prompt_sets import load
from ssr.prompts import (
    SCORE_PREFIX,
    THINK_CLOSE,
    answer_prefix,
    authors_answer,
    authors_path,
    authors_score,
    role_for_path,
    solve_message,
)


def test_module_names_are_the_shipped_sets_texts():
    ps = load("ssr")
    assert prompts.ROLES == ps.roles and prompts.SCORE_PREFIX == ps.text("score_prefix")
    assert prompts.SCORE_SUFFIX == "\n\n" + ps.text("score_note") + "\n"
    assert prompts.STRATEGIES == ps.pool(15).strategies and prompts.UNKNOWN == ps.pool(12).unknown


def test_paper_pool_has_twelve_strategies_plus_unknown():
    names = [s.name for s in prompts.strategy_pool(12)]
    assert len(names) == 12 and len(set(names)) == 12
    assert prompts.UNKNOWN.code == 0 and prompts.strategy_by_code(0).name == "Unknown"


def test_solve_messages_carry_the_problem_and_the_step_format():
    s = prompts.strategy_by_code(5)
    for msg in (solve_message("Find x."), solve_message("Find x.", role=role_for_path(1)),
                solve_message("Find x.", strategy=s)):
        assert "Find x." in msg and prompts.STEP_FORMAT in msg and "\\boxed{}" in msg
    assert role_for_path(1) in solve_message("Find x.", role=role_for_path(1))
    assert "Number theory" in solve_message("Find x.", strategy=s) and s.hint in solve_message("Find x.", strategy=s)


def test_roles_cycle_for_many_paths():
    assert role_for_path(len(prompts.ROLES)) == role_for_path(0)


def test_answer_prefix_closes_an_opened_thinking_block_only():
    assert answer_prefix("<|im_start|>assistant\n<think>\n", SCORE_PREFIX) == THINK_CLOSE + SCORE_PREFIX
    assert answer_prefix("<|im_start|>assistant\n", SCORE_PREFIX) == SCORE_PREFIX


def test_step_judging_message_puts_the_new_step_last_for_prefix_caching():
    a = prompts.step_judging_message("P", "s1\n\ns2", "new step A")
    b = prompts.step_judging_message("P", "s1\n\ns2", "new step B")
    assert a[: a.index("new step A")] == b[: b.index("new step B")]
    assert load("ssr").text("grader_no_steps") in prompts.step_judging_message("P", "", "x")


def test_selection_listing_offers_the_pool_and_the_unknown():
    msg = prompts.selection_message("P", 3, prompts.strategy_pool(6))
    assert "6. Combinatorics:" in msg and "7. " not in msg and "0. Unknown:" in msg and "(format: a, b, c)" in msg


# The authors' shapes at commit 41e9519 (texts are placeholders here):
def test_authors_path_is_the_bare_user_text_then_steps_in_a_thinking_block():
    assert authors_path("U", []) == "U"  # spec_scale_reason.py:439 (first step)
    steps = ["s1", "s2"]
    assert authors_path("U", steps) == "U" + "\n<think>" + "\n\n".join(steps) + "\n\n"  # :441-442


def test_authors_score_and_answer_tails():
    ps = load("ssr")
    note, prefix = ps.text("score_note"), ps.text("score_prefix")
    steps_so_far_str = "\n\n".join(["s1", "draft"]) + "\n\n"  # spec_scale_reason.py:481
    assert authors_score("U", ["s1"], "draft", ps) == f"U\n<think>{steps_so_far_str}\n{note}\n<think>{prefix}"  # :483
    assert authors_answer("U", "P: ") == "U\n<think></think>P: "  # :357
