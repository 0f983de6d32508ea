"""How each prompt is made from a prompt set's texts (``ssr.prompt_sets``; the texts are data, in ``prompts/``).

The user messages (a path's solve prompt, SPM's instruction, the grader message) are filled from the
set's templates here; how they reach a model is keyed by the prompt format:

* ``chat``: each model's chat template (``ssr.reasoning.continued``);
* ``raw``: plain text, the user's text then an opened thinking block ``"\\n<think>\\n"``;
* ``authors``: the authors' exact plain text (their ``spec_scale_reason.py``, ``ablation_exp/*.py`` at
  commit 41e9519): a path's first step is generated from the bare user text, later ones from
  ``user + "\\n<think>" + "\\n\\n".join(steps) + "\\n\\n"``; scoring appends ``"\\n" + note + "\\n<think>" +
  prefix`` after the step and its blank line; SPM and other one-shot answers are ``user + "\\n<think></think>"
  + prefix``. The ``authors_*`` functions below build those bytes.

The module-level names (``STRATEGIES``, ``ROLES``, ``SCORE_SUFFIX``...) are the shipped ``ssr`` set's, for
callers that need no other set; every function takes ``ps`` to render from another one.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ssr.prompt_sets import POOL_SIZES, Pool, PromptSet, Strategy, render, shipped

__all__ = ["POOL_SIZES", "Pool", "PromptSet", "Strategy"]


def _ps(ps: PromptSet | None) -> PromptSet:
    return ps if ps is not None else shipped("ssr")


UNKNOWN: Strategy = shipped().pool(12).unknown
STRATEGIES: tuple[Strategy, ...] = shipped().pool(15).strategies
ROLES: tuple[str, ...] = shipped().roles
STEP_FORMAT: str = shipped().text("step_format")
SELECTION_PREFIX: str = shipped().text("spm_prefix", n=3)
SCORE_PREFIX: str = shipped().text("score_prefix")


def strategy_pool(size: int = 12, ps: PromptSet | None = None) -> tuple[Strategy, ...]:
    if size not in POOL_SIZES:
        raise ValueError(f"strategy pool size must be one of {POOL_SIZES}, got {size}")
    return _ps(ps).pool(size).strategies


def strategy_by_code(code: int | str, ps: PromptSet | None = None) -> Strategy:
    """The strategy of ``code`` in the set's largest pool that has it (the unknown included)."""
    for size in sorted(_ps(ps).pools, reverse=True):
        try:
            return _ps(ps).pools[size].by_code(code)
        except KeyError:
            continue
    raise KeyError(code)


def role_for_path(index: int, ps: PromptSet | None = None) -> str:
    roles = _ps(ps).roles
    return roles[index % len(roles)]


def solve_message(
    problem: str, role: str | None = None, strategy: Strategy | None = None, ps: PromptSet | None = None
) -> str:
    """The user message that starts one reasoning path: the set's solve prompt for a strategy, a role or neither."""
    s = _ps(ps)
    step_format = s.text("step_format")
    if strategy is not None:
        return s.text(
            "solve_strategy", problem=problem, strategy=strategy.name, hint=strategy.hint, code=strategy.code,
            step_format=step_format,
        )
    if role:
        return s.text("solve_role", problem=problem, role=role, step_format=step_format)
    return s.text("solve", problem=problem, step_format=step_format)


def _as_pool(pool: Pool | Sequence[Strategy], ps: PromptSet) -> Pool:
    if isinstance(pool, Pool):
        return pool
    pool = tuple(pool)
    size = len(pool) if len(pool) in ps.pools else 12
    return Pool(len(pool), pool, ps.pool(size).unknown, ps.pool(size).spm)


def listing(pool: Pool) -> str:
    """``{listing}``: one line per strategy, then the unknown (when it is not in the pool already)."""
    lines = [f"{s.code}. {s.name}: {s.hint}" for s in pool.strategies]
    if pool.unknown not in pool.strategies:
        lines.append(f"{pool.unknown.code}. {pool.unknown.name}: {pool.unknown.hint}")
    return "\n".join(lines)


def selection_message(problem: str, n: int, pool: Pool | Sequence[Strategy], ps: PromptSet | None = None) -> str:
    """SPM: ask the target for the n strategies most likely to solve the problem (the pool's instruction)."""
    s = _ps(ps)
    p = _as_pool(pool, s)
    return render(p.spm, {"problem": problem, "n": n, "listing": listing(p), "example": s.example(n)})


