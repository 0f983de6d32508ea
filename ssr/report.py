"""One self-contained HTML page per results folder: summary, plots and every record down to its steps.

    python -m ssr.report RESULTS_DIR [RESULTS_DIR ...] [--baseline_dir DIR] [--out FILE]

grades the folders with ``ssr.evaluation.evaluate`` (nothing is generated again)
and writes ``report.html`` (default: into the first folder). The eval scripts
call :func:`write_report` with what ``evaluate`` returned.

The page works offline: its CSS, JavaScript (``ssr/report_assets``) and plots
(PNG as ``data:`` URIs, plus an inline SVG) are inside the file, and a
Content-Security-Policy forbids every network request and every script but
the page's own.

Data layout (read back by :func:`read_page_data`, used by the tests):

* ``<script type="application/json" id="ssr-data">``: the index: runs with their
  configuration and summary, one row per record (what the problem list filters
  and sorts on), the problems' texts, skipped files, notes.
* ``<script type="application/json" id="rec-<i>">``: record ``i`` in full, parsed
  and rendered only when the reader opens it, so a folder of thousands of
  records opens at once.

All JSON is written with ``<``, ``>``, ``&``, U+2028 and U+2029 as ``\\uXXXX``
escapes, so no model text can close the ``<script>`` element, and the page
builds its DOM with ``textContent`` only: model text is never parsed as HTML.

Row fields used by the filters:

* ``st``: ``"correct"`` (the final answer is right), ``"none"`` (no final
  answer), else ``"wrong"``.
* ``cmp``: against the dataset's baseline run (``--baseline_dir``, or a
  ``base`` run among the folders): ``"gain"`` when this record is right and the
  baseline is wrong on the problem, ``"loss"`` for the reverse, ``""``
  otherwise (or no baseline, or a baseline record itself). The baseline counts
  as right on a problem when at least half of its repeats are right.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import math
import re
import sys
import tempfile
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from ssr.evaluation import _as_int

if TYPE_CHECKING:
    from ssr.evaluation import Grader, Run

REPORT_NAME = "report.html"
DATA_ID = "ssr-data"
RECORD_ID_PREFIX = "rec-"
PROBS_DIGITS = 3  # score_probs are rounded to this many decimals in the page (0.1 %)
STEP_SEPARATOR = "\n\n"  # ssr.reasoning.STEP_STOP: appended to a step that ended on the stop string

# fields of a step that the page shows in their own place; any other key is listed as an extra
STEP_FIELDS = ("draft", "score", "score_probs", "accepted", "rewrite", "draft_tokens", "rewrite_tokens")

# the run settings shown at the top of the page, in this order: (config key, label)
CONFIG_FIELDS = (
    ("target_model", "target model"),
    ("draft_model", "draft model"),
    ("backend", "backend"),
    ("token_budget", "token budget"),
    ("max_step_tokens", "max step tokens"),
    ("num_paths", "paths"),
    ("score_threshold", "score threshold"),
    ("score_method", "score method"),
    ("prompt_format", "prompt format"),
    ("fast", "fast mode"),
    ("use_method_prompts", "method prompts (SPM)"),
    ("use_role_prompts", "role prompts"),
    ("method_num", "strategies picked"),
    ("strategy_pool_size", "strategy pool"),
    ("temperature", "temperature"),
    ("top_p", "top p"),
    ("seed", "seed"),
    ("repeat_id", "repeats"),
)
SPECULATIVE_ONLY = {"draft_model", "max_step_tokens", "score_threshold", "score_method", "fast"}

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


# --------------------------------------------------------------------------- JSON for <script> blocks


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

    ``<``, ``>`` and ``&`` (so ``</script>`` and ``<!--`` cannot end or alter the
    element) and U+2028/U+2029 are written as ``\\uXXXX`` escapes; JSON.parse
    turns them back into the same characters.
    """
    text = json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


# --------------------------------------------------------------------------- skipped files


