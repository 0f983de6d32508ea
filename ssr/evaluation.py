"""Scoring result folders: accuracy, latency, token and FLOPs statistics per run.

A *run* (one row of every table) is the set of records sharing (dataset,
method, folder holding the files); the folder's name is the run's tag.
``baseline_eval.py`` and ``spec_eval.py`` are thin front-ends to ``main``.

FLOPs definitions (spec_eval), all per dataset against the matching baseline
run (method ``base`` in ``--baseline_dir``), on the problems both runs share:

* ``N``     mean number of paths per record (``len(paths)``).
* ``beta``  the paper's length ratio T / T_base per path::

      beta = mean_p[ mean over repeats of sum_paths(final path tokens) / N_record ]
             / mean_p[ same quantity of the baseline, i.e. its target tokens per path ]

  where ``mean_p`` averages over problems and a path's *final* tokens are
  those of the path as it stands: accepted draft steps plus the target's
  rewrites (the reference code's token statistics). Rejected drafts are not
  in T (they are in the processed-token count below); strategy-selection
  tokens belong to no path. It is taken per *path* because ``gamma_spec``
  multiplies by ``N`` itself.
* ``R``     rewrite rate pooled over the run: sum(stats.rewrites) / sum(stats.steps).
* ``alpha`` ``--alpha`` if given, else ``flops.alpha_from_models`` on the
  records' ``models`` at ``context_len`` = ``--context_len`` or half the
  baseline's mean tokens per path (the mean position of a generated token).
* ``gamma`` ``gamma_base()`` for base, ``gamma_parallel(N)`` for parallel,
  ``gamma_spec(N, beta, R, alpha)`` for spec and ssr.
* ``processed_flops_ratio`` mean_p of the record's ``processed_flops`` total
  divided by the same for the baseline (same ``context_len``): every token
  each model processed, scoring and strategy selection included.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ssr import flops as F
from ssr import metrics as M
from ssr.records import load_records, to_json

Equal = Callable[[str, str], bool]

METHOD_ORDER = {"base": 0, "parallel": 1, "spec": 2, "ssr": 3}
FINISH_REASONS = ("answer", "repeated", "budget", "eos", "stopped_fast")
SPECULATIVE = ("spec", "ssr")
DEFAULT_KS = (1, 3)
G_PASS_TAUS = (0.5, 1.0)
EXIT_NO_DATA = 2


class EvalError(Exception):
    """A folder that cannot be evaluated at all (missing, empty, no records)."""


# --------------------------------------------------------------------------- grading


class Grader:
    """``is_equivalent`` with a cache: the same (answer, gold) pair recurs across repeats and paths."""

    def __init__(self, equal: Equal | None = None) -> None:
        if equal is None:
            from ssr.grading import is_equivalent  # late import: the grader pulls in sympy

            equal = is_equivalent
        self._equal = equal
        self._cache: dict[tuple[str, str], bool] = {}
        self.errors = 0

    def __call__(self, pred: str | None, gold: str | None) -> bool:
        if pred is None or gold is None:
            return False
        key = (str(pred), str(gold))
        if key not in self._cache:
            try:
                self._cache[key] = bool(self._equal(key[0], key[1]))
            except Exception:  # noqa: BLE001 - a grader crash on one answer must not stop the evaluation
                self.errors += 1
                self._cache[key] = False
        return self._cache[key]


@dataclass
class Graded:
    record: dict[str, Any]
    gold: str
    correct: bool
    path_correct: list[bool]

    @property
    def problem_id(self) -> Any:
        return self.record["problem_id"]


def grade_record(record: dict[str, Any], grader: Grader, gold: str | None = None) -> Graded:
    gold = str(record["gold_answer"]) if gold is None else gold
    paths = record.get("paths") or []
    return Graded(
        record,
        gold,
        grader(record.get("final_answer"), gold),
        [grader(p.get("answer"), gold) for p in paths],
    )


# --------------------------------------------------------------------------- loading and grouping


@dataclass
class Run:
    dataset: str
    method: str
    run_dir: str
    records: list[dict[str, Any]] = field(default_factory=list)
    graded: list[Graded] = field(default_factory=list)  # filled by grade_runs

    @property
    def tag(self) -> str:
        return Path(self.run_dir).name

    @property
    def label(self) -> str:
        return f"{self.method}/{self.tag}"

    def by_problem(self) -> dict[Any, list[Graded]]:
        out: dict[Any, list[Graded]] = defaultdict(list)
        for g in self.graded:
            # "7" and 7 are the same problem (ids come from file names and JSON alike)
            out[_as_int(g.problem_id)].append(g)
        return dict(out)

    def step_scores(self) -> list[float]:
        return [
            float(s["score"])
            for g in self.graded
            for p in g.record.get("paths") or []
            for s in p.get("steps") or []
            if s.get("score") is not None
        ]


def load_folder(folder: str | Path, warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """Usable records below ``folder``; every skipped file is reported through ``warn``."""
    path = Path(folder)
    if not path.exists():
        raise EvalError(f"result folder {folder} does not exist")
    if not path.is_dir():
        raise EvalError(f"{folder} is not a folder")
    loaded = load_records(path)
    for s in loaded.skipped:
        warn(f"skipped {s.path}: {s.reason}")
    records = [to_json(r) | {"_path": str(r.source)} for r in loaded.records]
    if not records:
        n_bad = len(loaded.skipped)
        detail = f" ({n_bad} unreadable file{'s' if n_bad != 1 else ''})" if n_bad else ""
        raise EvalError(f"no result records (problem_<id>_repeat_<r>.json) found in {folder}{detail}")
    return records


def group_runs(records: Iterable[dict[str, Any]]) -> list[Run]:
    runs: dict[tuple[str, str, str], Run] = {}
    for rec in records:
        key = (str(rec["dataset"]), str(rec["method"]), str(Path(rec["_path"]).parent))
        runs.setdefault(key, Run(*key)).records.append(rec)
    return sorted(runs.values(), key=lambda r: (r.dataset, METHOD_ORDER.get(r.method, 99), r.method, r.run_dir))


def grade_runs(runs: Sequence[Run], grader: Grader, golds: dict[tuple[str, int], str] | None = None) -> int:
    """Grade every record in place; returns how many records' gold differed from ``golds``."""
    mismatches = 0
    for run in runs:
        graded = []
        for rec in run.records:
            gold = None
            if golds is not None:
                gold = golds.get((run.dataset, _as_int(rec["problem_id"])))
                if gold is not None and str(gold).strip() != str(rec["gold_answer"]).strip():
                    mismatches += 1
            graded.append(grade_record(rec, grader, gold))
        run.graded = graded
    return mismatches