def selection_prefix(n: int, ps: PromptSet | None = None) -> str:
    return _ps(ps).text("spm_prefix", n=n)


def step_judging_message(problem: str, previous_steps: str, step: str, ps: PromptSet | None = None) -> str:
    """``--score_prompt grader`` (ablation): the target judges one proposed step in a message of its own;
    its next token is the score digit."""
    s = _ps(ps)
    previous = previous_steps.strip() or s.text("grader_no_steps")
    return s.text("grader", problem=problem, previous_steps=previous, step=step.strip())


# --- scoring as a continuation of the path (the default; the reference code's way)
# The target reads the path exactly as the draft continued it, then the proposed step, then the set's
# scoring note in the path's own voice (inside the thinking block of a reasoning model, so the judge sees
# its own chain of thought), then the answer prefix; its next token is the score. The shipped note is kept
# short (25 tokens in Qwen's tokenizer): every token here is prefilled on every scoring pass and can never
# come from the cache. A 57-token wording ranked the same 113 demo steps with Spearman 0.83 against it at
# 1.7x the prefill (bench/results/calibration-*.json).
def score_suffix(ps: PromptSet | None = None) -> str:
    """chat and raw: what follows the step before the score prefix."""
    return "\n\n" + _ps(ps).text("score_note") + "\n"


SCORE_SUFFIX = score_suffix()


def scoring_continuation(step: str, ps: PromptSet | None = None) -> str:
    """chat and raw: what follows the path's own prompt in a scoring pass: the step, the note, the prefix."""
    return step + score_suffix(ps) + _ps(ps).text("score_prefix")


# --score_prompt: "continuation" (above, the default) or "grader", the separate grading message of
# ``step_judging_message`` (an ablation; the value is kept as old records name it).
SCORE_PROMPTS = ("continuation", "grader")
# --score_method: how the target's digit distribution becomes a step's score: the most likely digit
# ("greedy", the paper's) or the expected digit ("average").
SCORE_METHODS = ("greedy", "average")

# --- prompt formats (see the module's docstring)
PROMPT_FORMATS = ("chat", "raw", "authors")
RAW_THINK_OPEN = "\n<think>\n"


def raw_prompt(user_text: str, assistant_text: str = "") -> str:
    """The ``raw`` format: user text, an opened thinking block, and what the model wrote so far."""
    return user_text + RAW_THINK_OPEN + assistant_text


# Appended after a generation prompt that opens a thinking block, so that a
# reasoning model answers the selection or scoring question at once instead of
# thinking first (one forward pass, as the paper's scoring requires).
THINK_CLOSE = "\n</think>\n\n"


def answer_prefix(generation_prompt: str, prefix: str) -> str:
    """Assistant prefix for a one-shot answer, closing a thinking block the template opened."""
    # "<think>\n" + "\n</think>\n\n" is the empty thinking block Qwen-family models know.
    if generation_prompt.rstrip().endswith("<think>"):
        return THINK_CLOSE + prefix
    return prefix


# --- the authors' plain text (--prompt_format authors)
AUTHORS_THINK = "\n<think>"  # spec_scale_reason.py:442 (a later step), :483 (scoring)
AUTHORS_ANSWER = "\n<think></think>"  # spec_scale_reason.py:357 (SPM)
AUTHORS_STEP_JOIN = "\n\n"


def authors_steps(steps: Iterable[str]) -> str:
    """``"\\n\\n".join(steps) + "\\n\\n"``, or nothing before the first step."""
    steps = list(steps)
    return AUTHORS_STEP_JOIN.join(steps) + AUTHORS_STEP_JOIN if steps else ""


def authors_path(user_text: str, steps: Sequence[str]) -> str:
    """A path to be continued: the bare user text before its first step, then the steps in a thinking block."""
    return user_text + AUTHORS_THINK + authors_steps(steps) if steps else user_text


def authors_score(user_text: str, steps: Sequence[str], step: str, ps: PromptSet | None = None) -> str:
    """Scoring ``step`` after ``steps``: the path with the step, a blank line, the note and the prefix."""
    s = _ps(ps)
    return (
        user_text + AUTHORS_THINK + authors_steps([*steps, step])
        + "\n" + s.text("score_note") + AUTHORS_THINK + s.text("score_prefix")
    )


def authors_answer(user_text: str, prefix: str) -> str:
    """A one-shot answer (SPM, the grader message): an empty thinking block, then the prefix."""
    return user_text + AUTHORS_ANSWER + prefix
