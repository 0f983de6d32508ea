"""Evaluating records under another answer rule (``--answer_rule`` of the eval scripts).

A record holds the rule its paths' answers were read with (``config.answer_rule``). Evaluated under
another rule, each path's answer is read again from its text (``ssr.extraction.path_answer_function``)
and the problem's answer is voted again with the record's own tie rule, as the run would have voted.

* Records without ``answer_rule`` predate the option: base and parallel runs then read answers with
  the textual fallbacks (``lenient``), spec and ssr runs only from boxes (``boxed``), so that is
  what they are taken to hold.
* Fast-mode runs (``config.fast`` > 0) are refused: which paths finished, and when the run stopped,
  depended on the rule, so their records cannot say what the other rule would have given.
* A path that loses its answer gets the finish reason it would have had: ``budget`` when it used
  the whole token budget, else ``eos``; one that gains an answer finishes with ``answer``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

from ssr.aggregation import PathOutcome, majority_vote
from ssr.extraction import path_answer_function
from ssr.methods import is_speculative
from ssr.records import Record

Equal = Callable[[str, str], bool]


class AnswerRuleError(Exception):
    """Records that cannot be evaluated under the requested rule (fast-mode runs)."""


def recorded_rule(record: Record) -> str:
    """The rule ``record``'s path answers were read with (module doc: records that predate the option)."""
    rule = (record.config or {}).get("answer_rule")
    if rule:
        return str(rule)
    return "boxed" if is_speculative(str(record.method)) else "lenient"


def _tie_rule(record: Record) -> str:
    """The tie rule the run voted with: ``--tie_break`` where the run applied it (``ssr.reasoning``)."""
    cfg = record.config or {}
    tie_break = str(cfg.get("tie_break") or "paper")
    if is_speculative(str(record.method)) and not cfg.get("fast"):
        return "paper"
    return tie_break


def reread(record: Record, rule: str, equal: Equal) -> Record:
    """``record`` with its paths' answers read by ``rule`` and its answer voted again (same tie rule)."""
    extract = path_answer_function(rule)
    budget = (record.config or {}).get("token_budget")
    paths = []
    for p in record.paths:
        answer = extract(p.text)
        reason = p.finish_reason
        if answer is not None:
            reason = "answer"
        elif reason == "answer":
            reason = "budget" if budget and p.tokens.final >= int(budget) else "eos"
        paths.append(dataclasses.replace(p, answer=answer, finish_reason=reason))
    outcomes = [
        PathOutcome(p.index, p.answer, p.mean_score, p.finish_reason == "answer", p.tokens.final) for p in paths
    ]
    decision = majority_vote(outcomes, equal, _tie_rule(record))
    config = {**(record.config or {}), "answer_rule": rule}
    return dataclasses.replace(
        record,
        paths=paths,
        final_answer=decision.answer,
        answer_reason=decision.reason,
        votes=decision.votes,
        config=config,
    )


def apply_answer_rule(records: Sequence[Record], rule: str | None, equal: Equal) -> tuple[list[Record], int]:
    """The records under ``rule`` (None: as recorded) and how many were read again.

    Raises ``AnswerRuleError`` naming the folders of fast-mode runs that would need reading again.
    """
    if rule is None:
        return list(records), 0
    path_answer_function(rule)  # an unknown rule fails here, before any record is read
    fast = sorted({str(Path(str(r.source)).parent) for r in records if recorded_rule(r) != rule and _fast(r)})
    if fast:
        raise AnswerRuleError(
            f"--answer_rule {rule}: fast-mode runs cannot be evaluated under another answer rule than the one they "
            f"ran with (which paths finished, and when the run stopped, depended on it): {', '.join(fast)}. "
            "Evaluate them without --answer_rule, or rerun them with the rule"
        )
    out, changed = [], 0
    for r in records:
        if recorded_rule(r) == rule:
            out.append(r)
        else:
            out.append(reread(r, rule, equal))
            changed += 1
    return out, changed


def _fast(record: Record) -> bool:
    return bool((record.config or {}).get("fast"))