def _as_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def dataset_golds(datasets: Iterable[str], data_dir: str | None) -> dict[tuple[str, int], str]:
    from ssr.datasets import DatasetError, load_problems

    try:
        return {(name, p.id): p.answer for name in set(datasets) for p in load_problems(name, data_dir)}
    except DatasetError as exc:
        raise EvalError(f"--data_dir: {exc}") from exc


# --------------------------------------------------------------------------- per-run statistics


def _mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def _path_tokens(path: dict[str, Any]) -> tuple[int, int]:
    t = path.get("tokens") or {}
    return int(t.get("target_generated") or 0), int(t.get("draft_generated") or 0)


def final_path_tokens(path: dict[str, Any]) -> int:
    """Tokens of the path as it stands: accepted drafts + rewrites (speculative), else what the target wrote."""
    t = path.get("tokens") or {}
    if t.get("final") is not None:
        return int(t["final"])
    steps = path.get("steps") or []
    if steps:  # records written before "final" was stored
        return sum(int(s.get("draft_tokens") or 0) if s.get("accepted") else int(s.get("rewrite_tokens") or 0) for s in steps)
    return sum(_path_tokens(path))


def tokens_per_path(record: dict[str, Any]) -> float | None:
    """Final tokens per path of one record; see the module doc (beta)."""
    paths = record.get("paths") or []
    if not paths:
        return None
    return sum(final_path_tokens(p) for p in paths) / len(paths)