def parse_skipped(skipped: Iterable[Any]) -> list[tuple[str, str]]:
    """``(path, reason)`` pairs from pairs or from the eval's warnings.

    Accepts ``(path, reason)`` tuples and ``"skipped PATH: REASON"`` strings (what
    ``ssr.evaluation.load_folder`` passes to ``warn``); other strings (the eval's
    notes, which the payload carries anyway) are ignored.
    """
    out: list[tuple[str, str]] = []
    for item in skipped:
        if isinstance(item, str):
            text = item.strip()
            if text.startswith("warning: "):
                text = text[len("warning: "):]
            if not text.startswith("skipped "):
                continue
            text = text[len("skipped "):]
            # the reason itself may hold ": " (JSONDecodeError: ...): split after the file name
            cut = text.find(".json: ")
            cut = cut + len(".json") if cut >= 0 else text.find(": ")
            out.append((text[:cut], text[cut + 2:]) if cut >= 0 else (text, ""))
        else:
            path, reason = item
            out.append((str(path), str(reason)))
    return out


# --------------------------------------------------------------------------- page data


def record_status(graded: Any) -> str:
    """``correct`` | ``wrong`` | ``none`` (no final answer) for one ``Graded`` record."""
    if graded.record.get("final_answer") is None:
        return "none"
    return "correct" if graded.correct else "wrong"


def _record_tokens(record: dict[str, Any]) -> int:
    from ssr.evaluation import generated_tokens

    return generated_tokens(record, "target") + generated_tokens(record, "draft")


def _vote_groups(record: dict[str, Any], grader: Callable[[str | None, str | None], bool]) -> list[dict[str, Any]]:
    """The vote, answer by answer: its count, the paths that gave it and their mean step score.

    The runner merged equivalent answers under the first one's text (the key of
    ``votes``); each path is put back under the key it matches, by text first,
    then with the grader. ``score`` is the mean of those paths' ``mean_score``,
    the value a tie between equally voted answers is broken on.
    """
    votes = record.get("votes") or {}
    keys = list(votes)
    paths = record.get("paths") or []
    members: dict[str, list[int]] = {k: [] for k in keys}
    for i, p in enumerate(paths):
        ans = p.get("answer")
        if ans is None or not keys:
            continue
        key = ans if ans in members else (keys[0] if len(keys) == 1 else next((k for k in keys if grader(ans, k)), None))
        if key is not None:
            members[key].append(i)
    out = []
    for k in keys:
        scores = [paths[i].get("mean_score") for i in members[k] if paths[i].get("mean_score") is not None]
        out.append(
            {
                "answer": k,
                "votes": votes[k],
                "paths": [paths[i].get("index", i) for i in members[k]],
                "score": (sum(scores) / len(scores)) if scores else None,
                "chosen": k == record.get("final_answer"),
            }
        )
    return out


def _round_probs(probs: Any) -> Any:
    if not isinstance(probs, list):
        return probs
    return [round(p, PROBS_DIGITS) if isinstance(p, float) and math.isfinite(p) else p for p in probs]


def step_text_separators(path: dict[str, Any]) -> str | None:
    """How a speculative path's ``text`` is made of its steps, or None when it is not only that.

    A path's text is its steps' kept text (the draft if accepted, else the
    rewrite), each followed by ``STEP_SEPARATOR`` or nothing. Returns one
    character per step, ``"1"`` (separator) or ``"0"``, when that rebuilds the
    text exactly; the page then leaves the text out (it would double the
    size) and :func:`path_text` / the page's script rebuild it.
    """
    steps = path.get("steps") or []
    text = path.get("text")
    if not steps or not isinstance(text, str):
        return None
    pos, seps = 0, []
    for s in steps:
        piece = s.get("draft") if s.get("accepted", True) else s.get("rewrite")
        if not isinstance(piece, str) or not text.startswith(piece, pos):
            return None
        pos += len(piece)
        sep = text.startswith(STEP_SEPARATOR, pos)
        seps.append("1" if sep else "0")
        pos += len(STEP_SEPARATOR) if sep else 0
    return "".join(seps) if pos == len(text) else None


