"""One evaluation of result folders: load, grade, summarise; everything the tables, plots and page need.

:func:`evaluate` returns an :class:`Evaluation`: the graded runs, the baseline runs it graded, the
files it skipped (with why) and its notes, as data. ``Evaluation.payload()`` is ``summary.json``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ssr.analysis.answer_rule import AnswerRuleError, apply_answer_rule
from ssr.analysis.loading import (
    EvalError,
    Grader,
    Run,
    dataset_golds,
    find_baseline_dir,
    grade_runs,
    group_runs,
    load_folder,
    model_key,
)
from ssr.analysis.schedule import schedule_metrics
from ssr.analysis.stats import flops_stats, pick_baseline, summarize_run
from ssr.records import Skipped, atomic_write_json

DEFAULT_KS = (1, 3)


@dataclass
class Options:
    ks: Sequence[int] = DEFAULT_KS
    baseline_dir: str | None = None
    alpha: float | None = None  # draft/target per-token cost ratio; None: from the records' models
    context_len: int | None = None  # for per-token FLOPs; None: half the baseline's tokens per path
    data_dir: str | None = None  # re-read gold answers from the benchmark files here
    dataset_name: str | None = None  # only this dataset's records
    model_name: str | None = None  # a label; a note when the records' target differs
    with_flops: bool | None = None  # the FLOPs block of every run; None: when a baseline is given
    find_baseline: bool = False  # look for a base run beside the result folders when none is given
    answer_rule: str | None = None  # read every path's answer again by this rule (None: as recorded)
    grader: str = "math-verify"  # GRADERS: how answers are compared with the gold (when no Grader is given)
    beta: str = "all"  # BETAS: beta from every path's tokens, or the selected path's only (the authors')


@dataclass
class Evaluation:
    result_dirs: list[str]
    options: Options
    ks: list[int]
    baseline_dir: str | None  # the one given, or the one found
    runs: list[Run]
    summaries: list[dict[str, Any]]  # one per run, in the same order
    baseline_runs: list[Run]  # the graded runs of baseline_dir
    baselines: dict[str, Run]  # dataset -> the baseline run the FLOPs columns compare with
    baseline_summaries: dict[str, dict[str, Any]]
    skipped: list[Skipped]
    notes: list[str]
    grader: Grader
    generated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def payload(self) -> dict[str, Any]:
        """The evaluation as ``summary.json`` holds it."""
        return {
            "generated_at": self.generated_at,
            "result_dirs": [str(d) for d in self.result_dirs],
            "baseline_dir": self.baseline_dir,
            "dataset_name": self.options.dataset_name,
            "model_name": self.options.model_name,
            "k": list(self.ks),
            "alpha_override": self.options.alpha,
            "grader": self.grader.kind,
            "answer_rule": self.options.answer_rule,  # None: each record's own
            "beta": self.options.beta,
            "runs": self.summaries,
            "baselines": self.baseline_summaries,
            "notes": self.notes,
        }

    def reference_summaries(self) -> list[dict[str, Any]]:
        """The baselines' summaries that are not among the runs (shown above them as references)."""
        shown = {s["run_dir"] for s in self.summaries}
        return [b for b in self.baseline_summaries.values() if b["run_dir"] not in shown]


def _load(
    folders: Sequence[str], skipped: list[Skipped], rule: str | None, grader: Grader, notes: list[str]
) -> list[Any]:
    # nested folders on the command line (results and results/ssr) must not count a file twice
    by_file = {}
    for d in folders:
        records, bad = load_folder(d)
        skipped += bad
        by_file.update({r.source: r for r in records})
    try:
        records, changed = apply_answer_rule(list(by_file.values()), rule, grader.same)
    except AnswerRuleError as exc:
        raise EvalError(str(exc)) from exc
    if changed:
        notes.append(
            f"--answer_rule {rule}: {changed} record(s) of {', '.join(map(str, folders))} were made with another rule; "
            "their paths' answers were read again from the paths' texts and voted again"
        )
    return records


