"""Choosing a problem's answer from its paths: majority vote, tie rules, fast modes.

Two tie rules (``--tie_break``):

* ``paper`` (the paper's text): a strict majority wins; a tie, or all answers different, goes to the
  path with the best mean step score (a rewritten step counts 9); without step scores (Parallel),
  to the first of the tied answers.
* ``code`` (the authors' ``select_best_result`` of their Parallel and fast-mode scripts): the most
  common answer wins when it has two or more votes, between equally common answers the one seen
  first, represented by its path with the most tokens; when all answers differ, the path with the
  most tokens wins. The caller decides where it applies (``ssr.reasoning``: Parallel, Parallel-SPM
  and the votes of fast-mode runs; SSR without a fast mode keeps the paper's rule, as their full SSR
  script does).

All functions are pure and take the answer-equivalence test as an argument,
so they can be tested without the grader (and the grader can be swapped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

Equal = Callable[[str, str], bool]

# --fast: 0 off, 1 stop at the first finished path, 2 stop once two finished paths agree.
FAST_MODES = (0, 1, 2)
# --tie_break: "paper", the paper's rule (the best mean step score; Parallel: the first path); "code", the
# authors' select_best_result (Parallel, Parallel-SPM and fast-mode votes)
TIE_BREAKS = ("paper", "code")

# A step the target rewrote is taken to be one the target fully endorses.
REWRITTEN_STEP_SCORE = 9.0


@dataclass
class PathOutcome:
    index: int
    answer: str | None
    mean_score: float | None = None
    finished: bool = True  # ended with a final answer (not budget/repeat/stopped)
    tokens: int = 0  # the path's final tokens (the authors' num_tokens: the code tie rule's length)


@dataclass
class Decision:
    answer: str | None
    reason: str
    votes: dict[str, int] = field(default_factory=dict)


def mean_step_score(step_scores: Sequence[float], accepted: Sequence[bool]) -> float | None:
    """Mean over steps, with every rewritten step counted as REWRITTEN_STEP_SCORE."""
    if not step_scores:
        return None
    values = [s if ok else REWRITTEN_STEP_SCORE for s, ok in zip(step_scores, accepted)]
    return sum(values) / len(values)


def group_answers(outcomes: Sequence[PathOutcome], equal: Equal) -> list[list[PathOutcome]]:
    """Group paths whose answers are equivalent (first path of a group is its representative)."""
    groups: list[list[PathOutcome]] = []
    for o in outcomes:
        if o.answer is None:
            continue
        for g in groups:
            if equal(o.answer, g[0].answer):  # type: ignore[arg-type]
                g.append(o)
                break
        else:
            groups.append([o])
    return groups


def _pick(groups: list[list[PathOutcome]], winner_reason: str) -> Decision:
    """The paper's rule: a strict majority wins; on a tie, or when all answers differ, the single
    path with the highest mean step score among all candidate paths decides (not only the tied
    groups' paths: in a 2-2-1 split the lone path wins if its mean is the highest)."""
    votes = {g[0].answer: len(g) for g in groups}  # type: ignore[misc]
    top = max(len(g) for g in groups)
    tied = [g for g in groups if len(g) == top]
    if len(tied) == 1:  # with top == 1 this is a lone group: every group of one size is tied
        best, reason = tied[0], winner_reason
    else:
        scored = [o for g in groups for o in g if o.mean_score is not None]
        if scored:
            # max() keeps the first of equal scores, i.e. the earliest path
            champion = max(scored, key=lambda o: o.mean_score)  # type: ignore[arg-type, return-value]
            best = next(g for g in groups if champion in g)
            reason = "tie_break_score"
        else:
            best, reason = tied[0], "tie_break_first"
    return Decision(best[0].answer, reason, votes)  # type: ignore[arg-type]


def _pick_code(groups: list[list[PathOutcome]], winner_reason: str) -> Decision:
    """The authors' select_best_result: the first most common answer with two or more votes, else the
    longest path; ``max`` keeps the first of equal lengths, as theirs does."""
    votes = {g[0].answer: len(g) for g in groups}  # type: ignore[misc]
    top = max(groups, key=len)  # the first of the most common (their Counter.most_common)
    if len(top) >= 2:
        best, reason = max(top, key=lambda o: o.tokens), winner_reason
    else:
        best, reason = max((o for g in groups for o in g), key=lambda o: o.tokens), "tie_break_longest"
    return Decision(best.answer, reason, votes)


def _decide(groups: list[list[PathOutcome]], winner_reason: str, tie_break: str) -> Decision:
    if tie_break == "paper":
        return _pick(groups, winner_reason)
    if tie_break == "code":
        return _pick_code(groups, winner_reason)
    raise ValueError(f"unknown tie rule {tie_break!r} ({' | '.join(TIE_BREAKS)})")


def majority_vote(outcomes: Sequence[PathOutcome], equal: Equal, tie_break: str = "paper") -> Decision:
    """Most frequent answer; ties as ``tie_break`` says (module doc). Paths without an answer do not vote."""
    groups = group_answers(outcomes, equal)
    if not groups:
        return Decision(None, "no_answer")
    if len(outcomes) == 1:
        return Decision(groups[0][0].answer, "single_path", {groups[0][0].answer: 1})  # type: ignore[dict-item]
    return _decide(groups, "majority", tie_break)


def fast_decision(
    outcomes: Sequence[PathOutcome], mode: int, equal: Equal, tie_break: str = "paper"
) -> Decision | None:
    """Early stop: Fast-1 at the first finished path, Fast-2 once two finished paths agree.

    Returns None while the condition is not met. Paths that finish in the same round are considered
    together. ``paper``: with the rule of ``majority_vote`` (Fast-1: among the finished paths; Fast-2:
    among the paths of the agreeing answers, so two pairs that agree in the same round go to the best
    mean score). ``code``: the authors' rule over every finished path, as their fast script does once
    its condition is met.
    """
    if mode not in (1, 2):
        return None
    done = [o for o in outcomes if o.finished and o.answer is not None]
    groups = group_answers(done, equal)
    if mode == 1:
        return _decide(groups, "fast1_first_finished", tie_break) if done else None
    agreeing = [g for g in groups if len(g) >= 2]
    if not agreeing:
        return None
    return _decide(groups if tie_break == "code" else agreeing, "fast2_agreement", tie_break)