def generated_tokens(record: dict[str, Any], role: str) -> int:
    """Tokens ``role`` generated for this problem: the usage block, else the paths' counters."""
    usage = (record.get("usage") or {}).get(role)
    if usage and usage.get("generated_tokens") is not None:
        return int(usage["generated_tokens"])
    idx = 0 if role == "target" else 1
    return sum(_path_tokens(p)[idx] for p in record.get("paths") or [])


def default_context_len(base_tokens_per_path: float | None) -> int:
    """The context length per-token FLOPs are taken at: the mean position of a baseline token (half its
    mean tokens per path), or ``flops.DEFAULT_CONTEXT_LEN`` without a baseline."""
    return max(int(round(base_tokens_per_path / 2)), 1) if base_tokens_per_path else F.DEFAULT_CONTEXT_LEN


def per_problem_mean(run: Run, value: Callable[[dict[str, Any]], float | None], problems: Iterable[Any] | None = None) -> float | None:
    """Mean over problems of the mean over that problem's repeats (unequal repeats weigh equally)."""
    by_p = run.by_problem()
    keys = by_p if problems is None else [p for p in problems if p in by_p]
    return _mean(_mean(value(g.record) for g in by_p[p]) for p in keys)


def accuracy_stats(run: Run, ks: Sequence[int], grader: Grader, notes: list[str]) -> dict[str, Any]:
    by_p = run.by_problem()
    counts = {p: (len(gs), sum(g.correct for g in gs)) for p, gs in by_p.items()}
    n_min = min(n for n, _ in counts.values())
    n_max = max(n for n, _ in counts.values())
    out: dict[str, Any] = {"problems": len(by_p), "records": len(run.graded), "repeats": n_min}
    if n_max != n_min:
        out["repeats_max"] = n_max
        notes.append(f"{run.dataset} {run.label}: unequal repeats per problem ({n_min}-{n_max}); pass@k uses each problem's own n")
    for k in ks:
        if k > n_min:
            notes.append(f"{run.dataset} {run.label}: pass@{k} skipped (needs {k} repeats per problem, have {n_min})")
            continue
        out[f"pass@{k}"] = _mean(M.pass_at_k(n, c, k) for n, c in counts.values())
    per_problem_p1 = [c / n for n, c in counts.values()]
    out["pass@1_ci95"] = list(M.bootstrap_ci(per_problem_p1))
    k_g = min(n_min, 3)
    for tau in G_PASS_TAUS:
        out[f"g_pass@{k_g}_{tau}"] = _mean(M.g_pass_at_k(n, c, k_g, tau) for n, c in counts.values())
    out["majority_vote"] = M.majority_vote_accuracy(
        (([g.record.get("final_answer") for g in gs], gs[0].gold) for gs in by_p.values()),
        same=grader,
        correct=grader,
    )
    path_flags = [c for g in run.graded for c in g.path_correct]
    out["path_accuracy"] = sum(path_flags) / len(path_flags) if path_flags else None
    out["any_path_correct"] = _mean(float(any(g.path_correct)) for g in run.graded)
    out["no_answer_rate"] = _mean(float(g.record.get("final_answer") is None) for g in run.graded)
    return out


