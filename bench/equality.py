#!/usr/bin/env python
"""Do two run folders hold the same reasoning, record for record?

Two runs of one command under different schedules (lock-step and async) or batch sizes
(``--max_concurrent_problems`` 1 and 4) must agree on what the models wrote and decided: the strategy
selection, each path's text, its steps (draft, rewrite, accepted, score and score distribution to 1e-6),
its answer, the final answer and the reason for it. What may differ is how the requests were served:
usage, cache and forward-pass counts, timing, the schedule block, the plan and the config.

    python bench/equality.py FOLDER_A FOLDER_B [--json]

Exit status 0 when every shared (problem, repeat) agrees and both folders hold the same ones, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ssr.records import Record, load_records  # noqa: E402

TOLERANCE = 1e-6

Key = tuple[Any, int]  # (problem_id, repeat)


@dataclass
class Difference:
    """One field on which two records of the same (problem, repeat) disagree."""

    problem: Any
    repeat: int
    path: int | None  # None: a field of the record (selection, final answer)
    step: int | None  # None: a field of the path
    field: str
    a: Any
    b: Any

    def where(self) -> str:
        at = f"problem {self.problem} repeat {self.repeat}"
        if self.path is not None:
            at += f" path {self.path}"
        if self.step is not None:
            at += f" step {self.step}"
        return f"{at}: {self.field}"


@dataclass
class Comparison:
    """The outcome of comparing two folders: which records agree, which differ and where first."""

    agreeing: list[Key] = field(default_factory=list)
    differing: list[Key] = field(default_factory=list)
    only_a: list[Key] = field(default_factory=list)
    only_b: list[Key] = field(default_factory=list)
    # every (problem, repeat) that differs -> its differences, in reading order
    differences: dict[Key, list[Difference]] = field(default_factory=dict)
    # per field name, in how many records it differed at least once
    fields: dict[str, int] = field(default_factory=dict)
    # steps compared on both sides (paths of equal index), and how many of them agree on every step field
    steps_compared: int = 0
    steps_agreeing: int = 0
    # the largest gap between two compared steps' scores or score probabilities (however small)
    max_score_gap: float = 0.0

    @property
    def numeric_only(self) -> list[Key]:
        """Differing records whose every difference is a score (texts, answers and decisions all agree)."""
        return [k for k in self.differing if all(d.field in SCORE_FIELDS for d in self.differences[k])]

    @property
    def equal(self) -> bool:
        return not self.differing and not self.only_a and not self.only_b

    @property
    def first(self) -> Difference | None:
        return self.differences[self.differing[0]][0] if self.differing else None

    def summary(self) -> dict[str, Any]:
        """The comparison as JSON (for a benchmark report)."""
        first = self.first
        shared = len(self.agreeing) + len(self.differing)
        return {
            "equal": self.equal,
            "records_compared": shared,
            "records_agreeing": len(self.agreeing),
            "records_differing": len(self.differing),
            "record_agreement": len(self.agreeing) / shared if shared else None,
            "steps_compared": self.steps_compared,
            "steps_agreeing": self.steps_agreeing,
            "step_agreement": self.steps_agreeing / self.steps_compared if self.steps_compared else None,
            "records_differing_in_scores_only": len(self.numeric_only),
            "max_score_gap": self.max_score_gap,
            "only_in_a": [list(k) for k in self.only_a],
            "only_in_b": [list(k) for k in self.only_b],
            "differing": [list(k) for k in self.differing],
            "fields": dict(sorted(self.fields.items())),
            "first_divergence": asdict(first) if first else None,
        }


def close(a: Any, b: Any, tol: float = TOLERANCE) -> bool:
    """Equal, with numbers (and lists of numbers) equal to ``tol``."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tol
    return a == b


# what must agree, in the order a run produces it (the first difference found is the earliest one)
STEP_FIELDS = ("draft", "score", "score_probs", "accepted", "rewrite", "ended_on_blank")
PATH_FIELDS = ("prompt_kind", "role", "strategy", "text", "answer", "finish_reason", "mean_score")
SELECTION_FIELDS = ("raw", "codes", "strategies")
DECISION_FIELDS = ("final_answer", "answer_reason", "votes")
# the numbers compared to the tolerance: a difference in these alone leaves every text and decision equal
SCORE_FIELDS = ("score", "score_probs", "mean_score")


def _step_differences(a: Record, b: Record, path: int, step: int, sa: Any, sb: Any) -> list[Difference]:
    return [
        Difference(a.problem_id, a.repeat, path, step, name, getattr(sa, name), getattr(sb, name))
        for name in STEP_FIELDS
        if not close(getattr(sa, name), getattr(sb, name))
    ]


