"""The command line of the analysis: ``baseline_eval.py``, ``spec_eval.py`` and ``python -m ssr.analysis``.

* ``baseline``: the table, ``summary.json``/``summary.csv``, the plots and ``report.html``;
* ``spec``: the same with the FLOPs columns against a baseline run (found beside the results when
  ``--baseline_dir`` is not given);
* ``report``: only the HTML page (``python -m ssr.analysis RESULTS_DIR ... [--out FILE]``).

Exit code 2 when a folder is missing or holds no result records.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ssr.analysis.evaluate import DEFAULT_KS, Evaluation, Options, evaluate, write_summary
from ssr.analysis.html import REPORT_NAME, write_report
from ssr.analysis.loading import GRADERS, EvalError, Grader
from ssr.analysis.stats import BETAS
from ssr.extraction import ANSWER_RULES
from ssr.analysis.plots import make_plots
from ssr.analysis.table import text_report

EXIT_NO_DATA = 2

_DESCRIPTIONS = {
    "baseline": "Score result folders: pass@k, majority vote, G-Pass@k, latency, tokens, finish reasons.",
    "spec": "Score speculative/SSR result folders against a baseline: accuracy, latency, tokens and normalised FLOPs.",
    "report": "Write a self-contained HTML report (summary, plots, every record's paths and steps) of result folders.",
}
_PROGS = {"baseline": "baseline_eval.py", "spec": "spec_eval.py", "report": "python -m ssr.analysis"}


def build_parser(kind: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=_PROGS[kind], description=_DESCRIPTIONS[kind])
    if kind == "report":
        p.add_argument(
            "result_dir", nargs="+", metavar="RESULTS_DIR", help="folders of result JSON files (searched recursively)"
        )
    else:
        p.add_argument(
            "--result_dir",
            "--results_dir",
            dest="result_dir",
            nargs="+",
            required=True,
            metavar="DIR",
            help="folders of result JSON files (searched recursively)",
        )
        p.add_argument("--dataset_name", default=None, help="score only this dataset's records (aime, math, live, ...)")
        p.add_argument(
            "--model_name",
            default=None,
            help="a label for the tables; a note is printed when the records' target model differs",
        )
    if kind != "baseline":
        p.add_argument(
            "--baseline_dir",
            default=None,
            metavar="DIR",
            help="folder of the target-alone baseline run (method base)"
            + (
                "; default: a base run of the same dataset and target found under the result folder's parent, if any"
                if kind == "spec"
                else ": FLOPs columns and the SSR-vs-baseline filters"
            ),
        )
        p.add_argument(
            "--alpha",
            type=float,
            default=None,
            help="draft/target per-token cost ratio (default: from the records' model configurations)",
        )
        p.add_argument(
            "--beta",
            choices=BETAS,
            default="all",
            help="beta of gamma: all, every path's mean final tokens (default); selected, the selected path's only "
            "(the authors' token statistics)",
        )
        p.add_argument(
            "--context_len",
            type=int,
            default=None,
            help="context length for per-token FLOPs (default: half the baseline's mean tokens per path)",
        )
    p.add_argument("--k", nargs="+", type=int, default=list(DEFAULT_KS), help="k values of pass@k (default: 1 3)")
    p.add_argument(
        "--answer_rule",
        choices=ANSWER_RULES,
        default=None,
        help="read every path's answer by this rule (boxed: its last box or box group; lenient: textual fallbacks "
        "too) and vote again with the run's tie rule, for records made with the other rule (fast-mode runs are "
        "refused); default: as recorded",
    )
    p.add_argument(
        "--grader",
        nargs="+",
        choices=GRADERS,
        default=["math-verify"],
        help="how answers are compared with the gold: math-verify (the suite's grader) or reference (the authors' "
        "rules: AIME as integers, MATH by normalised string or float, LiveMathBench by digits, votes by exact "
        "value); two values grade with the first and print the accuracy under both side by side",
    )
    p.add_argument(
        "--data_dir",
        default=None,
        help="re-read gold answers from the benchmark files in this folder instead of trusting the records",
    )
    if kind == "report":
        p.add_argument(
            "--out",
            default=None,
            metavar="FILE",
            help=f"where to write the page (default: RESULTS_DIR/{REPORT_NAME} of the first folder)",
        )
        p.add_argument("--no_plots", action="store_true", help="embed no matplotlib figure (the pass@1 chart stays)")
        p.add_argument("--title", default=None)
    else:
        p.add_argument(
            "--out", default=None, help="where summary.json, summary.csv and plots go (default: the first --result_dir)"
        )
        p.add_argument("--no_plots", action="store_true")
        p.add_argument(
            "--wide", action="store_true", help="print every column (default: a compact table that fits 120 columns)"
        )
        p.add_argument(
            "--no_html", action="store_true", help="do not write report.html (the browsable report of every trace)"
        )
    return p


def graders_side_by_side(evaluations: Sequence[Evaluation]) -> str:
    """pass@1 and majority-vote accuracy of every run under each evaluation's grader, one column pair each."""
    kinds = [e.grader.kind for e in evaluations]
    head = ["dataset", "run"] + [f"{k} {m}" for k in kinds for m in ("pass@1", "maj")]
    rows = []
    for i, s in enumerate(evaluations[0].summaries):
        cells = [s["dataset"], f"{s['method']}/{s['tag']}"]
        for e in evaluations:
            t = e.summaries[i]
            cells += [_pct(t.get("pass@1")), _pct(t.get("majority_vote"))]
        rows.append(cells)
    widths = [max(len(str(r[c])) for r in [head, *rows]) for c in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in [head, *rows]]
    return "\naccuracy by grader:\n" + "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _report_warnings(ev: Evaluation) -> None:
    for s in ev.skipped:
        _warn(f"skipped {s.path}: {s.reason}")
    for n in ev.notes:
        _warn(n)