def cost_stats(run: Run) -> dict[str, Any]:
    recs = [g.record for g in run.graded]
    lat = M.latency_stats((r.get("timing") or {}).get("wall_seconds") for r in recs)
    steps = [(r.get("stats") or {}).get("steps") for r in recs]
    rewrites = [(r.get("stats") or {}).get("rewrites") for r in recs]
    total_steps = sum(s or 0 for s in steps)
    finish = Counter(p.get("finish_reason") or "unknown" for r in recs for p in r.get("paths") or [])
    config = recs[0].get("config") or {}
    out: dict[str, Any] = {
        "num_paths_config": config.get("num_paths"),
        "paths_per_record": _mean(len(r.get("paths") or []) for r in recs),
        "latency_s": lat,
        "target_tokens_mean": _mean(generated_tokens(r, "target") for r in recs),
        "draft_tokens_mean": _mean(generated_tokens(r, "draft") for r in recs),
        "tokens_per_path_mean": _mean(tokens_per_path(r) for r in recs),
        # forward passes on each problem's critical path (see ssr.runner); None for records without the count
        "target_forward_passes_mean": _mean(((r.get("usage") or {}).get("target") or {}).get("sequential_forward_passes") for r in recs),
        "draft_forward_passes_mean": _mean(((r.get("usage") or {}).get("draft") or {}).get("sequential_forward_passes") for r in recs),
        "steps_mean": _mean(steps),
        "rewrite_rate": (sum(x or 0 for x in rewrites) / total_steps) if total_steps else None,
        "rewrite_rate_per_record": _summary_of(
            [(r.get("stats") or {}).get("rewrite_rate") for r in recs if (r.get("stats") or {}).get("steps")]
        ),
        "finish_reasons": {k: finish.get(k, 0) for k in FINISH_REASONS} | {k: v for k, v in finish.items() if k not in FINISH_REASONS},
        "answer_reasons": dict(Counter(r.get("answer_reason") or "unknown" for r in recs)),
    }
    strategies = Counter(s for r in recs for s in ((r.get("selection") or {}).get("strategies") or []))
    if strategies:
        out["strategies"] = dict(strategies.most_common())
    return out


def _summary_of(values: list[float | None]) -> dict[str, float | None]:
    v = [x for x in values if x is not None]
    if not v:
        return {"mean": None, "min": None, "max": None}
    return {"mean": sum(v) / len(v), "min": min(v), "max": max(v)}


def summarize_run(run: Run, ks: Sequence[int], grader: Grader, notes: list[str]) -> dict[str, Any]:
    return {
        "dataset": run.dataset,
        "method": run.method,
        "tag": run.tag,
        "run_dir": run.run_dir,
        **accuracy_stats(run, ks, grader, notes),
        **cost_stats(run),
    }


# --------------------------------------------------------------------------- FLOPs against a baseline


def _draft_and_target(run: Run) -> dict[str, Any]:
    for g in run.graded:
        models = g.record.get("models") or {}
        if models.get("target") and models.get("draft"):
            return models
    return {}


def _processed_total(record: dict[str, Any], context_len: int) -> float | None:
    """None, not 0, for a record without usage counters: a missing count is not a free run."""
    usage = record.get("usage") or {}
    if not any(F.processed_tokens(usage.get(role))["total"] for role in ("target", "draft")):
        return None
    try:
        return F.processed_flops(usage, record.get("models") or {}, context_len)["total_flops"]
    except ValueError:
        return None


def _rewrite_rate(run: Run) -> float | None:
    rewrites = sum((g.record.get("stats") or {}).get("rewrites") or 0 for g in run.graded)
    steps = sum((g.record.get("stats") or {}).get("steps") or 0 for g in run.graded)
    return rewrites / steps if steps else None


