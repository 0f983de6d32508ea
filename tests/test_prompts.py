from pathlib import Path

from ssr import prompts
from ssr.prompts import SCORE_PREFIX, THINK_CLOSE, answer_prefix, role_for_path, solve_message

REPO = Path(__file__).resolve().parents[1]


def test_prompts_folder_is_in_sync_with_the_module():
    """prompts/ is rendered from ssr.prompts; regenerate with `python -m ssr.prompts --dump prompts`."""
    for name, text in prompts.all_prompts_text().items():
        assert (REPO / "prompts" / name).read_text(encoding="utf-8") == text, name


def test_paper_pool_has_twelve_strategies_plus_unknown():
    names = [s.name for s in prompts.strategy_pool(12)]
    assert len(names) == 12 and len(set(names)) == 12
    assert prompts.UNKNOWN.code == 0 and prompts.strategy_by_code(0).name == "Unknown"


def test_solve_message_carries_role_strategy_problem_and_format():
    s = prompts.strategy_by_code(5)
    msg = solve_message("Find x.", role=role_for_path(1), strategy=s)
    assert "Find x." in msg and "Number theory" in msg and role_for_path(1) in msg and "\\boxed" in msg
    assert "blank line" in msg


def test_roles_cycle_for_many_paths():
    assert role_for_path(len(prompts.ROLES)) == role_for_path(0)


def test_answer_prefix_closes_an_opened_thinking_block_only():
    assert answer_prefix("<|im_start|>assistant\n<think>\n", SCORE_PREFIX) == THINK_CLOSE + SCORE_PREFIX
    assert answer_prefix("<|im_start|>assistant\n", SCORE_PREFIX) == SCORE_PREFIX


def test_step_judging_message_puts_the_new_step_last_for_prefix_caching():
    a = prompts.step_judging_message("P", "s1\n\ns2", "new step A")
    b = prompts.step_judging_message("P", "s1\n\ns2", "new step B")
    common = len([1 for x, y in zip(a, b) if x == y])
    assert a[: a.index("new step A")] == b[: b.index("new step B")]
    assert common >= a.index("new step A")