def main(argv: Sequence[str] | None = None, kind: str = "baseline") -> int:
    args = build_parser(kind).parse_args(argv)
    options = Options(
        ks=args.k,
        baseline_dir=getattr(args, "baseline_dir", None),
        alpha=getattr(args, "alpha", None),
        context_len=getattr(args, "context_len", None),
        data_dir=args.data_dir,
        dataset_name=getattr(args, "dataset_name", None),
        model_name=getattr(args, "model_name", None),
        with_flops=None if kind == "report" else kind == "spec",
        find_baseline=kind == "spec",
        answer_rule=args.answer_rule,
        grader=args.grader[0],
        beta=getattr(args, "beta", "all"),
    )
    try:
        ev = evaluate(args.result_dir, options, Grader(kind=args.grader[0]))
        extra = args.grader[1:] if kind != "report" else []
        others = [evaluate(args.result_dir, replace(options, grader=g), Grader(kind=g)) for g in extra]
    except EvalError as exc:
        for s in exc.skipped:
            _warn(f"skipped {s.path}: {s.reason}")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_DATA
    _report_warnings(ev)
    if kind == "report":
        out = Path(args.out) if args.out else Path(args.result_dir[0]) / REPORT_NAME
        path = write_report(ev, out, plots=() if args.no_plots else None, title=args.title)
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; "
            f"{sum(len(r.graded) for r in ev.runs)} records in {len(ev.runs)} run(s))"
        )
        return 0
    spec = kind == "spec"
    reference = [{**b, "tag": f"{b['tag']} (baseline)"} for b in ev.reference_summaries()]
    print(text_report(reference + ev.summaries, ev.ks, with_flops=spec, model_name=args.model_name, wide=args.wide))
    rule = f"; answers read by --answer_rule {args.answer_rule}" if args.answer_rule else ""
    print(f"\ngraded with {ev.grader.kind}{rule}")
    if others:
        print(graders_side_by_side([ev, *others]))
    out_dir = Path(args.out or args.result_dir[0])
    payload = ev.payload()
    if others:  # the accuracy under the other graders, beside the table's
        keys = ("dataset", "method", "tag", "run_dir", "pass@1", "majority_vote", "path_accuracy")
        payload["by_grader"] = {e.grader.kind: [{k: s.get(k) for k in keys} for s in e.summaries] for e in others}
    json_path, csv_path = write_summary(out_dir, payload)
    print(f"\nwrote {json_path} and {csv_path}")
    plot_paths: list[Path] = []
    if not args.no_plots:
        plot_paths = make_plots(ev, out_dir)
        for path in plot_paths:
            print(f"wrote {path}")
    if not args.no_html:
        print(f"wrote {write_report(ev, out_dir / REPORT_NAME, plots=plot_paths)}")
    return 0