def flops_stats(
    run: Run,
    baseline: Run | None,
    alpha: float | None,
    context_len: int | None,
    notes: list[str],
) -> dict[str, Any]:
    """The gamma model and the processed-token ratio of ``run`` against ``baseline`` (see module doc).

    Every key is present; what cannot be computed (no baseline, no shared
    problems, no model shapes) is None and explained in ``notes``.
    """
    where = f"{run.dataset} {run.label}"
    n_paths = _mean(len(g.record.get("paths") or []) for g in run.graded) or 1.0
    out: dict[str, Any] = {
        "baseline_run": baseline.run_dir if baseline else None,
        "shared_problems": 0,
        "N": n_paths,
        "beta": None,
        "R": _rewrite_rate(run),
        "alpha": None,
        "alpha_source": None,
        "context_len": context_len,
        "gamma": None,
        "inv_gamma": None,
        "processed_flops_ratio": None,
        "processed_tokens_mean": {
            role: per_problem_mean(run, lambda r, role=role: F.processed_tokens((r.get("usage") or {}).get(role))["total"])
            for role in ("target", "draft")
        },
    }
    shared: list[Any] = []
    base_len = None
    if baseline is None:
        notes.append(f"{where}: no matching baseline (method base, dataset {run.dataset}); beta and FLOPs ratio not computed")
    else:
        shared = sorted(set(run.by_problem()) & set(baseline.by_problem()), key=str)
        out["shared_problems"] = len(shared)
        if not shared:
            notes.append(f"{where}: no problem in common with the baseline {baseline.run_dir}; beta and FLOPs ratio not computed")
        else:
            base_len = per_problem_mean(baseline, tokens_per_path, shared)
            run_len = per_problem_mean(run, tokens_per_path, shared)
            out["beta"] = run_len / base_len if base_len and run_len is not None else None
    if context_len is None:
        context_len = default_context_len(base_len)
    out["context_len"] = context_len

    if run.method in SPECULATIVE:
        if alpha is not None:
            out["alpha"], out["alpha_source"] = alpha, "--alpha"
        elif models := _draft_and_target(run):
            out["alpha"], out["alpha_source"] = F.alpha_from_models(models["draft"], models["target"], context_len), "models"
        else:
            notes.append(f"{where}: records carry no draft and target ModelInfo; pass --alpha")
        if out["R"] is None:
            notes.append(f"{where}: no steps recorded, rewrite rate unknown; gamma not computed")

    if run.method == "base":
        out["gamma"] = F.gamma_base()
    elif run.method == "parallel":
        out["gamma"] = F.gamma_parallel(n_paths)
    elif run.method in SPECULATIVE and None not in (out["beta"], out["R"], out["alpha"]):
        out["gamma"] = F.gamma_spec(n_paths, out["beta"], out["R"], out["alpha"])
    out["inv_gamma"] = 1.0 / out["gamma"] if out["gamma"] else None

    if shared:
        base_flops = per_problem_mean(baseline, lambda r: _processed_total(r, context_len), shared)  # type: ignore[arg-type]
        run_flops = per_problem_mean(run, lambda r: _processed_total(r, context_len), shared)
        if base_flops and run_flops is not None:
            out["processed_flops_ratio"] = run_flops / base_flops
        else:
            notes.append(f"{where}: processed-FLOPs ratio not computed (usage or models missing)")
    return out


def pick_baseline(runs: Sequence[Run], dataset: str, notes: list[str]) -> Run | None:
    candidates = [r for r in runs if r.dataset == dataset and r.method == "base"]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: len(r.graded))
    if len(candidates) > 1:
        notes.append(f"{dataset}: several baseline runs; using {best.run_dir} (most records)")
    return best


# --------------------------------------------------------------------------- output


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


COMPACT_RUN_WIDTH = 34


def _short(label: str, width: int = COMPACT_RUN_WIDTH) -> str:
    return label if len(label) <= width else label[: width - 1] + "~"