def record_differences(a: Record, b: Record) -> list[Difference]:
    """Where two records of one (problem, repeat) disagree on what the models wrote or decided; [] if nowhere.

    In the order a run produces them: the selection, then the steps by step index (path by path within
    one index, as a lock-step round goes), then each path's own fields, then the decision; so the first
    difference is where the two runs parted.
    """
    out: list[Difference] = []

    def add(name: str, va: Any, vb: Any, path: int | None = None) -> None:
        if not close(va, vb):
            out.append(Difference(a.problem_id, a.repeat, path, None, name, va, vb))

    sel_a, sel_b = a.selection, b.selection
    if (sel_a is None) != (sel_b is None):
        add("selection", asdict(sel_a) if sel_a else None, asdict(sel_b) if sel_b else None)
    elif sel_a is not None and sel_b is not None:
        for name in SELECTION_FIELDS:
            add(f"selection.{name}", getattr(sel_a, name), getattr(sel_b, name))
    paths_b = {p.index: p for p in b.paths}
    pairs = [(pa, paths_b[pa.index]) for pa in a.paths if pa.index in paths_b]
    steps = [
        d
        for pa, pb in pairs
        for k, (sa, sb) in enumerate(zip(pa.steps, pb.steps))
        for d in _step_differences(a, b, pa.index, k, sa, sb)
    ]
    out.extend(sorted(steps, key=lambda d: (d.step, d.path)))  # stable: field order kept within a step
    for pa, pb in pairs:
        add("steps (count)", len(pa.steps), len(pb.steps), pa.index)
        for name in PATH_FIELDS:
            add(name, getattr(pa, name), getattr(pb, name), pa.index)
    add("paths (indices)", [p.index for p in a.paths], [p.index for p in b.paths])
    for name in DECISION_FIELDS:
        add(name, getattr(a, name), getattr(b, name))
    return out


def _score_gap(sa: Any, sb: Any) -> float:
    gaps = [abs(sa.score - sb.score)]
    if len(sa.score_probs) == len(sb.score_probs):
        gaps += [abs(x - y) for x, y in zip(sa.score_probs, sb.score_probs)]
    return max(gaps)


def _steps_agreeing(a: Record, b: Record) -> tuple[int, int, float]:
    """Steps present on both sides (paths of one index, steps of one position), those agreeing fully,
    and the largest score gap among them."""
    paths_b = {p.index: p for p in b.paths}
    compared = agreeing = 0
    gap = 0.0
    for pa in a.paths:
        pb = paths_b.get(pa.index)
        if pb is None:
            continue
        for k, (sa, sb) in enumerate(zip(pa.steps, pb.steps)):
            compared += 1
            agreeing += not _step_differences(a, b, pa.index, k, sa, sb)
            gap = max(gap, _score_gap(sa, sb))
    return compared, agreeing, gap


def _sort_key(key: Key) -> tuple:
    pid, rep = key
    return (isinstance(pid, str), pid if not isinstance(pid, str) else 0, str(pid), rep)


def by_key(records: list[Record], where: str) -> dict[Key, Record]:
    """``{(problem_id, repeat): record}``; a folder holding two records of one key is refused (two runs in it)."""
    out: dict[Key, Record] = {}
    for r in records:
        key = (r.problem_id, r.repeat)
        if key in out:
            raise ValueError(
                f"{where} holds two records of problem {r.problem_id} repeat {r.repeat} "
                f"({out[key].source} and {r.source}): pass the folder of a single run"
            )
        out[key] = r
    return out


def compare_records(a: list[Record], b: list[Record], where: tuple[str, str] = ("A", "B")) -> Comparison:
    """Compare two runs' records by (problem, repeat)."""
    ra, rb = by_key(a, where[0]), by_key(b, where[1])
    out = Comparison(
        only_a=sorted(set(ra) - set(rb), key=_sort_key),
        only_b=sorted(set(rb) - set(ra), key=_sort_key),
    )
    for key in sorted(set(ra) & set(rb), key=_sort_key):
        diffs = record_differences(ra[key], rb[key])
        compared, agreeing, gap = _steps_agreeing(ra[key], rb[key])
        out.steps_compared += compared
        out.steps_agreeing += agreeing
        out.max_score_gap = max(out.max_score_gap, gap)
        if diffs:
            out.differing.append(key)
            out.differences[key] = diffs
            for name in {d.field for d in diffs}:
                out.fields[name] = out.fields.get(name, 0) + 1
        else:
            out.agreeing.append(key)
    return out


def compare_folders(folder_a: str | Path, folder_b: str | Path) -> Comparison:
    """Compare the complete records below two run folders (``ssr.records.load_records``)."""
    return compare_records(
        load_records(folder_a).records, load_records(folder_b).records, (str(folder_a), str(folder_b))
    )


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def describe(c: Comparison, name_a: str = "A", name_b: str = "B") -> str:
    """A few lines for a terminal or a report."""
    s = c.summary()
    lines = [
        f"records: {s['records_agreeing']} agree, {s['records_differing']} differ "
        f"(of {s['records_compared']} in both; {len(c.only_a)} only in {name_a}, {len(c.only_b)} only in {name_b})",
        f"steps: {c.steps_agreeing} of {c.steps_compared} agree (paths of one index, steps of one position); "
        f"largest score gap {c.max_score_gap:.3g} (tolerance {TOLERANCE:g})",
    ]
    if c.differing:
        lines.append(f"records differing in scores only (texts, answers, decisions equal): {len(c.numeric_only)}")
    if c.fields:
        lines.append("fields differing (records): " + ", ".join(f"{k} {v}" for k, v in s["fields"].items()))
    first = c.first
    if first is not None:
        lines += [
            f"first divergence: {first.where()}",
            f"  {name_a}: {_short(first.a)}",
            f"  {name_b}: {_short(first.b)}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder_a")
    parser.add_argument("folder_b")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="compare only the (problem, repeat) pairs both folders hold (one run a subset of the other)",
    )
    args = parser.parse_args(argv)
    for folder in (args.folder_a, args.folder_b):
        if not Path(folder).is_dir():
            print(f"error: {folder} is not a folder", file=sys.stderr)
            return 2
    try:
        c = compare_folders(args.folder_a, args.folder_b)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(c.summary(), indent=1, default=str) if args.json else describe(c))
    return 0 if (not c.differing if args.shared else c.equal) else 1


if __name__ == "__main__":
    sys.exit(main())
