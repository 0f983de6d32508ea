"""Every prompt the suite sends to a model, in one place.

The wording is this project's own.  The strategy pool follows the twelve
families of the SSR paper's Appendix D (plus "unknown"); three extra
strategies exist only for the ``--strategy_pool_size 15`` ablation.
``python -m ssr.prompts --dump prompts/`` renders them all to ``prompts/`` for
reading; a test keeps that folder in sync with this module.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class Strategy:
    code: int
    name: str
    hint: str  # what the method prompt asks the path to do


UNKNOWN = Strategy(
    0,
    "Unknown",
    "No specific technique is prescribed: read the problem closely and pick whatever approach fits it best.",
)

STRATEGIES: tuple[Strategy, ...] = (
    Strategy(1, "Algebraic simplification",
             "Rewrite the given expressions into simpler equivalent forms (factor, expand, cancel, "
             "collect terms) until the answer can be read off."),
    Strategy(2, "Substitution",
             "Introduce new variables or substitute known relations so that the problem turns into a "
             "simpler or more familiar one."),
    Strategy(3, "Coordinate geometry",
             "Place the figure in a coordinate system and turn the geometric conditions into "
             "equations on coordinates."),
    Strategy(4, "Complex numbers",
             "Model the quantities as complex numbers (roots of unity, polar form, conjugates) and compute with them."),
    Strategy(5, "Number theory",
             "Use divisibility, modular arithmetic, prime factorisation, gcd/lcm and parity to "
             "constrain the unknowns."),
    Strategy(6, "Combinatorics",
             "Count systematically: bijections, complementary counting, inclusion-exclusion, stars "
             "and bars, binomial identities."),
    Strategy(7, "Probability",
             "Define the sample space and events precisely, then use symmetry, conditioning, "
             "linearity of expectation or complements."),
    Strategy(8, "Functional equations",
             "Plug in well-chosen values, look for injectivity or symmetry, and guess then verify "
             "the form of the function."),
    Strategy(9, "Recursion and invariants",
             "Find a recurrence, an invariant or a monovariant that captures the process, then solve or exploit it."),
    Strategy(10, "Euclidean geometry",
             "Reason synthetically with similar triangles, angle chasing, power of a point, circle "
             "theorems and areas."),
    Strategy(11, "Casework",
             "Split the problem into exhaustive, non-overlapping cases and settle each one separately."),
    Strategy(12, "Calculus and inequalities",
             "Use derivatives, monotonicity, AM-GM, Cauchy-Schwarz or other inequalities to bound or "
             "optimise the quantity."),
    # Only for the pool-size ablation (--strategy_pool_size 15).
    Strategy(13, "Generating functions",
             "Encode the sequence or count as coefficients of a polynomial or power series and manipulate the series."),
    Strategy(14, "Extremal principle and pigeonhole",
             "Consider the largest or smallest object, or distribute objects into boxes, to force "
             "the required structure."),
    Strategy(15, "Vectors and linear algebra",
             "Represent the objects as vectors or matrices and use dot products, determinants or linear independence."),
)

POOL_SIZES = (6, 9, 12, 15)


def strategy_pool(size: int = 12) -> tuple[Strategy, ...]:
    if size not in POOL_SIZES:
        raise ValueError(f"strategy pool size must be one of {POOL_SIZES}, got {size}")
    return STRATEGIES[:size]


def strategy_by_code(code: int) -> Strategy:
    if code == UNKNOWN.code:
        return UNKNOWN
    for s in STRATEGIES:
        if s.code == code:
            return s
    raise KeyError(code)


ROLES: tuple[str, ...] = (
    "You are a careful competition mathematician who double-checks every computation before moving on.",
    "You are a creative problem solver who looks for an elegant shortcut before doing heavy computation.",
    "You are a patient teacher who explains each deduction in small, verifiable steps.",
    "You are a skeptical reviewer who tests each intermediate claim on a small example.",
    "You are an olympiad coach who first identifies the structure of the problem, then attacks it directly.",
    "You are a methodical engineer who writes down every quantity and equation explicitly.",
    "You are a number-sense expert who estimates the answer first and then proves it exactly.",
    "You are a geometer at heart who draws a picture, even for algebra problems.",
)


def role_for_path(index: int) -> str:
    return ROLES[index % len(ROLES)]


STEP_FORMAT = (
    "Solve the problem step by step. Write each step as one short paragraph and separate "
    "consecutive steps with a blank line. When you are done, give the final answer as \\boxed{ANSWER}."
)


def solve_message(problem: str, role: str | None = None, strategy: Strategy | None = None) -> str:
    """The user message that starts one reasoning path."""
    parts = []
    if role:
        parts.append(role)
    if strategy is not None:
        if strategy.code == UNKNOWN.code:
            parts.append(f"Suggested approach: none in particular. {strategy.hint}")
        else:
            parts.append(f"Suggested approach: {strategy.name}. {strategy.hint}")
    parts.append(f"Problem:\n{problem}")
    parts.append(STEP_FORMAT)
    return "\n\n".join(parts)


def selection_message(problem: str, n: int, pool: Sequence[Strategy]) -> str:
    """SPM: ask the target for the n strategies most likely to solve the problem."""
    listing = "\n".join(f"{s.code}. {s.name}: {s.hint}" for s in pool)
    listing += f"\n{UNKNOWN.code}. {UNKNOWN.name}: none of the above clearly applies."
    return (
        f"Here is a math problem:\n{problem}\n\n"
        f"Below is a numbered list of solution strategies:\n{listing}\n\n"
        f"Do not solve the problem. Choose the {n} different strategies most likely to lead to a correct "
        f"solution, best first, and reply only with their numbers separated by commas "
        f"(format: {', '.join(chr(ord('a') + i) for i in range(n))})."
    )


SELECTION_PREFIX = "Strategies:"


def step_judging_message(problem: str, previous_steps: str, step: str) -> str:
    """``--score_prompt grader`` (ablation): the target judges one proposed step in a message of its own;
    its next token is the score digit."""
    previous = previous_steps.strip() or "(none yet: this is the first step)"
    return (
        "You are grading one step of a solution to a math problem.\n\n"
        f"Problem:\n{problem}\n\n"
        f"Steps so far:\n{previous}\n\n"
        f"Proposed next step:\n{step.strip()}\n\n"
        "Rate the proposed next step from 0 to 9: 9 means it is correct and moves the solution forward, "
        "5 means it is doubtful or unhelpful, 0 means it contains a clear error. Reply with one digit only."
    )


SCORE_PREFIX = "Score: "

# --- scoring as a continuation of the path (the default; the reference code's way)
# The target reads the path exactly as the draft continued it, then the proposed
# step, then this note in the path's own voice (inside the thinking block of a
# reasoning model, so the judge sees its own chain of thought), then the answer
# prefix; its next token is the score. Kept short (25 tokens in Qwen's tokenizer):
# every token here is prefilled on every scoring pass and can never come from the
# cache. It asks only about correctness and logical validity, as the paper's
# scoring does. A 57-token wording ranked the same 113 demo steps with Spearman
# 0.83 against this one at 1.7x the prefill (bench/results/calibration-*.json).
SCORE_SUFFIX = "\n\n(Is the step above correct and logically valid? Score 0 = wrong to 9 = certainly correct.)\n"


def scoring_continuation(step: str) -> str:
    """What follows the path's own prompt in a scoring pass: the step, the judging note, the answer prefix."""
    return step + SCORE_SUFFIX + SCORE_PREFIX