def format_report(
    summaries: Sequence[dict[str, Any]], ks: Sequence[int], with_flops: bool, model_name: str | None = None, wide: bool = False
) -> str:
    """One table per dataset. Compact by default (fits 120 columns: the numbers compared first, run names
    cut to fit and given in full below the table); ``wide`` prints every column."""
    blocks = []
    for dataset in sorted({s["dataset"] for s in summaries}):
        rows, extra = [], []
        group = [s for s in summaries if s["dataset"] == dataset]
        for s in group:
            lo, hi = s.get("pass@1_ci95") or (None, None)
            gkeys = sorted(k for k in s if k.startswith("g_pass@"))
            f = s.get("flops") or {}
            passes = _fmt(s.get("target_forward_passes_mean"), 0)
            if wide:
                row = [
                    f"{s['method']}/{s['tag']}",
                    str(s["problems"]),
                    str(s["repeats"]),
                    *(_fmt(s.get(f"pass@{k}")) for k in ks),
                    f"[{_fmt(lo)}, {_fmt(hi)}]",
                    _fmt(s.get("majority_vote")),
                    " ".join(_fmt(s[k]) for k in gkeys),
                    "/".join(_fmt(s["latency_s"].get(q), 1) for q in ("mean", "median", "p90")),
                    _fmt(s.get("target_tokens_mean"), 0),
                    _fmt(s.get("draft_tokens_mean"), 0),
                    _fmt(s.get("steps_mean"), 1),
                    _fmt(s.get("rewrite_rate")),
                    passes,
                    _fmt(s.get("draft_forward_passes_mean"), 0),
                ]
                if with_flops:
                    row += [_fmt(f.get("N"), 1), _fmt(f.get("beta")), _fmt(f.get("alpha"), 4), _fmt(f.get("gamma")), _fmt(f.get("processed_flops_ratio"))]
            else:
                row = [
                    _short(f"{s['method']}/{s['tag']}"),
                    str(s["problems"]),
                    str(s["repeats"]),
                    *(_fmt(s.get(f"pass@{k}")) for k in ks),
                    _fmt(s["latency_s"].get("mean"), 1),
                    _fmt(s.get("target_tokens_mean"), 0),
                    _fmt(s.get("rewrite_rate")),
                    passes,
                ]
                if with_flops:
                    row += [_fmt(f.get("gamma")), _fmt(f.get("processed_flops_ratio"))]
            rows.append(row)
            fr = ", ".join(f"{k} {v}" for k, v in s["finish_reasons"].items() if v)
            extra.append(f"  {s['method']}/{s['tag']}: finish {fr or '-'}; answers {', '.join(f'{k} {v}' for k, v in s['answer_reasons'].items())}; "
                         f"path acc {_fmt(s.get('path_accuracy'))}, any path {_fmt(s.get('any_path_correct'))}  [{s['run_dir']}]")
        if wide:
            taus = "/".join(str(t) for t in G_PASS_TAUS)
            headers = ["run", "probs", "reps", *(f"pass@{k}" for k in ks), "pass@1 95% CI", "maj", f"G-Pass@min(reps,3) tau {taus}",
                       "latency s mean/med/p90", "tok tgt", "tok drf", "steps", "rewrite", "tgt passes", "drf passes"]
            if with_flops:
                headers += ["N", "beta", "alpha", "gamma", "proc ratio"]
        else:
            headers = ["run", "probs", "reps", *(f"pass@{k}" for k in ks), "lat s", "tok tgt", "rewrite", "tgt passes"]
            if with_flops:
                headers += ["gamma", "proc"]
        label = f"== {dataset}" + (f" ({model_name})" if model_name else "")
        blocks.append(f"{label}\n" + _table(headers, rows) + "\n" + "\n".join(extra))
    if not wide:
        blocks.append("(compact: --wide prints every column; summary.csv has them all. tgt passes: sequential target "
                      "forward passes per problem; gamma: the paper's normalized FLOPs; proc: processed-token FLOPs vs baseline)")
    return "\n\n".join(blocks)


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
    from ssr.records import atomic_write_json

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


# --------------------------------------------------------------------------- command line