def path_text(path: dict[str, Any]) -> str:
    """The text of a path as the page holds it (rebuilt from the steps when ``text_seps`` is set)."""
    seps = path.get("text_seps")
    if seps is None:
        return path.get("text") or ""
    return "".join(
        (s.get("draft") if s.get("accepted", True) else s.get("rewrite") or "") + (STEP_SEPARATOR if flag == "1" else "")
        for s, flag in zip(path.get("steps") or [], seps)
    )


def record_page_data(graded: Any, grader: Callable[[str | None, str | None], bool]) -> dict[str, Any]:
    """Everything the page shows for one record (the per-record JSON block).

    The record's ``config`` and ``models`` are left out (the run header shows
    them once); every path carries ``correct`` (``Graded.path_correct``); a
    speculative path whose text is exactly its kept steps carries
    ``text_seps`` instead of ``text`` (see :func:`step_text_separators`).
    """
    rec = graded.record
    paths = []
    for i, p in enumerate(rec.get("paths") or []):
        q = dict(p)
        q["correct"] = bool(graded.path_correct[i]) if i < len(graded.path_correct) else None
        steps = []
        for s in p.get("steps") or []:
            s2 = dict(s)
            if "score_probs" in s2:
                s2["score_probs"] = _round_probs(s2["score_probs"])
            steps.append(s2)
        q["steps"] = steps
        seps = step_text_separators(p)
        if seps is not None:
            q["text"], q["text_seps"] = None, seps
        paths.append(q)
    return {
        "method": rec.get("method"),
        "dataset": rec.get("dataset"),
        "problem_id": rec.get("problem_id"),
        "repeat": rec.get("repeat"),
        "problem": rec.get("problem"),
        "gold": graded.gold,
        "gold_in_record": rec.get("gold_answer"),
        "final_answer": rec.get("final_answer"),
        "correct": bool(graded.correct),
        "status": record_status(graded),
        "answer_reason": rec.get("answer_reason"),
        "votes": rec.get("votes") or {},
        "vote_groups": _vote_groups(rec, grader),
        "selection": rec.get("selection"),
        "paths": paths,
        "usage": rec.get("usage"),
        "stats": rec.get("stats"),
        "timing": rec.get("timing"),
        "file": rec.get("_path"),
    }


def _run_config(run: Any) -> dict[str, Any]:
    for g in run.graded:
        cfg = g.record.get("config")
        if cfg:
            return dict(cfg)
    return {}


def _run_models(run: Any) -> dict[str, Any]:
    for g in run.graded:
        models = g.record.get("models")
        if models:
            return {role: (info or {}).get("name") or (info or {}).get("path") for role, info in models.items() if info}
    return {}


def _baseline_scores(base: Any) -> dict[Any, tuple[int, int]]:
    """problem id -> (right repeats, repeats) of a baseline run."""
    return {pid: (sum(g.correct for g in gs), len(gs)) for pid, gs in base.by_problem().items()}


def _load_baseline_runs(payload: dict[str, Any], runs: Sequence[Any], grader: Any) -> list[Any]:
    """The baseline runs ``evaluate`` graded but does not return (``--baseline_dir``)."""
    baseline_dir = payload.get("baseline_dir")
    wanted = {b.get("run_dir") for b in (payload.get("baselines") or {}).values()} - {r.run_dir for r in runs}
    if not baseline_dir or not wanted:
        return []
    from ssr.evaluation import EvalError, grade_runs, group_runs, load_folder

    try:
        records = load_folder(baseline_dir, lambda _msg: None)  # its skipped files came through the eval's warn
    except EvalError:
        return []
    base_runs = [r for r in group_runs(records) if r.run_dir in wanted]
    grade_runs(base_runs, grader)
    return base_runs