# --score_prompt: "continuation" (above, the default) or "grader", the separate grading message of
# ``step_judging_message`` (an ablation; the value is kept as old records name it).
SCORE_PROMPTS = ("continuation", "grader")
# --score_method: how the target's digit distribution becomes a step's score: the most likely digit
# ("greedy", the paper's) or the expected digit ("average").
SCORE_METHODS = ("greedy", "average")

# --- prompt formats
# chat: every prompt goes through each model's own chat template (the default).
# raw:  plain text as the authors' code sends it, no chat template: the user's
#       text, then a thinking block holding the steps joined by blank lines.
PROMPT_FORMATS = ("chat", "raw")
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


def all_prompts_text() -> dict[str, str]:
    """Every prompt with placeholders, for the prompts/ folder."""
    problem = "{problem}"
    out = {
        "solve_plain.txt": solve_message(problem),
        "solve_role.txt": solve_message(problem, role="{role}"),
        "solve_method.txt": solve_message(problem, strategy=Strategy(-1, "{strategy}", "{hint}")),
        "select_strategies.txt": selection_message(problem, 3, strategy_pool(12))
        + f"\n\n[assistant prefix] {SELECTION_PREFIX}",
        "score_step.txt": "[the path's own prompt, token for token: the solve prompt and the steps so far]"
        + scoring_continuation("{step}"),
        "score_step_message.txt": step_judging_message(problem, "{previous_steps}", "{step}")
        + f"\n\n[assistant prefix] {SCORE_PREFIX}",
        "roles.txt": "\n".join(f"{i}. {r}" for i, r in enumerate(ROLES)),
        "strategies.txt": "\n".join(f"{s.code}. {s.name}: {s.hint}" for s in (UNKNOWN, *STRATEGIES))
        + "\n\nPool sizes: 6, 9 and 12 take the first strategies in this order; 15 adds 13-15.",
    }
    return {k: v.rstrip("\n") + "\n" for k, v in out.items()}


def dump(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in all_prompts_text().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render every prompt to a folder for reading.")
    parser.add_argument("--dump", default="prompts", help="folder to write (default: prompts/)")
    args = parser.parse_args(argv)
    for path in dump(args.dump):
        print(path)


if __name__ == "__main__":
    main()