def evaluate(result_dirs: Sequence[str], options: Options | None = None, grader: Grader | None = None) -> Evaluation:
    """Load, grade and summarise ``result_dirs``; :class:`EvalError` when there is nothing to evaluate."""
    o = options or Options()
    ks = sorted(set(o.ks))
    if any(k < 1 for k in ks):
        raise EvalError(f"k must be >= 1, got {ks}")
    notes: list[str] = []
    skipped: list[Skipped] = []
    grader = grader or Grader(kind=o.grader)
    records = _load(result_dirs, skipped, o.answer_rule, grader, notes)
    if o.dataset_name is not None:
        found = sorted({str(r.dataset) for r in records})
        records = [r for r in records if str(r.dataset) == o.dataset_name]
        if not records:
            raise EvalError(
                f"no records of dataset {o.dataset_name!r} in {', '.join(map(str, result_dirs))} "
                f"(found: {', '.join(found)})"
            )
    if o.model_name is not None:
        others = sorted({str(r.target_model) for r in records if model_key(r.target_model) != model_key(o.model_name)})
        if others:
            notes.append(f"--model_name {o.model_name}: the records' target is {', '.join(others)}")
    runs = group_runs(records)
    baseline_dir = o.baseline_dir
    with_flops = bool(baseline_dir) if o.with_flops is None else o.with_flops
    if baseline_dir is None and o.find_baseline:
        spec_runs = [r for r in runs if r.method != "base"]
        datasets = {r.dataset for r in spec_runs}
        targets = {str(t) for r in spec_runs for rec in r.records if (t := rec.target_model)}
        found_dir = find_baseline_dir(result_dirs, datasets.pop() if len(datasets) == 1 else None, targets)
        if found_dir is not None:
            baseline_dir = str(found_dir)
            notes.append(
                f"baseline: using {found_dir} (a base run of the same dataset and target found beside the results; "
                "--baseline_dir chooses another)"
            )
    if with_flops and not baseline_dir and not any(r.method == "base" for r in runs):
        notes.append(
            "no baseline run: beta, gamma of spec/ssr runs and the processed-FLOPs ratio need --baseline_dir DIR "
            "(a base_test.py run of the same dataset and target)"
        )
    base_runs = group_runs(_load([baseline_dir], skipped, o.answer_rule, grader, notes)) if baseline_dir else []
    if o.dataset_name is not None:
        base_runs = [r for r in base_runs if r.dataset == o.dataset_name]
    golds = dataset_golds({r.dataset for r in runs + base_runs}, o.data_dir) if o.data_dir else None
    mismatched = grade_runs(runs + base_runs, grader, golds)
    if mismatched:
        notes.append(
            f"{mismatched} records carried a gold answer different from the benchmark file; graded against the file"
        )
    summaries = [with_schedule(summarize_run(r, ks, grader, notes), r) for r in runs]
    baselines: dict[str, Run] = {}
    baseline_summaries: dict[str, Any] = {}
    if with_flops:
        for s, run in zip(summaries, runs):
            base = pick_baseline(base_runs or runs, run.dataset, notes if run.dataset not in baseline_summaries else [])
            s["flops"] = flops_stats(run, base, o.alpha, o.context_len, notes if base_runs or base else [], o.beta)
            if base is not None and run.dataset not in baseline_summaries:
                baselines[run.dataset] = base
                baseline_summaries[run.dataset] = {
                    **with_schedule(summarize_run(base, ks, grader, []), base),
                    "flops": flops_stats(base, base, o.alpha, o.context_len, [], o.beta),
                }
    if grader.errors:
        notes.append(f"the grader raised on {grader.errors} answer(s); they were counted wrong")
    return Evaluation(
        list(result_dirs),
        o,
        ks,
        baseline_dir,
        runs,
        summaries,
        base_runs,
        baselines,
        baseline_summaries,
        skipped,
        notes,
        grader,
    )


def with_schedule(summary: dict[str, Any], run: Run) -> dict[str, Any]:
    """``summary`` with the run's ``schedule`` numbers (``ssr.analysis.schedule``) when any record has a
    schedule block; unchanged for runs of older records."""
    metrics = schedule_metrics(g.record for g in run.graded)
    if metrics is not None:
        summary["schedule"] = metrics.as_dict()
    return summary


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            if all(not isinstance(x, (dict, list)) for x in v):
                for i, x in enumerate(v):
                    out[f"{key}.{i}"] = x
        else:
            out[key] = v
    return out


def write_summary(out_dir: Path, payload: dict[str, Any]) -> tuple[Path, Path]:
    """``summary.json`` (the payload) and ``summary.csv`` (one flattened row per run)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / "summary.json", out_dir / "summary.csv"
    atomic_write_json(json_path, payload)
    rows = [flatten(s) for s in payload["runs"]]
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path