def _pick_baselines(payload: dict[str, Any], runs: Sequence[Any], extra: Sequence[Any]) -> dict[str, Any]:
    """dataset -> baseline Run: the eval's choice (``payload['baselines']``), else the largest base run."""
    out: dict[str, Any] = {}
    pool = list(runs) + list(extra)
    for dataset, summary in (payload.get("baselines") or {}).items():
        match = next((r for r in pool if r.run_dir == summary.get("run_dir") and r.dataset == dataset), None)
        if match is not None:
            out[dataset] = match
    for r in runs:
        if r.method == "base" and r.dataset not in out:
            candidates = [b for b in runs if b.method == "base" and b.dataset == r.dataset]
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


def page_data(
    payload: dict[str, Any],
    runs: Sequence["Run"],
    skipped: Iterable[Any] = (),
    baseline_runs: Sequence["Run"] | None = None,
    grader: "Grader | None" = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The page's index (``id="ssr-data"``) and its records (``id="rec-<i>"``, in row order)."""
    if grader is None:
        from ssr.evaluation import Grader

        grader = Grader()
    if baseline_runs is None:
        baseline_runs = _load_baseline_runs(payload, runs, grader)
    baselines = _pick_baselines(payload, runs, baseline_runs)
    base_scores = {ds: _baseline_scores(b) for ds, b in baselines.items()}

    summaries = list(payload.get("runs") or [])
    # the baseline's own records are listed too (after the runs), to open next to the run's
    shown = list(runs) + [b for b in baselines.values() if not any(b is r for r in runs)]
    run_entries = []
    rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    problems: dict[str, dict[str, str]] = defaultdict(dict)
    for ri, run in enumerate(shown):
        if ri < len(runs):
            summary = summaries[ri] if ri < len(summaries) else {}
        else:
            summary = (payload.get("baselines") or {}).get(run.dataset) or {}
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
                "config": _run_config(run),
                "models": _run_models(run),
                "summary": summary,
                "is_baseline": is_base,
                "baseline": None if (base is None or is_base) else base.run_dir,
            }
        )
        scores = base_scores.get(run.dataset) if not is_base else None
        for g in run.graded:
            rec = g.record
            pid = _as_int(rec.get("problem_id"))
            problems[str(run.dataset)].setdefault(str(pid), str(rec.get("problem") or ""))
            stats = rec.get("stats") or {}
            b = scores.get(pid) if scores is not None else None
            rows.append(
                {
                    "i": len(rows),
                    "run": ri,
                    "ds": run.dataset,
                    "pid": pid,
                    "rep": rec.get("repeat"),
                    "st": record_status(g),
                    "cmp": comparison_flag(g.correct, b) if scores is not None else "",
                    "base": list(b) if b is not None else None,
                    "ans": rec.get("final_answer"),
                    "gold": g.gold,
                    "t": (rec.get("timing") or {}).get("wall_seconds"),
                    "tok": _record_tokens(rec),
                    "np": len(rec.get("paths") or []),
                    "ok": sum(bool(c) for c in g.path_correct),
                    "steps": stats.get("steps"),
                    "rw": stats.get("rewrites"),
                }
            )
            records.append(record_page_data(g, grader))

    index = {
        "version": 1,
        "generated_at": payload.get("generated_at"),
        "result_dirs": payload.get("result_dirs") or [],
        "baseline_dir": payload.get("baseline_dir"),
        "k": payload.get("k") or [],
        "notes": payload.get("notes") or [],
        "skipped": [list(p) for p in parse_skipped(skipped)],
        "runs": run_entries,
        "baselines": {ds: {"run_dir": b.run_dir, "label": b.label} for ds, b in baselines.items()},
        "has_baseline": any(r["cmp"] or r["base"] is not None for r in rows),
        "problems": dict(problems),
        "rows": rows,
    }
    return index, records


