"""Answer comparison for the SSR benchmarks (AIME 2024, MATH-500, LiveMathBench AMC).

Public API
----------
``normalize_answer(s)``
    A canonical string for an answer; equal strings mean equal answers (used to group votes).
``is_equivalent(pred, gold, timeout=5.0)``
    Whether a predicted answer matches the reference.

Answers are extracted from text by ``ssr.extraction``; this module only compares them.
How ``is_equivalent`` decides, cheapest first:

1. string match of the normalised forms (``$``, ``\\left``, ``\\dfrac``, degrees, units, ``x=`` ...);
2. answers whose meaning is a string, not a number (choice letters, words, base-``b`` numerals),
   are compared as strings and never reach sympy;
3. plain numbers and simple fractions are compared exactly with ``fractions.Fraction``;
4. unordered lists (``2, -3``) are compared part by part, as sets (steps 1-3, then 5, per part);
5. everything else goes to ``math-verify`` (sympy) in a separate worker process
   (``ssr.grading_worker``), with a hard wall-clock limit: on timeout the worker is killed and the
   verdict is ``False``. Two equations are sent as written (``2x - y + 3 = 0`` against
   ``y = 2x + 3``), other answers without ``y =``.

A comparison that raises gives ``False`` too (a grader must not crash an evaluation), but it is
logged as a warning, so that a broken rule cannot hide behind the answers that are really unequal.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
from fractions import Fraction
from typing import Any

from ssr.extraction import extract_answer
from ssr.grading_worker import SympyWorker

__all__ = ["normalize_answer", "is_equivalent", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 5.0

# Real answers are short; a longer "answer" is a runaway generation, not worth a sympy parse.
_MAX_SYMPY_CHARS = 1000

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- normalisation

# A row break `\\` is matched first, so that its second backslash is not taken for `\ `.
_SPACING = re.compile(r"(\\\\)|\\[!,;:> ]|\\q?quad(?![A-Za-z])|~|\\displaystyle(?![A-Za-z])")
_SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lr]?)(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![A-Za-z])")
_TEXT_CMD = re.compile(r"\\(?:mbox|textrm|textnormal|textbf|textit|mathrm)(?![A-Za-z])")
_WHOLE_TEXT = re.compile(r"^\\text\s*\{([^{}]*)\}$")
# A trailing `\text{ units}` (optionally squared) after some mathematics is a unit, not the answer.
_TRAILING_TEXT_UNIT = re.compile(r"^(.*\S)\s*\\text\s*\{\s*[A-Za-z][A-Za-z. ]*\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?$")
_UNIT_WORD = re.compile(r"[A-Za-z]{2,}(?:\^\{?[23]\}?)?")
_LHS = re.compile(r"^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*(?:=|\\in(?![A-Za-z]))\s*(.+)$", re.DOTALL)
_FRAC_DIGITS = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_DIGIT_DEN = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d)")
_FRAC_DIGIT_NUM = re.compile(r"\\frac\s*(\d)\s*\{")
_SQRT_DIGIT = re.compile(r"\\sqrt\s*(\d)")
_BASE_SUBSCRIPT = re.compile(r"_\s*\{\s*\(?\s*(\d+)\s*\)?\s*\}")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_CHOICE = re.compile(r"^\(([A-E])\)$|^([A-E])$")
_UNICODE = {"−": "-", "–": "-", "π": "\\pi", "∞": "\\infty", "×": "\\times", "·": "\\cdot"}
# Upright `\mathrm{e}` and `\mathrm{i}` are the constants e and i: sympy cannot read them in text
# form (`1-\frac{1}{\text{e}}` parses as its prefix `1`).
_UPRIGHT_CONSTANT = re.compile(r"\\(?:mathrm|text|textrm|textnormal|mbox|mathit|rm|operatorname)\s*\{\s*([ei])\s*\}")
_OPERATOR_NAME = re.compile(
    r"\\operatorname\s*\{\s*(sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|log|ln|exp|lg|gcd|det)\s*\}"
)
_PLUS_MINUS = re.compile(r"\\pm(?![A-Za-z])")
_NOT_AN_EQUATION = re.compile(r"[<>]|\\(?:le|ge|leq|geq|lt|gt|ne|neq|in|approx|sim|equiv)(?![A-Za-z])")
# Unordered lists longer than this are compared as a whole, not part by part.
_MAX_LIST_PARTS = 16


def _strip_delimiters(s: str) -> str:
    """Drop math-mode delimiters and sentence punctuation around an answer."""
    s = s.strip()
    for left, right in (("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right):
            s = s[len(left) : -len(right)]
    s = s.replace("\\$", "")  # a currency sign
    s = s.strip().strip("$").strip()
    return s.rstrip(".").strip()


def _unwrap_box(s: str) -> str:
    """``\\boxed{5}`` -> ``5`` when the whole string is one box (graders get raw boxes too)."""
    if s.startswith(("\\boxed", "\\fbox")):
        inner = extract_answer(s)
        if inner is not None:
            return inner
    return s


def _canonical_latex(s: str) -> str:
    """Spelling-level LaTeX variants that never change the value."""
    for old, new in _UNICODE.items():
        s = s.replace(old, new)
    s = re.sub(r",\s*\\!\s*", ",", s)  # `10,\!080`: the thousands-separator idiom
    s = _SPACING.sub(lambda m: m.group(1) or " ", s)
    s = _SIZING.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _UPRIGHT_CONSTANT.sub(lambda m: (" " if m.start() and s[m.start() - 1].isalpha() else "") + m.group(1), s)
    s = _OPERATOR_NAME.sub(r"\\\1 ", s)
    s = _TEXT_CMD.sub(r"\\text", s)
    s = _DEGREES.sub("", s)
    s = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_DIGIT_DEN.sub(r"\\frac\1{\2}", s)
    s = _FRAC_DIGIT_NUM.sub(r"\\frac{\1}{", s)
    s = _SQRT_DIGIT.sub(r"\\sqrt{\1}", s)
    s = _BASE_SUBSCRIPT.sub(r"_\1", s)
    return re.sub(r"\s+", " ", s).strip()


def _drop_units(s: str) -> str:
    """``5.4 \\text{ cents}`` -> ``5.4``; ``864 inches^2`` -> ``864``; ``\\text{Evelyn}`` stays."""
    m = _TRAILING_TEXT_UNIT.match(s) if "\\text" in s else None
    if m:
        s = m.group(1).strip()
    # Plain trailing words count as units only after a number: `x y z` or `2 ab` are algebra.
    tokens = s.split(" ")
    n_value = len(tokens)
    while n_value > 1 and _UNIT_WORD.fullmatch(tokens[n_value - 1]):
        n_value -= 1
    if n_value < len(tokens) and _as_rational("".join(tokens[:n_value])) is not None:
        s = " ".join(tokens[:n_value])
    return s


def _unwrap_text(s: str) -> str:
    """``\\text{(C)}`` -> ``(C)``, ``\\text{Evelyn}`` -> ``Evelyn``: the text is the answer."""
    m = _WHOLE_TEXT.match(s)
    return m.group(1).strip() if m else s


def _drop_lhs(s: str) -> str:
    """``x=5`` -> ``5`` and ``x \\in [-2,7]`` -> ``[-2,7]``; equations like ``5x+4=0`` stay."""
    m = _LHS.match(s)
    if m and "=" not in m.group(1):
        return m.group(1).strip()
    return s


def _choice_letter(s: str) -> str:
    """``(C)`` -> ``C`` (a lone capital A-E is a multiple-choice label)."""
    m = _CHOICE.match(s.replace(" ", ""))
    return (m.group(1) or m.group(2)) if m else s


def _light_normalize(s: Any, drop_lhs: bool = True) -> str:
    """Value-preserving clean-up; the result is still LaTeX that sympy can parse."""
    s = _strip_delimiters(str(s))
    s = _unwrap_box(s)
    s = _strip_delimiters(s)
    s = _canonical_latex(s)
    s = _drop_units(s)
    s = _unwrap_text(s)
    if drop_lhs:
        s = _drop_lhs(s)
    return _choice_letter(s)


def _is_thousands(light: str) -> bool:
    """``338,551`` is one number; ``5, 100`` (a space after the comma) is a list of two."""
    return bool(_THOUSANDS.match(light.strip()))


def _key(light: str, thousands: bool) -> str:
    """The comparison string: no whitespace, words case-folded, optionally no thousands commas."""
    key = re.sub(r"\s+", "", light)
    if key.isalpha() and len(key) >= 3:  # a word answer (`Evelyn`), not a product of variables
        key = key.lower()
    return key.replace(",", "") if thousands and _is_thousands(light) else key


def _bracket_events(s: str) -> list[tuple[int, int]]:
    """``(position, +1/-1/0)`` for each opening bracket, closing bracket and comma of ``s``.

    ``(``, ``[``, ``{`` and ``\\{`` open, their partners close (an interval's ``(3,4]`` is fine);
    other escaped characters (``\\}`` aside) are skipped.
    """
    events = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            nxt = s[i + 1 : i + 2]
            if nxt in ("{", "}"):
                events.append((i, 1 if nxt == "{" else -1))
            i += 2
            continue
        if c in "([{":
            events.append((i, 1))
        elif c in ")]}":
            events.append((i, -1))
        elif c == ",":
            events.append((i, 0))
        i += 1
    return events


def _split_top_level(s: str) -> list[str]:
    """``2, -3`` -> ``["2", "-3"]``: split at the commas outside every bracket."""
    parts, depth, start = [], 0, 0
    for pos, delta in _bracket_events(s):
        if delta == 0 and depth == 0:
            parts.append(s[start:pos])
            start = pos + 1
        depth = max(0, depth + delta)
    parts.append(s[start:])
    return [part.strip() for part in parts if part.strip()]


def _set_braces_content(s: str) -> str | None:
    """``\\{1,2\\}`` -> ``1,2`` when the braces are one pair around the whole string."""
    if not (s.startswith("\\{") and s.endswith("\\}")):
        return None
    depth = 0
    for pos, delta in _bracket_events(s):
        depth += delta
        if depth == 0 and delta and pos < len(s) - 2:
            return None
    return s[2:-2].strip()


def _list_parts(light: str) -> list[str]:
    """The parts of ``light`` read as an unordered list of answers (one part if it is not a list).

    A list is written with commas outside brackets (``2, -3``; ``x=2, x=-3``), optionally in set
    braces (``\\{1,2\\}``); ``a \\pm b`` stands for the two parts ``a + b`` and ``a - b``. Tuples and
    intervals (``(2,-3)``, ``(1,2]``) are one part, and so is a thousands-separated number.
    """
    if len(light) > _MAX_SYMPY_CHARS or _is_thousands(light):
        return [light]
    inner = _set_braces_content(light)
    parts = []
    for part in _split_top_level(inner if inner is not None else light):
        if len(_PLUS_MINUS.findall(part)) == 1 and "\\mp" not in part:
            for sign in ("+", "-"):
                signed = _PLUS_MINUS.sub(sign, part)
                parts.append(re.sub(r"^\+\s*", "", re.sub(r"^-\s+", "-", signed)))
        else:
            parts.append(part)
    return parts or [light]


def _is_equation(light: str) -> bool:
    """``2x - y + 3 = 0``, ``y = 2x + 3``: one ``=``, no inequality, not a list."""
    if light.count("=") != 1 or _NOT_AN_EQUATION.search(light) or len(_split_top_level(light)) != 1:
        return False
    lhs, rhs = light.split("=")
    return bool(lhs.strip() and rhs.strip())


def normalize_answer(s: str | None) -> str:
    """Canonical string form of an answer: two answers with the same form are equal.

    Removes ``$``, ``\\left``/``\\right``, spacing commands, degree signs, units, ``x=``, and
    thousands commas (``338,551``); ``\\dfrac`` becomes ``\\frac``; ``\\text{(C)}`` becomes ``C``.
    An unordered list (``x=2, x=-3``, ``\\{-3,2\\}``, ``-3, 2, 2``) becomes its distinct parts,
    each normalised, in sorted order (``-3,2``); tuples and intervals keep their order.
    The converse does not hold (``0.5`` and ``\\frac{1}{2}`` differ here): use ``is_equivalent``.
    """
    if s is None:
        return ""
    light = _light_normalize(s)
    parts = _list_parts(light)
    if len(parts) > 1:
        return ",".join(sorted({_key(_light_normalize(part), thousands=False) for part in parts}))
    return _key(light, thousands=True)


# --------------------------------------------------------------------------- in-process decisions

_INT = r"[+-]?\d+"
_DEC = r"[+-]?(?:\d+\.\d*|\.\d+|\d+)"
_PLAIN_NUMBER = re.compile(rf"^{_DEC}$")
_FRAC = re.compile(rf"^([+-]?)\\frac\{{({_DEC})\}}\{{({_DEC})\}}$")
_SLASH = re.compile(rf"^({_INT})/({_INT})$")
_MIXED = re.compile(r"^([+-]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}$")
_BASE_NUMERAL = re.compile(r"^([0-9A-Z]+)_(\d+)$")  # `52_8`, `A3_{12}`; not `x_1`


def _as_rational(key: str) -> Fraction | None:
    """Exact value of an integer, decimal, ``\\frac{a}{b}``, ``a/b`` or mixed number ``1\\frac{4}{5}``."""
    try:
        if _PLAIN_NUMBER.match(key):
            return Fraction(key)
        m = _FRAC.match(key)
        if m:
            value = Fraction(m.group(2)) / Fraction(m.group(3))
            return -value if m.group(1) == "-" else value
        m = _SLASH.match(key)
        if m:
            return Fraction(int(m.group(1)), int(m.group(2)))
        m = _MIXED.match(key)
        if m:
            value = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return -value if m.group(1) == "-" else value
    except (ZeroDivisionError, ValueError):
        return None
    return None


def _is_word(light: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z ]+", light)) and len(light.replace(" ", "")) >= 3


def _decide_string_answer(pred_key: str, gold_key: str, gold_light: str, gold_raw: str) -> bool | None:
    """Verdict for golds whose meaning is a string (sympy would read ``east`` as ``e*a*s*t``)."""
    if _CHOICE.match(gold_key):
        return _choice_letter(pred_key) == gold_key
    base = _BASE_NUMERAL.match(gold_key)
    if base and any(c.isdigit() for c in base.group(1)):  # `AB_2` is a subscripted symbol
        # The question names the base, so the bare digits `52` are the same answer as `52_8`.
        return pred_key.upper() in (gold_key.upper(), base.group(1).upper())
    if "\\text" in gold_raw and _is_word(gold_light):
        return pred_key.lower() == gold_key.lower()
    return None


def _decide_numbers(pred_key: str, gold_key: str) -> bool | None:
    """Exact comparison of plain numbers; ``None`` when sympy must decide."""
    p, g = _as_rational(pred_key), _as_rational(gold_key)
    if p is None or g is None:
        return None
    if p == g:
        return True
    if _PLAIN_NUMBER.match(pred_key) and _PLAIN_NUMBER.match(gold_key):
        return False
    # A fraction against a rounded decimal (1/3 vs 0.333333): math-verify's rounding rule decides.
    return False if not ("." in pred_key or "." in gold_key) else None


# --------------------------------------------------------------------------- math-verify, through the worker

_WORKER = SympyWorker()
atexit.register(_WORKER.close)

_VERDICTS: dict[tuple[str, str], bool] = {}
_VERDICTS_LOCK = threading.Lock()
_VERDICTS_MAX = 100_000
# A request is not sent with less time than this left of a longer budget: it would only time out.
_MIN_REQUEST_SECONDS = 0.05


class _Budget:
    """The seconds of sympy time one ``is_equivalent`` call may still spend (over all its requests)."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        # Below this many seconds left, a request would only kill the worker: it is not sent.
        self.floor = min(_MIN_REQUEST_SECONDS, seconds)


def _sympy_equal(pred: str, gold: str, budget: _Budget) -> bool:
    """math-verify's verdict via the worker, cached; a timeout counts as not equal (uncached)."""
    key = (pred, gold)
    with _VERDICTS_LOCK:
        if key in _VERDICTS:
            return _VERDICTS[key]
    if budget.left <= 0 or budget.left < budget.floor:
        return False
    verdict, spent = _WORKER.compare(gold, pred, budget.left)
    budget.left -= spent
    if verdict is None:
        budget.left = 0.0
        return False
    with _VERDICTS_LOCK:
        if len(_VERDICTS) >= _VERDICTS_MAX:
            _VERDICTS.clear()
        _VERDICTS[key] = verdict
    return verdict


# --------------------------------------------------------------------------- equivalence


def is_equivalent(pred: str | None, gold: str | None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether the predicted answer ``pred`` means the same as the reference answer ``gold``.

    Both are answer strings (not whole solutions; a string that is one ``\\boxed{}`` is unwrapped).
    Cheap checks run in-process; only answers they cannot settle go to math-verify in a worker
    process. All the sympy work of one call shares ``timeout`` seconds (the worker's start is not
    counted): a request that overruns kills the worker and the verdict is ``False``. Never raises,
    never hangs, and is safe to call from any thread.

    Unordered lists (``2, -3``; see ``_list_parts``) are compared as sets: every part of each side
    equals some part of the other, so ``2, -3`` equals ``-3,2`` and ``x=2, x=-3``, and a
    prediction that boxed one value in two forms (``15\\frac{39}{40}, \\frac{639}{40}``) equals
    the single gold ``\\frac{639}{40}``. Tuples, intervals and thousands-separated numbers are not
    lists. Two equations are compared as equations (``2x - y + 3 = 0`` equals ``y = 2x + 3``).
    """
    if pred is None or gold is None:
        return False
    try:
        return _is_equivalent(str(pred), str(gold), _Budget(float(timeout)))
    except Exception:  # noqa: BLE001 - a grader must give a verdict, not crash an evaluation
        logger.warning("comparing %r against %r raised; counted as not equal", pred, gold, exc_info=True)
        return False


def _is_equivalent(pred: str, gold: str, budget: _Budget, lists: bool = True) -> bool:
    gold_light, pred_light = _light_normalize(gold), _light_normalize(pred)
    if not gold_light or not pred_light:
        return False
    # Thousands commas are stripped from the prediction only when the gold is a number, so the
    # tuple `(1,2)` or the list `1,234` is never read as a number.
    gold_key = _key(gold_light, thousands=True)
    numeric_gold = _as_rational(gold_key) is not None
    pred_key = _key(pred_light, thousands=numeric_gold)
    if not numeric_gold:
        gold_key = _key(gold_light, thousands=False)
    if pred_key == gold_key:
        return True
    for decide in (
        lambda: _decide_string_answer(pred_key, gold_key, gold_light, gold),
        lambda: _decide_numbers(pred_key, gold_key),
        lambda: _decide_lists(pred_light, gold_light, budget) if lists else None,
    ):
        verdict = decide()
        if verdict is not None:
            return verdict
    if len(pred_light) > _MAX_SYMPY_CHARS or len(gold_light) > _MAX_SYMPY_CHARS:
        return False
    # `_light_normalize` reads `y = 2x + 3` as its value `2x + 3`; against another equation
    # (`2x - y + 3 = 0`), math-verify compares the two equations as written.
    pred_eq, gold_eq = _light_normalize(pred, drop_lhs=False), _light_normalize(gold, drop_lhs=False)
    if _is_equation(pred_eq) and _is_equation(gold_eq) and _sympy_equal(pred_eq, gold_eq, budget):
        return True
    return _sympy_equal(pred_light, gold_light, budget)


def _decide_lists(pred_light: str, gold_light: str, budget: _Budget) -> bool | None:
    """Set comparison when either side is an unordered list; ``None`` when it cannot settle it.

    ``True`` when every part on each side equals some part on the other. ``False`` only when all
    parts are plain numbers; otherwise the whole strings still go to math-verify, which keeps its
    verdicts on tuples against lists and similar mixed forms.
    """
    pred_parts, gold_parts = _list_parts(pred_light), _list_parts(gold_light)
    if len(pred_parts) < 2 and len(gold_parts) < 2:
        return None
    if len(pred_parts) > _MAX_LIST_PARTS or len(gold_parts) > _MAX_LIST_PARTS:
        return None
    verdicts: dict[tuple[int, int], bool] = {}

    def equal(i: int, j: int) -> bool:
        if (i, j) not in verdicts:
            verdicts[(i, j)] = _is_equivalent(pred_parts[i], gold_parts[j], budget, lists=False)
        return verdicts[(i, j)]

    pred_range, gold_range = range(len(pred_parts)), range(len(gold_parts))
    if all(any(equal(i, j) for j in gold_range) for i in pred_range) and all(
        any(equal(i, j) for i in pred_range) for j in gold_range
    ):
        return True
    if all(_as_rational(_key(_light_normalize(part), thousands=False)) is not None for part in pred_parts + gold_parts):
        return False
    return None
