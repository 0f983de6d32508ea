"""The data the HTML page carries: its index (runs, one row per record, notes, skipped files) and the records.

Layout (read back by :func:`read_page_data`, used by the tests):

* ``<script type="application/json" id="ssr-data">``: the index: runs with their configuration and
  summary, one row per record (what the problem list filters and sorts on), the problems' texts,
  skipped files, notes.
* ``<script type="application/json" id="rec-<i>">``: record ``i`` in full, parsed and rendered only
  when the reader opens it, so a folder of thousands of records opens at once.

All JSON is written with ``<``, ``>``, ``&``, U+2028 and U+2029 as ``\\uXXXX`` escapes, so no model
text can close the ``<script>`` element (:func:`script_json`).

Row fields used by the filters:

* ``st``: ``"correct"`` (the final answer is right), ``"none"`` (no final answer), else ``"wrong"``.
* ``cmp``: against the dataset's baseline run (``--baseline_dir``, or a ``base`` run among the
  folders): ``"gain"`` when this record is right and the baseline is wrong on the problem, ``"loss"``
  for the reverse, ``""`` otherwise (or no baseline, or a baseline record itself). The baseline counts
  as right on a problem when at least half of its repeats are right.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import defaultdict
from typing import Any, Callable

from ssr.analysis.evaluate import Evaluation
from ssr.analysis.loading import Graded, Run, as_int
from ssr.analysis.schedule import timeline_lanes
from ssr.records import THINK_END, Path, Record, path_text, usage_json

DATA_ID = "ssr-data"
RECORD_ID_PREFIX = "rec-"
PROBS_DIGITS = 3  # score_probs are rounded to this many decimals in the page (0.1 %)

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (JSON.parse rejects them), tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def script_json(value: Any) -> str:
    """JSON text that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` (so ``</script>`` and ``<!--`` cannot end or alter the element) and
    U+2028/U+2029 are written as ``\\uXXXX`` escapes; JSON.parse turns them back into the same characters.
    """
    text = json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


def record_status(graded: Graded) -> str:
    """``correct`` | ``wrong`` | ``none`` (no final answer) for one graded record."""
    if graded.record.final_answer is None:
        return "none"
    return "correct" if graded.correct else "wrong"


def _vote_groups(record: Record, grader: Callable[[str | None, str | None], bool]) -> list[dict[str, Any]]:
    """The vote, answer by answer: its count, the paths that gave it and their mean step score.

    The runner merged equivalent answers under the first one's text (the key of ``votes``); each path
    is put back under the key it matches, by text first, then with the grader. ``score`` is the mean
    of those paths' ``mean_score``, the value a tie between equally voted answers is broken on.
    """
    keys = list(record.votes)
    paths = record.paths
    members: dict[str, list[int]] = {k: [] for k in keys}
    for i, p in enumerate(paths):
        if p.answer is None or not keys:
            continue
        key = (
            p.answer
            if p.answer in members
            else (keys[0] if len(keys) == 1 else next((k for k in keys if grader(p.answer, k)), None))
        )
        if key is not None:
            members[key].append(i)
    out = []
    for k in keys:
        scores = [paths[i].mean_score for i in members[k] if paths[i].mean_score is not None]
        out.append(
            {
                "answer": k,
                "votes": record.votes[k],
                "paths": [paths[i].index for i in members[k]],
                "score": (sum(scores) / len(scores)) if scores else None,
                "chosen": k == record.final_answer,
            }
        )
    return out


def step_text_separators(path: Path) -> str | None:
    """The path's text as the page rebuilds it from its steps, or None when the page must carry the text.

    One character per step, ``"1"`` when the step ended on the blank line, else ``"0"``: the page
    joins the kept steps with those blank lines (its script does not drop a second ``</think>``, so a
    path where that happened keeps its text).
    """
    steps = path.steps
    if not steps or sum(THINK_END in s.text for s in steps) > 1:
        return None
    # with at most one </think> among the steps, the loop's rule (path_text) is the page's plain join
    if path_text(steps) != path.text:
        return None
    return "".join("1" if s.ended_on_blank else "0" for s in steps)


def _round_probs(probs: list[float]) -> list[float]:
    return [round(p, PROBS_DIGITS) if isinstance(p, float) and math.isfinite(p) else p for p in probs]


def record_page_data(graded: Graded, grader: Callable[[str | None, str | None], bool]) -> dict[str, Any]:
    """Everything the page shows for one record (the per-record JSON block).

    The record's ``config`` and ``models`` are left out (the run header shows them once); every path
    carries ``correct`` (``Graded.path_correct``); a speculative path whose text is exactly its kept
    steps carries ``text_seps`` instead of ``text`` (see :func:`step_text_separators`); ``timeline`` is
    the record's requests per engine (``ssr.analysis.schedule.timeline_lanes``), None for a record without a
    schedule block.
    """
    rec = graded.record
    paths = []
    for i, p in enumerate(rec.paths):
        q = dataclasses.asdict(p)
        q["correct"] = bool(graded.path_correct[i]) if i < len(graded.path_correct) else None
        q["steps"] = []
        for s in p.steps:
            step = dataclasses.asdict(s)
            del step["ended_on_blank"]  # carried by text_seps
            step["score_probs"] = _round_probs(step["score_probs"])
            q["steps"].append(step)
        seps = step_text_separators(p)
        if seps is not None:
            q["text"], q["text_seps"] = None, seps
        paths.append(q)
    return {
        "method": rec.method,
        "dataset": rec.dataset,
        "problem_id": rec.problem_id,
        "repeat": rec.repeat,
        "problem": rec.problem,
        "gold": graded.gold,
        "gold_in_record": rec.gold_answer,
        "final_answer": rec.final_answer,
        "correct": bool(graded.correct),
        "status": record_status(graded),
        "answer_reason": rec.answer_reason,
        "votes": rec.votes,
        "vote_groups": _vote_groups(rec, grader),
        "selection": dataclasses.asdict(rec.selection) if rec.selection else None,
        "paths": paths,
        "usage": {role: usage_json(u) for role, u in rec.usage.items()},
        "stats": dataclasses.asdict(rec.stats),
        "timing": dataclasses.asdict(rec.timing),
        "timeline": timeline_lanes(rec.schedule),
        "file": str(rec.source) if rec.source else None,
    }


def _run_models(run: Run) -> dict[str, Any]:
    for g in run.graded:
        if g.record.models:
            return {role: info.get("name") or info.get("path") for role, info in g.record.models.items() if info}
    return {}


def _baseline_scores(base: Run) -> dict[Any, tuple[int, int]]:
    """problem id -> (right repeats, repeats) of a baseline run."""
    return {pid: (sum(g.correct for g in gs), len(gs)) for pid, gs in base.by_problem().items()}


def page_baselines(ev: Evaluation) -> dict[str, Run]:
    """dataset -> the baseline run the page compares with: the evaluation's, else the largest base run."""
    out: dict[str, Run] = {}
    for dataset, base in ev.baselines.items():
        # a baseline folder also given as a result folder: the page shows that run once
        out[dataset] = next((r for r in ev.runs if r.run_dir == base.run_dir and r.dataset == dataset), base)
    for r in ev.runs:
        if r.method == "base" and r.dataset not in out:
            candidates = [b for b in ev.runs if b.method == "base" and b.dataset == r.dataset]
            out[r.dataset] = max(candidates, key=lambda b: len(b.graded))
    return out


def comparison_flag(correct: bool, baseline: tuple[int, int] | None) -> str:
    """``gain`` | ``loss`` | ``""`` for a record against the baseline's (right, repeats) on its problem."""
    if baseline is None or baseline[1] == 0:
        return ""
    base_right = baseline[0] * 2 >= baseline[1]
    if correct and not base_right:
        return "gain"
    if not correct and base_right:
        return "loss"
    return ""


def page_data(ev: Evaluation) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The page's index (``id="ssr-data"``) and its records (``id="rec-<i>"``, in row order)."""
    baselines = page_baselines(ev)
    base_scores = {ds: _baseline_scores(b) for ds, b in baselines.items()}
    # the baseline's own records are listed too (after the runs), to open next to the run's
    shown = list(ev.runs) + [b for b in baselines.values() if not any(b is r for r in ev.runs)]
    run_entries = []
    rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    problems: dict[str, dict[str, str]] = defaultdict(dict)
    for ri, run in enumerate(shown):
        summary = ev.summaries[ri] if ri < len(ev.runs) else ev.baseline_summaries.get(run.dataset) or {}
        base = baselines.get(run.dataset)
        is_base = base is run
        run_entries.append(
            {
                "id": ri,
                "label": run.label,
                "dataset": run.dataset,
                "method": run.method,
                "tag": run.tag,
                "run_dir": run.run_dir,
                "config": run.config(),
                "models": _run_models(run),
                "summary": summary,
                "is_baseline": is_base,
                "baseline": None if (base is None or is_base) else base.run_dir,
            }
        )
        scores = base_scores.get(run.dataset) if not is_base else None
        for g in run.graded:
            rec = g.record
            pid = as_int(rec.problem_id)
            problems[str(run.dataset)].setdefault(str(pid), str(rec.problem or ""))
            b = scores.get(pid) if scores is not None else None
            rows.append(
                {
                    "i": len(rows),
                    "run": ri,
                    "ds": run.dataset,
                    "pid": pid,
                    "rep": rec.repeat,
                    "st": record_status(g),
                    "cmp": comparison_flag(g.correct, b) if scores is not None else "",
                    "base": list(b) if b is not None else None,
                    "ans": rec.final_answer,
                    "gold": g.gold,
                    "t": rec.timing.wall_seconds,
                    "tok": rec.generated_tokens("target") + rec.generated_tokens("draft"),
                    "np": len(rec.paths),
                    "ok": sum(bool(c) for c in g.path_correct),
                    "steps": rec.stats.steps,
                    "rw": rec.stats.rewrites,
                }
            )
            records.append(record_page_data(g, ev.grader))

    index = {
        "version": 1,
        "generated_at": ev.generated_at,
        "result_dirs": [str(d) for d in ev.result_dirs],
        "baseline_dir": ev.baseline_dir,
        "k": list(ev.ks),
        "notes": ev.notes,
        "skipped": [[str(s.path), s.reason] for s in ev.skipped],
        "runs": run_entries,
        "baselines": {ds: {"run_dir": b.run_dir, "label": b.label} for ds, b in baselines.items()},
        "has_baseline": any(r["cmp"] or r["base"] is not None for r in rows),
        "problems": dict(problems),
        "rows": rows,
    }
    return index, records


_BLOCK_RE = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def read_page_data(page: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The index and records embedded in a page written by ``ssr.analysis.html.write_report``."""
    index: dict[str, Any] | None = None
    records: dict[int, dict[str, Any]] = {}
    for block_id, text in _BLOCK_RE.findall(page):
        if block_id == DATA_ID:
            index = json.loads(text)
        elif block_id.startswith(RECORD_ID_PREFIX):
            records[int(block_id[len(RECORD_ID_PREFIX) :])] = json.loads(text)
    if index is None:
        raise ValueError("no ssr-data block in this page")
    return index, [records[i] for i in sorted(records)]
