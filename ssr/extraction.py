"""Answer extraction: the answer a reasoning step commits to, and the answer of a path.

``boxed_answer(text)``
    Its last box or box group (``\\boxed{}``/``\\fbox{}``; boxes that stand together, like
    ``\\boxed{2} and \\boxed{-3}``, are one answer ``"2, -3"``), else ``None``. No fallbacks: this
    decides whether a step ends a path.
``extract_answer(text, fallbacks=False)``
    A path's answer. By default the boxed rule (``boxed_answer``); with ``fallbacks=True`` a text
    without a box falls back to its last "final answer is X" / "Answer: X".
``path_answer_function(rule)``
    The extraction of ``--answer_rule`` (``ANSWER_RULES``): ``boxed`` or ``lenient`` (the fallbacks).

Whether an extracted answer is right is ``ssr.grading``'s question (as ``huggingface/Math-Verify``
keeps its parser apart from its grader); nothing here imports sympy.
"""

from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["ANSWER_RULES", "boxed_answer", "extract_answer", "path_answer_function"]

# How a path's answer is read from its text (--answer_rule): "boxed", its last box or box group only, for
# every method (a path cut by the budget without a box has no answer); "lenient", the textual fallbacks too.
ANSWER_RULES = ("boxed", "lenient")

# An escaped character (`\{`, `\}`, `\\`) is consumed whole, so it is never taken for a group brace.
_BOX_TOKEN = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])(\s*\{)?|\\.|[{}]", re.DOTALL)
_BARE_BOX_ARG = re.compile(r"\s*([^\s$]+)")
# Only the anchors are matched; the answer is the rest of the anchor's line, up to a sentence end.
_FINAL_ANSWER = re.compile(r"final\s+answer\s+is\s*:?", re.IGNORECASE)
_ANSWER_COLON = re.compile(r"answer\s*\**\s*[:：]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_MATH_SPAN = re.compile(r"\$\$?([^$]+)\$\$?|\\\((.+?)\\\)", re.DOTALL)
# A word of prose: two or more letters, not the name of a LaTeX command.
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
# What may stand between two boxes of one answer: spacing, punctuation, math delimiters, "and"/"or"
# (plain or in \text{}), and the left-hand side of the next part (`x =`, `x_2 =`, `\theta =`).
_CONNECTIVE = re.compile(
    r"(?:\s|[,;$&]|\\[()\[\]]|\\q?quad(?![A-Za-z])|\\[,;:! ]|~|\\text\s*\{\s*(?:and|or|,)?\s*\}"
    r"|\b(?:and|or)\b|(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*=)*"
)
_MAX_GAP = 120
_NUMBER = re.compile(r"(?<![\w.])[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?![\w])")


def _boxed_contents(text: str) -> list[tuple[int, int, str, bool]]:
    """All complete ``\\boxed``/``\\fbox`` arguments as ``(start, end, content, holds_a_box)``, in one pass.

    ``start`` is where the box command begins and ``end`` where its closing brace ends (for
    ``\\boxed 5``: where its argument ends); the list is in order of closing. ``holds_a_box`` marks a
    box whose content has a complete box inside (``\\boxed{\\boxed{5}}``). A single scan with an
    explicit stack (instead of ``rfind`` plus a brace walk per box) keeps the cost linear even for
    thousands of nested or unclosed boxes.
    """
    found: list[tuple[int, int, str, bool]] = []
    # For each open brace: [where its box content starts, or None for a plain group; where its box
    # command starts; whether a complete box was closed inside it].
    stack: list[list[Any]] = []
    for m in _BOX_TOKEN.finditer(text):
        tok = m.group(0)
        if tok.startswith(("\\boxed", "\\fbox")):
            if m.group(1) is not None:
                stack.append([m.end(), m.start(), False])
            else:  # `\boxed 5`: the argument is the next token
                arg = _BARE_BOX_ARG.match(text, m.end())
                if arg:
                    found.append((m.start(), arg.end(), arg.group(1).rstrip(".,;"), False))
                    if stack:
                        stack[-1][2] = True
        elif tok == "{":
            stack.append([None, None, False])
        elif tok == "}" and stack:
            start, command, inner = stack.pop()
            if start is not None:
                found.append((command, m.end(), text[start : m.start()], inner))
            if stack and (inner or start is not None):
                stack[-1][2] = True
    return found


def _answer_boxes(text: str) -> list[tuple[int, int, str]]:
    """The boxes that state an answer, as ``(start, end, stripped content)`` in text order.

    Empty boxes are skipped, and of nested boxes only the innermost counts.
    """
    boxes = [(a, b, content.strip()) for a, b, content, holds_a_box in _boxed_contents(text) if not holds_a_box]
    return sorted(b for b in boxes if b[2])


def _join_distinct(contents: list[str]) -> str:
    """``["2", "-3", "2"]`` -> ``"2, -3"``: the parts in order, a part written twice once."""
    seen: dict[str, str] = {}
    for content in contents:
        seen.setdefault(re.sub(r"\s+", "", content), content)
    return ", ".join(seen.values())


def _stand_together(gap: str) -> bool:
    """Whether two boxes with ``gap`` between them are parts of one answer (``$ or $x = ``, ``, ``)."""
    # a gap longer than any list's separator is prose (and is never handed to the regex)
    return len(gap) <= _MAX_GAP and not _BLANK_LINE.search(gap) and _CONNECTIVE.fullmatch(gap) is not None


def _last_box_group(boxes: list[tuple[int, int, str]], text: str) -> str | None:
    """The last box, joined with the boxes just before it that stand together with it."""
    if not boxes:
        return None
    group = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        if box[1] > group[0][0] or not _stand_together(text[box[1] : group[0][0]]):
            break
        group.insert(0, box)
    return _join_distinct([content for _, _, content in group])


def boxed_answer(text: str | None) -> str | None:
    """The answer a reasoning step (or a path) commits to, or ``None`` when it does not box one.

    Only a complete ``\\boxed{...}``/``\\fbox{...}`` counts: "the final answer is 5, but wait"
    or "Answer: 12?" is a thought, and a box left unclosed (``\\boxed{12``) is not an answer yet.
    The answer is the last box. Boxes that stand together, separated only by punctuation, math
    delimiters, spacing, "and"/"or" or a left-hand side (``x=\\boxed{2}`` and ``x=\\boxed{-3}``),
    are one answer with several parts, joined in text order with ``", "`` (``"2, -3"``), a box
    written twice counted once. Boxes apart ("First guess \\boxed{1}. On reflection the answer is
    \\boxed{2}.", or in two paragraphs) are a revision: the last one is the answer. Empty boxes are
    ignored; of nested boxes the innermost counts. Runs in linear time.
    """
    if not text:
        return None
    return _last_box_group(_answer_boxes(text), text)


def _after_last_anchor(pattern: re.Pattern[str], text: str) -> tuple[int, str] | None:
    """``(position, rest of the line)`` after the last match of ``pattern``."""
    last = None
    for m in pattern.finditer(text):
        last = m
    if last is None:
        return None
    end_of_line = text.find("\n", last.end())
    return last.start(), text[last.end() : end_of_line if end_of_line >= 0 else len(text)]


def _answer_in_prose(ans: str) -> str | None:
    """The answer inside a sentence: ``The largest $n$ is 34`` -> ``34``; ``None`` if not prose.

    A line with two or more words outside its math (LaTeX commands do not count) is a sentence;
    its answer is whichever comes last, its last ``$...$``/``\\(...\\)`` span or its last number.
    One word is an answer (``Evelyn``) or a unit (``12 ways``), so it is left alone.
    """
    spans = list(_MATH_SPAN.finditer(ans))
    outside = _MATH_SPAN.sub(lambda m: " " * len(m.group(0)), ans)
    if len(_PROSE_WORD.findall(outside)) < 2:
        return None
    candidates = [(m.start(), (m.group(1) or m.group(2) or "").strip()) for m in spans[-1:]]
    candidates += [(m.start(), m.group(0)) for m in list(_NUMBER.finditer(outside))[-1:]]
    candidates = [c for c in candidates if c[1]]
    return max(candidates)[1] if candidates else None


def _clean_fallback(ans: str) -> str:
    """Trim the sentence around an unboxed answer: ``$5$. I hope it is correct.`` -> ``5``."""
    end = _SENTENCE_END.search(ans)
    if end:
        ans = ans[: end.start()]
    ans = ans.strip()
    in_prose = _answer_in_prose(ans)
    if in_prose is not None:
        return in_prose
    ans = ans.rstrip(" .$*")
    ans = ans.lstrip("$* ")
    for wrap in (("\\(", "\\)"), ("\\[", "\\]")):
        if ans.startswith(wrap[0]) and ans.endswith(wrap[1]):
            ans = ans[len(wrap[0]) : -len(wrap[1])].strip()
    return ans


def extract_answer(text: str | None, fallbacks: bool = False) -> str | None:
    """Return the answer stated in ``text`` (a path), or ``None`` if it states none.

    The boxed rule (``boxed_answer``): the last box or box group. Nested braces are matched; a box
    left unclosed by a truncated generation is skipped, so earlier complete ones are used;
    ``\\boxed 5`` takes the single next token; of nested boxes the innermost counts.

    ``fallbacks=True`` (``--answer_rule lenient``): without a box, the last "final answer is X" or
    "Answer: X" is used: the rest of its line up to a sentence end, stripped of ``$``; when that is a
    sentence ("The largest $n$ is 34"), its last math span or number, whichever comes last. Runs in
    linear time.
    """
    if not text:
        return None
    boxed = boxed_answer(text)
    if boxed is not None or not fallbacks:
        return boxed
    candidates = [c for c in (_after_last_anchor(_FINAL_ANSWER, text), _after_last_anchor(_ANSWER_COLON, text)) if c]
    if not candidates:
        return None
    ans = _clean_fallback(max(candidates)[1])
    return ans or None


def lenient_answer(text: str | None) -> str | None:
    """``extract_answer`` with the textual fallbacks (``--answer_rule lenient``)."""
    return extract_answer(text, fallbacks=True)


def path_answer_function(rule: str) -> Callable[[str | None], str | None]:
    """How ``--answer_rule`` reads a path's answer from its text: ``boxed_answer`` or ``lenient_answer``."""
    if rule == "boxed":
        return boxed_answer
    if rule == "lenient":
        return lenient_answer
    raise ValueError(f"unknown answer rule {rule!r} ({' | '.join(ANSWER_RULES)})")
