"""Control flow of the step-level loop on a scripted, deterministic engine."""

from __future__ import annotations

import dataclasses
import re

import pytest

from scripted import ScriptedEngine, hashed_steps
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.engines.base import Continuation
from ssr.prompts import RAW_THINK_OPEN, SCORE_PREFIX, SCORE_SUFFIX
from ssr.reasoning import STEP_STOP, Reasoner
from ssr.runner import Scheduler

BOX = re.compile(r"\\boxed\{([^}]*)\}")


def extract(text: str):
    m = BOX.findall(text)
    return m[-1] if m else None


def equal(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def solve(cfg: RunConfig, target: ScriptedEngine, draft: ScriptedEngine | None, problem: str = "What is 1+1?"):
    """Run one problem through the real scheduler and return its outcome."""
    done = {}
    reasoner = Reasoner(cfg, target.render(_user(".")), equal, extract, extract)  # extract reads boxes only
    sched = Scheduler(
        cfg, {"target": target, "draft": draft}, reasoner, lambda job, out: done.setdefault("o", (job, out))
    )
    from ssr.runner import Job

    sched.run([Job(Problem("math", 0, problem, "2", {}), 0, path=None)])  # type: ignore[arg-type]
    return done["o"][1]


def _user(text):
    from ssr.engines.base import ChatPrompt

    return ChatPrompt.of([{"role": "user", "content": text}])


def cfg(**kw) -> RunConfig:
    base = dict(method="spec", num_paths=1, token_budget=1000, max_step_tokens=50, score_threshold=7, progress=False)
    base.update(kw)
    return RunConfig(**base)


def const_score(d):
    return lambda prompt: d


def target_writes(text="Target step", stop="\n\n"):
    return lambda prompt, params: (text, "stop", stop)


def test_steps_at_or_above_threshold_are_accepted_without_target_generation():
    draft = ScriptedEngine(hashed_steps(answer_after=3))
    target = ScriptedEngine(target_writes(), const_score(7))
    out = solve(cfg(), target, draft)
    path = out.paths[0]
    assert [s.accepted for s in path.steps] == [True, True, True, True]
    assert path.finish_reason == "answer" and out.decision.answer == path.answer
    assert ("generate", 1) not in target.calls  # the target never wrote a step
    assert path.text.count(STEP_STOP) == 3  # blank lines between steps, not after the last


def test_steps_below_threshold_are_rewritten_by_the_target():
    draft = ScriptedEngine(lambda p, sp: ("Draft step", "stop", "\n\n"))
    calls = {"n": 0}

    def target_gen(prompt, params):
        calls["n"] += 1
        return (
            ("Target says \\boxed{2}", "stop", None)
            if calls["n"] == 3
            else (f"Target step {calls['n']}", "stop", "\n\n")
        )

    target = ScriptedEngine(target_gen, const_score(6))
    out = solve(cfg(), target, draft)
    p = out.paths[0]
    assert [s.accepted for s in p.steps] == [False, False, False]
    assert [s.rewrite for s in p.steps] == ["Target step 1", "Target step 2", "Target says \\boxed{2}"]
    assert "Draft step" not in p.text and p.answer == "2"
    assert p.mean_score() == 9.0  # rewritten steps count 9
    assert p.target_generated == sum(s.rewrite_tokens for s in p.steps) > 0


def test_rewrite_continues_from_the_same_prefix_as_the_draft():
    draft = ScriptedEngine(hashed_steps(answer_after=2))
    target = ScriptedEngine(target_writes(), const_score(0))
    solve(cfg(token_budget=8), target, draft)
    # every target prompt that is not a scoring prompt equals a prompt the draft saw
    rewrites = [s for s in target.seen if SCORE_SUFFIX not in s]
    assert rewrites and all(r in draft.seen for r in rewrites)


@pytest.mark.parametrize(
    "method,threshold,accepted", [("greedy", 5, False), ("average", 5, True), ("average", 6.1, False)]
)
def test_score_method_greedy_vs_average(method, threshold, accepted):
    probs = [0.0] * 10
    probs[4], probs[9] = 0.6, 0.4  # greedy 4, expected 6.0
    draft = ScriptedEngine(lambda p, sp: ("x \\boxed{1}", "stop", None))
    target = ScriptedEngine(target_writes("t \\boxed{1}", None), lambda prompt: probs)
    out = solve(cfg(score_method=method, score_threshold=threshold), target, draft)
    step = out.paths[0].steps[0]
    assert step.accepted is accepted
    assert step.score == (4.0 if method == "greedy" else pytest.approx(6.0))
    assert step.score_probs == probs


def test_budget_stops_a_path_and_limits_the_last_step():
    draft = ScriptedEngine(lambda p, sp: (" ".join(["w"] * 4) + f" {p.count('w')}", "stop", "\n\n"))
    target = ScriptedEngine(target_writes(), const_score(9))
    out = solve(cfg(token_budget=12, max_step_tokens=5), target, draft)
    p = out.paths[0]
    assert p.finish_reason == "budget" and p.used_tokens == 12
    assert [s.draft_tokens for s in p.steps] == [5, 5, 2]  # last step capped by the remaining budget
    assert out.decision.reason == "no_answer" and out.decision.answer is None


def test_identical_consecutive_steps_end_the_path_as_repeated():
    draft = ScriptedEngine(lambda p, sp: ("I keep saying this.", "stop", "\n\n"))
    target = ScriptedEngine(target_writes(), const_score(8))
    p = solve(cfg(), target, draft).paths[0]
    assert p.finish_reason == "repeated" and len(p.steps) == 2


def test_end_of_turn_without_answer_ends_the_path_as_eos():
    draft = ScriptedEngine(lambda p, sp: ("I give up.", "stop", None))
    target = ScriptedEngine(target_writes(), const_score(8))
    p = solve(cfg(), target, draft).paths[0]
    assert p.finish_reason == "eos" and p.answer is None and p.text == "I give up."


def test_a_second_think_close_is_dropped():
    outs = iter(["Reasoning.</think>", "More.</think>", "Answer \\boxed{3}"])
    draft = ScriptedEngine(lambda p, sp: (next(outs), "stop", "\n\n"))
    target = ScriptedEngine(target_writes(), const_score(9))
    p = solve(cfg(), target, draft).paths[0]
    assert p.text.count("</think>") == 1 and p.answer == "3"


def _per_path_steps(answer_after_by_role: dict[str, int], answers: dict[str, str]):
    """Draft whose path (identified by its role prompt) answers after a set number of steps."""

    def fn(prompt, params):
        role = next(r for r in answer_after_by_role if r in prompt)
        k = prompt.count("Step ")
        if k >= answer_after_by_role[role]:
            return f"Done \\boxed{{{answers[role]}}}", "stop", None
        return f"Step {k} of {role[:20]}", "stop", "\n\n"

    return fn


def _roles(n):
    from ssr.prompts import role_for_path

    return [role_for_path(i) for i in range(n)]


def test_fast1_stops_all_paths_at_the_first_finished_one():
    r = _roles(3)
    draft = ScriptedEngine(_per_path_steps({r[0]: 5, r[1]: 2, r[2]: 4}, {r[0]: "1", r[1]: "7", r[2]: "1"}))
    target = ScriptedEngine(target_writes(), const_score(9))
    out = solve(cfg(num_paths=3, use_role_prompts=True, fast=1), target, draft)
    assert out.decision.answer == "7" and out.decision.reason == "fast1_first_finished"
    assert [p.finish_reason for p in out.paths] == ["stopped_fast", "answer", "stopped_fast"]
    assert len(out.paths[0].steps) == 3  # stopped in the round path 1 finished


def test_fast2_waits_for_two_agreeing_paths():
    r = _roles(3)
    draft = ScriptedEngine(_per_path_steps({r[0]: 1, r[1]: 3, r[2]: 5}, {r[0]: "4", r[1]: "9", r[2]: "9"}))
    target = ScriptedEngine(target_writes(), const_score(9))
    out = solve(cfg(num_paths=3, use_role_prompts=True, fast=2), target, draft)
    assert out.decision.answer == "9" and out.decision.reason == "fast2_agreement"
    assert [p.finish_reason for p in out.paths] == ["answer", "answer", "answer"]
    out0 = solve(cfg(num_paths=3, use_role_prompts=True, fast=0), target, draft)
    assert out0.decision.reason == "majority" and out0.decision.answer == "9"


def test_ssr_selects_strategies_pads_and_seeds_one_path_each():
    def target_gen(prompt, params):
        if "numbered list of solution strategies" in prompt:
            assert params.temperature == 0.0
            return " 5, 42, 5", "stop", "\n"
        return "t", "stop", "\n\n"

    draft = ScriptedEngine(hashed_steps(answer_after=1))
    target = ScriptedEngine(target_gen, const_score(9))
    out = solve(cfg(method="ssr", method_num=3, strategy_pool_size=12), target, draft)
    assert out.selection.codes == [5, 0, 0] and out.selection.padded == 2
    assert [p.strategy for p in out.paths] == ["Number theory", "Unknown", "Unknown"]
    assert all(p.prompt_kind == "method" for p in out.paths)
    assert "Suggested approach: Number theory" in out.paths[0].user_message


def test_pool_size_ablation_rejects_codes_outside_the_pool():
    target = ScriptedEngine(lambda p, sp: ("9, 2" if "strategies" in p else "t", "stop", None), const_score(9))
    draft = ScriptedEngine(hashed_steps(answer_after=0))
    out = solve(cfg(method="ssr", method_num=2, strategy_pool_size=6), target, draft)
    assert out.selection.codes == [2, 0]
    assert "9. " not in [s for s in target.seen if "numbered list" in s][0].split("0. Unknown")[0]


def test_all_paths_of_a_round_share_one_call_per_phase():
    draft = ScriptedEngine(hashed_steps(answer_after=3))
    target = ScriptedEngine(
        target_writes(), lambda prompt: 9 if "Step 0" in prompt.rsplit(SCORE_SUFFIX, 1)[0][-40:] else 3
    )
    solve(cfg(num_paths=4, use_role_prompts=True), target, draft)
    assert draft.calls[0] == ("generate", 4)
    assert target.calls[0] == ("score", 4)


def test_base_and_parallel_generate_whole_paths_with_the_target_only():
    target = ScriptedEngine(lambda p, sp: (f"Work.\n\nSo \\boxed{{{sp.seed % 2}}}", "stop", None))
    out = solve(cfg(method="base"), target, None)
    assert len(out.paths) == 1 and out.decision.reason == "single_path" and not out.paths[0].steps
    out = solve(cfg(method="parallel", num_paths=5, use_role_prompts=True), target, None)
    assert len(out.paths) == 5 and target.calls[-1] == ("generate", 5)
    assert sum(out.decision.votes.values()) == 5


def test_budget_cut_generation_is_recorded_as_budget():
    target = ScriptedEngine(lambda p, sp: ("a " * 50, "stop", None))
    out = solve(cfg(method="base", token_budget=10), target, None)
    assert out.paths[0].finish_reason == "budget" and out.paths[0].used_tokens == 10


class Recording(ScriptedEngine):
    """Keeps the prompt objects of scoring calls, not only their renderings."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.score_prompts = []

    def score_digits(self, prompts, sessions=None):
        self.score_prompts += list(prompts)
        return super().score_digits(prompts)


def test_scoring_continues_the_path_the_draft_was_given():
    draft = ScriptedEngine(hashed_steps(answer_after=3))
    target = Recording(target_writes(), const_score(8))
    out = solve(cfg(num_paths=2, use_role_prompts=True), target, draft)
    assert len(target.score_prompts) == sum(len(p.steps) for p in out.paths) == 8
    for prompt in target.score_prompts:
        # the path's own prompt, then the step, the judging note and the answer prefix
        assert isinstance(prompt, Continuation)
        assert draft.render(prompt.prompt) in draft.seen
        assert prompt.text.endswith(SCORE_SUFFIX + SCORE_PREFIX)
    rendered = target.render(target.score_prompts[-1])
    assert "You are grading" not in rendered and "Suggested approach" not in rendered
    assert rendered.startswith(draft.seen[-1])  # the last draft request of that path, token for token
    first = target.render(target.score_prompts[0])
    assert first.split(SCORE_SUFFIX)[0].endswith(out.paths[0].steps[0].draft)


def test_grader_scoring_prompt_is_kept_for_ablation():
    draft = ScriptedEngine(hashed_steps(answer_after=2))
    target = Recording(target_writes(), const_score(8))
    solve(cfg(score_prompt="grader"), target, draft)
    rendered = [target.render(p) for p in target.score_prompts]
    assert rendered and all("You are grading one step" in r and SCORE_SUFFIX not in r for r in rendered)


def test_steps_record_the_scoring_pass_prompt_and_cache_tokens():
    draft = ScriptedEngine(hashed_steps(answer_after=2))
    target = Recording(target_writes(), const_score(3))
    p = solve(cfg(), target, draft).paths[0]
    for step, prompt in zip(p.steps, target.score_prompts):
        assert step.score_prompt_tokens == target.count_tokens(target.render(prompt)) > 0
        assert step.score_cached_tokens == 0  # what the scripted engine reports
        d = dataclasses.asdict(step)
        assert d["score_prompt_tokens"] == step.score_prompt_tokens and "score_cached_tokens" in d


def test_final_tokens_count_accepted_drafts_and_rewrites_only():
    draft = ScriptedEngine(lambda p, sp: ("a b c d" if "Target" not in p else "x \\boxed{2}", "stop", "\n\n"))
    target = ScriptedEngine(target_writes("Target one two"), const_score(2))
    p = solve(cfg(), target, draft).paths[0]
    assert [s.accepted for s in p.steps] == [False, False]
    # both drafts were rejected: the path holds only the target's 3 + 3 tokens (the draft wrote 4 + 2)
    assert p.used_tokens == 6 and dataclasses.asdict(p.to_record().tokens) == {
        "draft_generated": 6,
        "target_generated": 6,
        "final": 6,
    }


def test_raw_prompt_format_sends_plain_text_to_every_call():
    def target_gen(prompt, params):
        if "numbered list of solution strategies" in prompt:
            return " 5, 2", "stop", "\n"
        return "t", "stop", "\n\n"

    draft = ScriptedEngine(hashed_steps(answer_after=2))
    target = Recording(target_gen, const_score(4))
    out = solve(cfg(method="ssr", method_num=2, prompt_format="raw"), target, draft)
    user = out.paths[0].user_message
    seen = draft.seen + target.seen
    assert seen and not any("<user>" in s or "<assistant>" in s for s in seen)  # no chat template anywhere
    assert any(s.startswith(user + RAW_THINK_OPEN) for s in draft.seen)
    spm = next(s for s in target.seen if "numbered list of solution strategies" in s)
    assert spm.endswith(RAW_THINK_OPEN + "\n</think>\n\nStrategies:")  # thinking closed, answer at once
    for prompt in target.score_prompts:
        assert isinstance(prompt.prompt, str) and prompt.prompt.startswith("Suggested approach:")
        assert draft.render(prompt.prompt) in draft.seen


def solve_with_grader(c, target, draft):
    """Like ``solve`` but with the suite's real answer functions (boxed-only step ends)."""
    from ssr import extraction
    from ssr.runner import Job

    done = {}
    reasoner = Reasoner(c, target.render(_user(".")), equal, extraction.extract_answer, extraction.boxed_answer)
    sched = Scheduler(c, {"target": target, "draft": draft}, reasoner, lambda job, out: done.setdefault("o", out))
    sched.run([Job(Problem("math", 0, "What is 2+3?", "5", {}), 0, path=None)])  # type: ignore[arg-type]
    return done["o"]


@pytest.mark.parametrize(
    "thought",
    ["So the final answer is 5, but wait let me verify.", "the answer: maybe 12? Let me check", "Answer: \\boxed{5"],
)
def test_a_path_ends_only_on_a_complete_box(thought):
    outs = iter([thought, "Checked: \\boxed{5}."])
    draft = ScriptedEngine(lambda p, sp: (next(outs), "stop", "\n\n"))
    target = ScriptedEngine(target_writes(), const_score(9))
    out = solve_with_grader(cfg(fast=1), target, draft)
    p = out.paths[0]
    assert len(p.steps) == 2 and p.steps[0].draft == thought  # the thought did not end the path
    assert (p.finish_reason, p.answer, out.decision.answer) == ("answer", "5", "5")


def test_a_step_boxing_several_parts_answers_with_all_of_them():
    draft = ScriptedEngine(lambda p, sp: ("So $x=\\boxed{2}$ or $x=\\boxed{-3}$.", "stop", None))
    target = ScriptedEngine(target_writes(), const_score(9))
    p = solve_with_grader(cfg(), target, draft).paths[0]
    assert p.finish_reason == "answer" and p.answer == "2, -3"


def test_a_rewritten_step_ends_its_path_as_the_rewrite_ended_not_as_the_draft_did():
    # the draft stops at the blank line (it would go on); the rewrite ends its turn: the path ends there
    draft = ScriptedEngine(lambda p, sp: ("Draft step", "stop", "\n\n"))
    target = ScriptedEngine(target_writes("I am done.", stop=None), const_score(0))
    p = solve(cfg(), target, draft).paths[0]
    assert (p.finish_reason, len(p.steps), p.text) == ("eos", 1, "I am done.")
    # the draft ends its turn; the rewrite stops at the blank line: the path goes on (here until it repeats)
    draft = ScriptedEngine(lambda p, sp: ("I give up.", "stop", None))
    target = ScriptedEngine(target_writes("Target step"), const_score(0))
    p = solve(cfg(), target, draft).paths[0]
    assert (p.finish_reason, len(p.steps), p.steps[0].ended_on_blank) == ("repeated", 2, True)


def test_a_rewrite_is_capped_as_its_draft_was_by_the_step_limit_and_the_remaining_budget():
    caps = []

    def rewrite(prompt, params):
        caps.append(params.max_tokens)
        return f"t{len(caps)} x x", "stop", "\n\n"  # 3 tokens

    draft = ScriptedEngine(lambda p, sp: ("w w w w", "stop", "\n\n"))
    p = solve(cfg(token_budget=10, max_step_tokens=5), ScriptedEngine(rewrite, const_score(0)), draft).paths[0]
    assert caps == [5, 5, 4, 1]  # budget left: 10, 7, 4, 1
    assert (p.finish_reason, p.used_tokens) == ("budget", 10)


def test_a_tie_between_paths_goes_to_the_best_mean_score_not_to_the_earliest_path():
    from ssr.prompts import ROLES

    def draft_fn(prompt, params):
        return ("\\boxed{1}" if ROLES[0] in prompt else "\\boxed{2}"), "stop", None

    target = ScriptedEngine(target_writes(), lambda prompt: 7 if ROLES[0] in prompt else 8)
    out = solve(cfg(num_paths=2, use_role_prompts=True), target, ScriptedEngine(draft_fn))
    assert [(p.answer, p.mean_score()) for p in out.paths] == [("1", 7.0), ("2", 8.0)]
    assert (out.decision.answer, out.decision.reason) == ("2", "tie_break_score")


@pytest.mark.parametrize("method", ["spec", "parallel"])
def test_paths_with_the_same_prompt_are_sampled_with_their_own_seeds(method):
    """Plain prompts are identical on every path: only the seed tells the paths apart (drafts, rewrites and
    whole-path generations alike), and a path's seeds differ from round to round."""
    seeds = {"draft": [], "target": []}

    def record(model, fn):
        def wrapped(prompt, params):
            seeds[model].append(params.seed)
            return fn(prompt, params)
        return wrapped

    draft = ScriptedEngine(record("draft", hashed_steps(answer_after=2)))
    target = ScriptedEngine(record("target", lambda p, sp: (f"t {sp.seed}", "stop", "\n\n")), const_score(0))
    out = solve(cfg(method=method, num_paths=3), target, draft if method == "spec" else None)
    assert len(out.paths) == 3 and len({p.text for p in out.paths}) == 3
    for model in ("draft", "target") if method == "spec" else ("target",):
        assert seeds[model] and len(set(seeds[model])) == len(seeds[model])  # no two requests share a seed


# --- the authors' plain text (--prompt_format authors), on the fixture set imported from
# tests/fixtures/reference_repo (placeholder texts shaped like theirs). Each expected prompt is built as the
# cited line of YuanlinChu/SSR-Spec_Scale_Reasoning at commit 41e9519 builds it.
@pytest.fixture(scope="module")
def letters_set(tmp_path_factory):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("imp", root / "scripts" / "import_reference_prompts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.import_reference(root / "tests" / "fixtures" / "reference_repo", tmp_path_factory.mktemp("r") / "ref")


FIXTURE_SOLVE_TIPS = (  # fixture of spec_scale_reason.py:52-60 (get_first_user_msg, options None)
    "\n        SOLVE PLACEHOLDER (\n\n) \\boxed{{}}.\n\n        Tips: {method_prompt}\n\n"
    "        Problem: {problem}\n        "
)
FIXTURE_SOLVE_BASE = (  # fixture of ablation_exp/base_test.py:22-27
    "\n        BASE SOLVE PLACEHOLDER (\n\n) \\boxed{{}} {{literal}}.\n        Problem: {problem}\n        "
)


def _authors_run(letters_set, reply="B, B, M", **kw):
    calls = []

    def target_gen(prompt, params):
        calls.append((prompt, params))
        if "<think></think>" in prompt:
            return reply, "length", None
        return "Target step", "stop", "\n\n"

    def draft_gen(prompt, params):
        calls.append((prompt, params))
        k = prompt.count("Draft step")
        return (f"Draft step {k}", "stop", "\n\n") if k < 2 else ("so \\boxed{2}", "stop", None)

    target = Recording(target_gen, const_score(9))
    draft = ScriptedEngine(draft_gen)
    c = cfg(method="ssr", method_num=3, prompt_format="authors", prompt_set=str(letters_set.source), **kw)
    return solve(c, target, draft, problem="PROBLEM"), calls, target, draft


def test_authors_spm_prompt_tokens_and_repeated_picks(letters_set):
    out, calls, target, _ = _authors_run(letters_set)
    choose = letters_set.pool(12).spm.split("\n\nProblem:")[0]  # the fixture's math_choose_prompt
    spm, params = next((p, sp) for p, sp in calls if "<think></think>" in p)
    # spec_scale_reason.py:352 and :357
    prompt = f"{choose}\n\nProblem: PROBLEM"
    method_num = 3
    expected = (
        f"{prompt}\n\nSPM TAIL PLACEHOLDER **{method_num}** (e.g. {'B,E,F' if method_num == 3 else 'B,E'}) "
        f"{method_num} PLACEHOLDER\n<think></think>PREFIX PLACEHOLDER {method_num}: "
    )
    assert spm == expected
    assert params.max_tokens == method_num * 2 - 1 and params.stop == () and params.temperature == 0  # :362
    # the set allows repeats (the authors keep every re.findall match, :373): B twice, then M
    assert out.selection.codes == ["B", "B", "M"] and out.selection.padded == 0
    assert [p.strategy for p in out.paths] == ["Name B", "Name B", "Unknown"]


def test_authors_step_and_scoring_prompts_are_their_bytes(letters_set):
    out, calls, target, draft = _authors_run(letters_set)
    user = FIXTURE_SOLVE_TIPS.format(method_prompt="HINT B PLACEHOLDER.", problem="PROBLEM")
    assert out.paths[0].user_message == user
    drafts = [p for p, sp in calls if p.startswith(user) and sp.stop == ("\n\n",)]
    assert drafts[0] == user  # the first step: the bare user text (spec_scale_reason.py:439)
    steps = ["Draft step 0", "Draft step 1"]
    steps_so_far_str = "\n\n".join(steps) + "\n\n"  # :441
    assert f"{user}\n<think>{steps_so_far_str}" in drafts  # :442
    # scoring the third step (:481-483): the steps so far and the draft, a blank line, the note, the prefix
    steps_so_far_str = "\n\n".join(steps + ["so \\boxed{2}"]) + "\n\n"
    expected = f"{user}\n<think>{steps_so_far_str}\nSCORE NOTE PLACEHOLDER 0 to 9.\n<think>SCORE PREFIX PLACEHOLDER: "
    scored = [p for p in target.score_prompts if isinstance(p, str)]
    assert expected in scored and len(scored) == len(target.score_prompts)  # one string each, as theirs
    first = "\n\n".join(["Draft step 0"]) + "\n\n"
    assert f"{user}\n<think>{first}\nSCORE NOTE PLACEHOLDER 0 to 9.\n<think>SCORE PREFIX PLACEHOLDER: " in scored


def test_authors_rewrite_prompt_is_the_step_prompt(letters_set):
    # spec-reason's plain paths use base_test's template; a rejected first step is rewritten from the bare
    # user text (spec_scale_reason.py:515-516), a later one from the step prompt (:518-519)
    c = cfg(method="spec", num_paths=1, prompt_format="authors", prompt_set=str(letters_set.source))
    seen = []

    def target_gen(prompt, params):
        seen.append(prompt)
        return ("Target step", "stop", "\n\n") if len(seen) == 1 else ("\\boxed{1}", "stop", None)

    tgt = ScriptedEngine(target_gen, const_score(0))
    drf = ScriptedEngine(lambda p, sp: ("Draft step", "stop", "\n\n"))
    res = solve(c, tgt, drf, problem="PROBLEM")
    base = FIXTURE_SOLVE_BASE.format(problem="PROBLEM")
    assert res.paths[0].user_message == base
    assert seen == [base, f"{base}\n<think>" + "\n\n".join(["Target step"]) + "\n\n"]


def test_authors_baseline_prompt_is_their_bytes(letters_set):
    seen = []
    tgt = ScriptedEngine(lambda p, sp: (seen.append(p) or "\\boxed{2}", "stop", None))
    c = cfg(method="base", prompt_format="authors", prompt_set=str(letters_set.source))
    solve(c, tgt, None, problem="PROBLEM")
    # ablation_exp/base_test.py:57: prompt = get_first_user_msg(problem, options), sent as is
    assert seen == [FIXTURE_SOLVE_BASE.format(problem="PROBLEM")]