def build_parser(spec: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spec_eval.py" if spec else "baseline_eval.py",
        description=(
            "Score speculative/SSR result folders against a baseline: accuracy, latency, tokens and normalised FLOPs."
            if spec
            else "Score result folders: pass@k, majority vote, G-Pass@k, latency, tokens, finish reasons."
        ),
    )
    p.add_argument("--result_dir", "--results_dir", dest="result_dir", nargs="+", required=True, metavar="DIR",
                   help="folders of result JSON files (searched recursively)")
    p.add_argument("--dataset_name", default=None, help="score only this dataset's records (aime, math, live, ...)")
    p.add_argument("--model_name", default=None,
                   help="a label for the tables; a note is printed when the records' target model differs")
    if spec:
        p.add_argument("--baseline_dir", default=None, metavar="DIR",
                       help="folder of the target-alone baseline run (method base); default: a base run of the same "
                            "dataset and target found under the result folder's parent, if any")
        p.add_argument("--alpha", type=float, default=None, help="draft/target per-token cost ratio (default: from the records' model configurations)")
        p.add_argument("--context_len", type=int, default=None, help="context length for per-token FLOPs (default: half the baseline's mean tokens per path)")
    p.add_argument("--k", nargs="+", type=int, default=list(DEFAULT_KS), help="k values of pass@k (default: 1 3)")
    p.add_argument("--data_dir", default=None, help="re-read gold answers from the benchmark files in this folder instead of trusting the records")
    p.add_argument("--out", default=None, help="where summary.json, summary.csv and plots go (default: the first --result_dir)")
    p.add_argument("--no_plots", action="store_true")
    p.add_argument("--wide", action="store_true", help="print every column (default: a compact table that fits 120 columns)")
    p.add_argument("--no_html", action="store_true", help="do not write report.html (the browsable report of every trace)")
    return p


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _model_key(name: Any) -> str:
    """``Qwen/QwQ-32B``, ``QwQ-32b`` and ``/models/QwQ-32B/`` name the same model."""
    return str(name or "").rstrip("/").rsplit("/", 1)[-1].lower()


def record_target(record: dict[str, Any]) -> str | None:
    return (record.get("config") or {}).get("target_model") or ((record.get("models") or {}).get("target") or {}).get("name")