# --------------------------------------------------------------------------- static parts of the page


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _summary_rows(payload: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    shown = {s.get("run_dir") for s in payload.get("runs") or []}
    ref = [(b, True) for b in (payload.get("baselines") or {}).values() if b.get("run_dir") not in shown]
    return ref + [(s, False) for s in payload.get("runs") or []]


def summary_table_html(payload: dict[str, Any]) -> str:
    """The numbers of the eval scripts' table (``ssr.evaluation.format_report``), one row per run."""
    rows = _summary_rows(payload)
    if not rows:
        return "<p>No runs.</p>"
    ks = payload.get("k") or []
    with_flops = any(s.get("flops") for s, _ in rows)
    gkeys = sorted({k for s, _ in rows for k in s if k.startswith("g_pass@")})
    headers = ["dataset", "run", "problems", "repeats", *(f"pass@{k}" for k in ks), "pass@1 95% CI", "majority",
               *(k.replace("g_pass@", "G-Pass@").replace("_", " τ ") for k in gkeys),
               "latency s mean / median / p90", "target tok", "draft tok", "steps", "rewrite rate",
               "path acc", "any path", "no answer"]
    if with_flops:
        headers += ["N", "β", "α", "γ", "1/γ", "processed FLOPs ratio"]
    out = ['<div class="scroll"><table class="summary"><thead><tr>', *(f"<th>{_esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for s, is_ref in rows:
        lo, hi = (s.get("pass@1_ci95") or [None, None])[:2]
        lat = s.get("latency_s") or {}
        cells = [
            s.get("dataset"),
            f"{s.get('method')}/{s.get('tag')}" + (" (baseline)" if is_ref else ""),
            _fmt(s.get("problems")),
            _fmt(s.get("repeats")),
            *(_fmt(s.get(f"pass@{k}")) for k in ks),
            f"[{_fmt(lo)}, {_fmt(hi)}]",
            _fmt(s.get("majority_vote")),
            *(_fmt(s.get(k)) for k in gkeys),
            " / ".join(_fmt(lat.get(q), 1) for q in ("mean", "median", "p90")),
            _fmt(s.get("target_tokens_mean"), 0),
            _fmt(s.get("draft_tokens_mean"), 0),
            _fmt(s.get("steps_mean"), 1),
            _fmt(s.get("rewrite_rate")),
            _fmt(s.get("path_accuracy")),
            _fmt(s.get("any_path_correct")),
            _fmt(s.get("no_answer_rate")),
        ]
        if with_flops:
            f = s.get("flops") or {}
            cells += [_fmt(f.get("N"), 1), _fmt(f.get("beta")), _fmt(f.get("alpha"), 4), _fmt(f.get("gamma")),
                      _fmt(f.get("inv_gamma")), _fmt(f.get("processed_flops_ratio"))]
        cls = ' class="ref"' if is_ref else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table></div>")
    extra = []
    for s, _ in rows:
        fr = ", ".join(f"{k} {v}" for k, v in (s.get("finish_reasons") or {}).items() if v)
        ar = ", ".join(f"{k} {v}" for k, v in (s.get("answer_reasons") or {}).items())
        strat = ", ".join(f"{k} {v}" for k, v in (s.get("strategies") or {}).items())
        line = f"<b>{_esc(s.get('method'))}/{_esc(s.get('tag'))}</b>: paths finished by {_esc(fr or '–')}; answers by {_esc(ar or '–')}"
        if strat:
            line += f"; strategies picked: {_esc(strat)}"
        extra.append(f"<li>{line}</li>")
    out.append('<ul class="finish">' + "".join(extra) + "</ul>")
    return "".join(out)


def config_table_html(index: dict[str, Any]) -> str:
    runs = index["runs"]
    if not runs:
        return ""
    head = "".join(f"<th>{_esc(r['label'])}<br><small>{_esc(r['dataset'])}</small></th>" for r in runs)
    out = [f'<div class="scroll"><table class="config"><thead><tr><th>setting</th>{head}</tr></thead><tbody>']
    out.append("<tr><th>folder</th>" + "".join(f"<td><code>{_esc(r['run_dir'])}</code></td>" for r in runs) + "</tr>")
    out.append("<tr><th>records</th>" + "".join(
        f"<td>{_esc(_fmt(r['summary'].get('records')))} ({_esc(_fmt(r['summary'].get('problems')))} problems)</td>" for r in runs) + "</tr>")
    for key, label in CONFIG_FIELDS:
        cells = []
        for r in runs:
            cfg = r["config"]
            if key in SPECULATIVE_ONLY and r["method"] not in ("spec", "ssr"):
                cells.append('<td class="na">n/a</td>')
            elif key not in cfg:
                cells.append('<td class="na" title="not recorded in these result files">not recorded</td>')
            else:
                value = cfg[key]
                if key == "fast":
                    value = {0: "off", 1: "Fast-1 (first finished path)", 2: "Fast-2 (two agreeing paths)"}.get(value, value)
                text = f"{value:g}" if isinstance(value, float) else _fmt(value)
                per_record = r["summary"].get("paths_per_record")
                if key == "num_paths" and per_record is not None and per_record != value:
                    text += f" (records hold {per_record:g})"
                cells.append(f"<td>{_esc(text)}</td>")
        out.append(f"<tr><th>{_esc(label)}</th>{''.join(cells)}</tr>")
    out.append("<tr><th>baseline</th>" + "".join(
        f"<td>{'this run' if r['is_baseline'] else _esc(r['baseline'] or '–')}</td>" for r in runs) + "</tr>")
    out.append("<tr><th>full config</th>" + "".join(
        f"<td><details><summary>show</summary><pre>{_esc(json.dumps(r['config'], indent=1, ensure_ascii=False))}</pre></details></td>"
        for r in runs) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def accuracy_svg(payload: dict[str, Any]) -> str:
    """pass@1 of every run (and reference baseline) with its 95% CI, as an inline SVG bar chart."""
    rows = [(s, ref) for s, ref in _summary_rows(payload) if s.get("pass@1") is not None]
    if not rows:
        return ""
    bar_h, gap, left, width = 22, 8, 300, 360
    height = len(rows) * (bar_h + gap) + 40
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{left + width + 60}" height="{height}" '
             f'role="img" aria-label="pass@1 per run">']
    for tick in range(0, 11, 2):
        x = left + width * tick / 10
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 25}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{tick / 10:.1f}</text>')
    for i, (s, ref) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        acc = float(s["pass@1"])
        label = f"{s.get('dataset')} {s.get('method')}/{s.get('tag')}" + (" (baseline)" if ref else "")
        short = label if len(label) <= 44 else label[:43] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end"><title>{_esc(label)}</title>{_esc(short)}</text>')
        cls = "bar ref" if ref or s.get("method") == "base" else "bar"
        parts.append(f'<rect class="{cls}" x="{left}" y="{y}" width="{max(width * acc, 1):.1f}" height="{bar_h}"><title>{_esc(label)}: pass@1 {acc:.3f}</title></rect>')
        lo, hi = (s.get("pass@1_ci95") or [None, None])[:2]
        right = acc
        if lo is not None and hi is not None:
            cy = y + bar_h / 2
            parts.append(f'<line class="ci" x1="{left + width * lo:.1f}" y1="{cy}" x2="{left + width * hi:.1f}" y2="{cy}"/>')
            right = max(acc, hi)
        parts.append(f'<text x="{left + width * right + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{acc:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def plots_html(payload: dict[str, Any], plots: Sequence[str | Path]) -> str:
    figures = []
    svg = accuracy_svg(payload)
    if svg:
        figures.append(f"<figure>{svg}<figcaption>pass@1 per run (line: bootstrap 95% CI)</figcaption></figure>")
    for p in plots:
        p = Path(p)
        try:
            data = p.read_bytes()
        except OSError:
            continue
        mime = "image/svg+xml" if p.suffix.lower() == ".svg" else "image/png"
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        figures.append(f'<figure><img alt="{_esc(p.stem)}" src="{uri}"><figcaption>{_esc(p.stem)}</figcaption></figure>')
    if not figures:
        return "<p>No plot: no run has a pass@1.</p>"
    return '<div class="plots">' + "".join(figures) + "</div>"


def _asset(name: str) -> str:
    return resources.files("ssr").joinpath("report_assets", name).read_text(encoding="utf-8")


def render_chunks(
    payload: dict[str, Any],
    index: dict[str, Any],
    records: Iterable[dict[str, Any]],
    plots: Sequence[str | Path] = (),
    title: str | None = None,
) -> Iterator[str]:
    """The page, piece by piece (a big folder's page is not held in memory twice)."""
    css, js = _asset("report.css"), _asset("report.js")
    if "</script" in js.lower() or "<!--" in js:
        raise ValueError("report.js must not contain '</script' or '<!--'")
    js_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{js_hash}'; "
           "base-uri 'none'; form-action 'none'")
    title = title or "SSR report: " + ", ".join(index["result_dirs"] or ["results"])
    notes = "".join(f"<li>{_esc(n)}</li>" for n in index["notes"])
    skipped = "".join(f"<li><code>{_esc(p)}</code>: {_esc(r)}</li>" for p, r in index["skipped"])
    n_rec = len(index["rows"])
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{css}</style></head><body>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="meta">evaluated {_esc(index["generated_at"] or "")} · {n_rec} records · '
        f'baseline: {_esc(index["baseline_dir"] or "none given")}</p></header>',
        '<nav><a href="#runs">runs</a> <a href="#summary">summary</a> <a href="#plots">plots</a> '
        '<a href="#problems">problems</a></nav>',
        '<section id="runs"><h2>Runs and configuration</h2>', config_table_html(index), "</section>",
        '<section id="summary"><h2>Summary</h2>', summary_table_html(payload),
        f'<details class="notes" {"open" if notes else ""}><summary>Notes from the evaluation ({len(index["notes"])})</summary><ul>{notes}</ul></details>',
        "</section>",
        f'<section id="skipped" class="{"bad" if skipped else "ok"}"><h2>Skipped result files ({len(index["skipped"])})</h2>',
        f"<ul>{skipped}</ul>" if skipped else "<p>None: every result file was readable and complete.</p>",
        "</section>",
        '<section id="plots"><h2>Plots</h2>', plots_html(payload, plots), "</section>",
        '<section id="problems"><h2>Problems</h2><div id="controls"></div><div id="list"></div>'
        '<noscript><p>The problem list needs JavaScript.</p></noscript></section>',
        f'<script type="application/json" id="{DATA_ID}">{script_json(index)}</script>',
        f"<script>{js}</script>",
    ]
    yield "\n".join(head) + "\n"
    # the records come after the page's script: the list renders before the browser has parsed them
    for i, r in enumerate(records):
        yield f'<script type="application/json" id="{RECORD_ID_PREFIX}{i}">{script_json(r)}</script>\n'
    yield "</body></html>\n"


def render_html(
    payload: dict[str, Any],
    index: dict[str, Any],
    records: Iterable[dict[str, Any]],
    plots: Sequence[str | Path] = (),
    title: str | None = None,
) -> str:
    """The whole page as one string (see :func:`write_report`)."""
    return "".join(render_chunks(payload, index, records, plots, title))


def write_report(
    payload: dict[str, Any],
    runs: Sequence["Run"],
    out_path: str | Path,
    skipped: Iterable[Any] = (),
    plots: Sequence[str | Path] | None = None,
    baseline_runs: Sequence["Run"] | None = None,
    grader: "Grader | None" = None,
    title: str | None = None,
) -> Path:
    """Write the HTML report of ``ssr.evaluation.evaluate()``'s ``(payload, runs)`` to ``out_path``.

    ``skipped``: unreadable/truncated result files, as ``(path, reason)`` pairs or
    as the eval's warning strings (``"skipped PATH: REASON"``; other strings are
    ignored), see :func:`parse_skipped`.
    ``plots``: PNG/SVG files to embed (what ``ssr.plots.make_plots`` returned);
    None draws them with ``make_plots`` into a temporary folder. ``()`` embeds
    none (the page still has its own pass@1 chart).
    ``baseline_runs``: the graded runs of ``payload['baseline_dir']``; None
    loads and grades them again when ``runs`` does not hold them.
    ``out_path``: the file to write, or an existing folder to write ``report.html`` into.
    """
    out = Path(out_path)
    if out.is_dir():
        out = out / REPORT_NAME
    index, records = page_data(payload, runs, skipped, baseline_runs, grader)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out.with_name(f".{out.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="ssr-report-plots-") as plot_dir:
        if plots is None:
            from ssr.plots import make_plots

            plots = make_plots(payload, runs, plot_dir)
        try:
            # errors="replace": a lone surrogate (possible in JSON-escaped model text) cannot be UTF-8
            with open(tmp_path, "w", encoding="utf-8", errors="replace") as fh:
                for chunk in render_chunks(payload, index, records, plots, title):
                    fh.write(chunk)
            tmp_path.replace(out)  # a reader never sees half a page
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
    return out


# --------------------------------------------------------------------------- reading a page back (tests, tools)


_BLOCK_RE = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def read_page_data(page: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The index and records embedded in a page written by :func:`write_report`."""
    index: dict[str, Any] | None = None
    records: dict[int, dict[str, Any]] = {}
    for block_id, text in _BLOCK_RE.findall(page):
        if block_id == DATA_ID:
            index = json.loads(text)
        elif block_id.startswith(RECORD_ID_PREFIX):
            records[int(block_id[len(RECORD_ID_PREFIX):])] = json.loads(text)
    if index is None:
        raise ValueError("no ssr-data block in this page")
    return index, [records[i] for i in sorted(records)]


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ssr.report",
        description="Write a self-contained HTML report (summary, plots, every record's paths and steps) of result folders.",
    )
    p.add_argument("result_dir", nargs="+", metavar="RESULTS_DIR", help="folders of result JSON files (searched recursively)")
    p.add_argument("--baseline_dir", default=None, metavar="DIR", help="folder of the baseline run (method base): FLOPs columns and the SSR-vs-baseline filters")
    p.add_argument("--out", default=None, metavar="FILE", help=f"where to write the page (default: RESULTS_DIR/{REPORT_NAME} of the first folder)")
    p.add_argument("--k", nargs="+", type=int, default=None, help="k values of pass@k (default: the eval scripts')")
    p.add_argument("--data_dir", default=None, help="re-read gold answers from the benchmark files in this folder")
    p.add_argument("--alpha", type=float, default=None, help="draft/target per-token cost ratio (spec_eval's --alpha)")
    p.add_argument("--context_len", type=int, default=None, help="context length for per-token FLOPs (spec_eval's --context_len)")
    p.add_argument("--no_plots", action="store_true", help="embed no matplotlib figure (the pass@1 chart stays)")
    p.add_argument("--title", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ssr.evaluation import DEFAULT_KS, EXIT_NO_DATA, EvalError, Grader, evaluate

    args = build_parser().parse_args(argv)
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        print(f"warning: {msg}", file=sys.stderr)

    grader = Grader()
    try:
        payload, runs = evaluate(
            args.result_dir,
            ks=args.k or DEFAULT_KS,
            baseline_dir=args.baseline_dir,
            alpha=args.alpha,
            context_len=args.context_len,
            data_dir=args.data_dir,
            grader=grader,
            warn=warn,
        )
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_DATA
    out = Path(args.out) if args.out else Path(args.result_dir[0]) / REPORT_NAME
    path = write_report(payload, runs, out, skipped=warnings, plots=() if args.no_plots else None, grader=grader, title=args.title)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; {sum(len(r.graded) for r in runs)} records in {len(runs)} run(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
