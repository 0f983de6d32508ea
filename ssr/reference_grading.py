"""The authors' answer comparison (``--grader reference``), written from the rules their evaluation applies.

The authors' repository (``YuanlinChu/SSR-Spec_Scale_Reasoning`` at 41e9519: ``eval/baseline_eval.py`` and
``eval/spec_scale_eval.py``, ``compare_answers``/``normalize_math_expr``/``get_ground_truth``; their
extraction in ``spec_scale_reason.py``'s ``extract_final_answer``) compares answers more loosely in one
place and more strictly in others than ``ssr.grading``. To set this suite's numbers beside the paper's,
an evaluation can grade with these rules instead (or as well, in a second evaluation):

* an answer is first taken as their extraction leaves it: an integer when ``int()`` reads it
  (``"034"`` is 34), else the stripped string;
* AIME: both sides as integers (a gold answer that is not one: its trailing digits); an answer that
  is not an integer (``"34.0"``) is compared as a string;
* MATH: equal after ``normalize_math`` (below), else equal as floats (``"5.0"`` and ``"5"``);
  nothing symbolic (``"0.5"`` is not ``\\frac{1}{2}``);
* LiveMathBench: equal digits once every non-digit is dropped (so ``"-34"`` matches ``"34"``, and
  ``"1/2"`` matches ``"12"``), else equal after ``normalize_math``, else a ``a\\sqrt{b}`` pair equal in
  value. Their last resort, a sympy ``parse_latex`` comparison, is left out (``--grader math-verify``
  is the symbolic comparison);
* any other dataset: equal strings;
* votes (the majority over repeats, a re-vote): by exact value (``vote_key``), as their ``Counter``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

__all__ = ["is_correct", "normalize_math", "vote_key", "vote_equal", "grader_for"]

_THOUSANDS = re.compile(r"(\d),(\d)")
_TEXT = re.compile(r"\\text\{(.*?)\}")
_SQRT_DIGITS = re.compile(r"\\sqrt(\d+)")
_DEGREES = re.compile(r"(\d+)\^\\circ")
_PMATRIX = re.compile(r"\\begin\{pmatrix\}(.*?)\\end\{pmatrix\}")
_LHS = re.compile(r"^[a-z]=")
_NOT_DIGIT = re.compile(r"[^\d]")
_SQRT_TERM = re.compile(r"(\d*(?:\.\d+)?)\\sqrt\{(\d+(?:\.\d+)?)\}")
_TRAILING_DIGITS = re.compile(r"(\d+)$")


def authors_value(answer: Any) -> Any:
    """An answer as their extraction returns it: an ``int`` when ``int()`` reads it, else the stripped string."""
    if isinstance(answer, int):
        return answer
    text = str(answer).strip()
    try:
        return int(text)
    except ValueError:
        return text


def vote_key(answer: Any) -> Any:
    """What their vote counts: the exact value (``"034"`` and ``"34"`` are one vote, ``"1/2"`` and
    ``"\\frac{1}{2}"`` two)."""
    return authors_value(answer)


def vote_equal(a: str, b: str) -> bool:
    return vote_key(a) == vote_key(b)


def normalize_math(expr: Any) -> str:
    """Their normalisation, rule for rule: outer ``$`` off, thousands commas and all spaces out, ``\\dfrac``
    as ``\\frac``, ``\\text{..}`` unwrapped, ``\\sqrt2`` as ``\\sqrt{2}``, degrees off, ``\\left`` off and
    ``\\right)`` as ``)`` (their pattern for ``\\right`` itself never matches), ``pmatrix`` rows as commas,
    a space after ``\\pm``, a leading ``x=`` off."""
    if not isinstance(expr, str):
        return str(expr)
    expr = re.sub(r"^\$(.*)\$$", r"\1", expr)
    expr = re.sub(r"^\$(.*)\$", r"\1", expr)
    expr = _THOUSANDS.sub(r"\1\2", expr)
    expr = re.sub(r"\s+", "", expr)
    expr = expr.replace("\\dfrac", "\\frac")
    expr = _TEXT.sub(r"\1", expr)
    expr = expr.replace("\\\\sqrt", "\\sqrt")
    expr = _SQRT_DIGITS.sub(r"\\sqrt{\1}", expr)
    expr = _DEGREES.sub(r"\1", expr)
    expr = expr.replace("\\left", "").replace("\\right)", ")")
    expr = _PMATRIX.sub(lambda m: m.group(1).replace("\\\\", ","), expr)
    expr = expr.replace("\\pm", "\\pm ")
    return _LHS.sub("", expr)


def _gold_value(gold: Any, dataset: str) -> Any:
    if dataset == "aime":
        value = authors_value(gold)
        if isinstance(value, int):
            return value
        m = _TRAILING_DIGITS.search(str(gold))
        return int(m.group(1)) if m else None
    return authors_value(gold)


def _sqrt_value(norm: str) -> float | None:
    m = _SQRT_TERM.match(norm)
    if not m:
        return None
    return float(m.group(1) or 1) * math.sqrt(float(m.group(2)))


def _live_equal(pred: Any, gold: Any) -> bool:
    p, g = normalize_math(pred), normalize_math(gold)
    pd, gd = _NOT_DIGIT.sub("", p), _NOT_DIGIT.sub("", g)
    if pd and gd and int(pd) == int(gd):
        return True
    if p == g:
        return True
    pv, gv = _sqrt_value(p), _sqrt_value(g)
    return pv is not None and gv is not None and abs(pv - gv) < 1e-9


def _math_equal(pred: Any, gold: Any) -> bool:
    p, g = normalize_math(pred), normalize_math(gold)
    if p == g:
        return True
    try:
        return float(p) == float(g)
    except ValueError:
        return False


def is_correct(pred: Any, gold: Any, dataset: str) -> bool:
    """Whether ``pred`` matches ``gold`` by the authors' rules for ``dataset`` (module doc)."""
    if pred is None or gold is None:
        return False
    pred, gold = authors_value(pred), _gold_value(gold, dataset)
    if gold is None:
        return False
    try:
        if dataset == "aime":
            return int(pred) == int(gold)
        if dataset == "live":
            return _live_equal(pred, gold)
        if dataset == "math":
            return _math_equal(pred, gold)
        return str(pred) == str(gold)
    except (ValueError, TypeError):
        # as theirs: a failed numeric comparison falls back to the stripped strings
        return str(pred).strip() == str(gold).strip()


def grader_for(dataset: str) -> Callable[[str, str], bool]:
    """``is_correct`` for one dataset, as a two-argument comparison."""
    return lambda pred, gold: is_correct(pred, gold, dataset)