def find_baseline_dir(result_dirs: Sequence[str], dataset: str | None, targets: set[str]) -> Path | None:
    """A base run of ``dataset`` with one of ``targets`` under the result folders' parents, or None.

    Layout ``<output_dir>/base/<dataset>/<tag>/problem_*.json``; among matches the folder with the
    most records wins. Only one record per folder is read to check the target.
    """
    best: tuple[int, Path] | None = None
    keys = {_model_key(t) for t in targets}
    for root in dict.fromkeys(Path(d).resolve().parent for d in result_dirs):
        for folder in sorted(root.glob(f"**/base/{dataset or '*'}/*")):
            files = sorted(folder.glob("problem_*_repeat_*.json"))
            if not files:
                continue
            try:
                first = json.loads(files[0].read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if first.get("method") != "base" or (keys and _model_key(record_target(first)) not in keys):
                continue
            if best is None or len(files) > best[0]:
                best = (len(files), folder)
    return best[1] if best else None


def evaluate(
    result_dirs: Sequence[str],
    ks: Sequence[int] = DEFAULT_KS,
    baseline_dir: str | None = None,
    alpha: float | None = None,
    context_len: int | None = None,
    data_dir: str | None = None,
    grader: Grader | None = None,
    warn: Callable[[str], None] = _warn,
    dataset_name: str | None = None,
    model_name: str | None = None,
    with_flops: bool | None = None,
    find_baseline: bool = False,
) -> tuple[dict[str, Any], list[Run]]:
    """Load, grade and summarise; returns the summary payload and the graded runs (for plots).

    ``with_flops`` (default: when a baseline is given) adds the FLOPs block to every run;
    ``find_baseline`` looks for a base run next to the result folders when none is given.
    """
    ks = sorted(set(ks))
    if any(k < 1 for k in ks):
        raise EvalError(f"k must be >= 1, got {ks}")
    notes: list[str] = []
    # nested folders on the command line (results and results/ssr) must not count a file twice
    records = list({r["_path"]: r for d in result_dirs for r in load_folder(d, warn)}.values())
    if dataset_name is not None:
        found = sorted({str(r["dataset"]) for r in records})
        records = [r for r in records if str(r["dataset"]) == dataset_name]
        if not records:
            raise EvalError(f"no records of dataset {dataset_name!r} in {', '.join(map(str, result_dirs))} (found: {', '.join(found)})")
    if model_name is not None:
        others = sorted({str(t) for r in records if _model_key(t := record_target(r)) != _model_key(model_name)})
        if others:
            notes.append(f"--model_name {model_name}: the records' target is {', '.join(others)}")
    runs = group_runs(records)
    with_flops = bool(baseline_dir) if with_flops is None else with_flops
    if baseline_dir is None and find_baseline:
        spec_runs = [r for r in runs if r.method != "base"]
        datasets = {r.dataset for r in spec_runs}
        targets = {str(t) for r in spec_runs for rec in r.records if (t := record_target(rec))}
        found_dir = find_baseline_dir(result_dirs, datasets.pop() if len(datasets) == 1 else None, targets)
        if found_dir is not None:
            baseline_dir = str(found_dir)
            notes.append(f"baseline: using {found_dir} (a base run of the same dataset and target found beside the results; "
                         "--baseline_dir chooses another)")
    if with_flops and not baseline_dir and not any(r.method == "base" for r in runs):
        notes.append("no baseline run: beta, gamma of spec/ssr runs and the processed-FLOPs ratio need --baseline_dir DIR "
                     "(a base_test.py run of the same dataset and target)")
    base_runs = group_runs(load_folder(baseline_dir, warn)) if baseline_dir else []
    if dataset_name is not None:
        base_runs = [r for r in base_runs if r.dataset == dataset_name]
    golds = dataset_golds({r.dataset for r in runs + base_runs}, data_dir) if data_dir else None
    grader = grader or Grader()
    mismatched = grade_runs(runs + base_runs, grader, golds)
    if mismatched:
        notes.append(f"{mismatched} records carried a gold answer different from the benchmark file; graded against the file")
    summaries = [summarize_run(r, ks, grader, notes) for r in runs]
    baselines: dict[str, Any] = {}
    if with_flops:
        for s, run in zip(summaries, runs):
            base = pick_baseline(base_runs or runs, run.dataset, notes if run.dataset not in baselines else [])
            s["flops"] = flops_stats(run, base, alpha, context_len, notes if base_runs or base else [])
            if base is not None and run.dataset not in baselines:
                baselines[run.dataset] = {
                    **summarize_run(base, ks, grader, []),
                    "flops": flops_stats(base, base, alpha, context_len, []),
                }
    if grader.errors:
        notes.append(f"the grader raised on {grader.errors} answer(s); they were counted wrong")
    for n in notes:
        warn(n)
    payload = {
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "result_dirs": [str(d) for d in result_dirs],
        "baseline_dir": baseline_dir,
        "dataset_name": dataset_name,
        "model_name": model_name,
        "k": list(ks),
        "alpha_override": alpha,
        "runs": summaries,
        "baselines": baselines,
        "notes": notes,
    }
    return payload, runs


def main(argv: Sequence[str] | None = None, spec: bool = False) -> int:
    args = build_parser(spec).parse_args(argv)
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)  # the report lists the skipped files among them
        _warn(msg)

    grader = Grader()
    try:
        payload, runs = evaluate(
            args.result_dir,
            ks=args.k,
            baseline_dir=getattr(args, "baseline_dir", None),
            alpha=getattr(args, "alpha", None),
            context_len=getattr(args, "context_len", None),
            data_dir=args.data_dir,
            grader=grader,
            warn=warn,
            dataset_name=args.dataset_name,
            model_name=args.model_name,
            with_flops=spec,
            find_baseline=spec,
        )
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_DATA
    shown = {s["run_dir"] for s in payload["runs"]}
    reference = [{**b, "tag": f"{b['tag']} (baseline)"} for b in payload["baselines"].values() if b["run_dir"] not in shown]
    print(format_report(reference + payload["runs"], payload["k"], with_flops=spec, model_name=args.model_name, wide=args.wide))
    out_dir = Path(args.out or args.result_dir[0])
    json_path, csv_path = write_summary(out_dir, payload)
    print(f"\nwrote {json_path} and {csv_path}")
    plot_paths: list[Path] = []
    if not args.no_plots:
        from ssr.plots import make_plots

        plot_paths = list(make_plots(payload, runs, out_dir))
        for path in plot_paths:
            print(f"wrote {path}")
    if not args.no_html:
        from ssr.report import write_report

        path = write_report(payload, runs, out_dir / "report.html", skipped=warnings, plots=plot_paths, grader=grader)
        print(f"wrote {path}")
    return 0
