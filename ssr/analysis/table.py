"""The summary columns, once: the eval scripts' text tables, the page's HTML table and bench's markdown.

Each :class:`Column` names its header in every table that shows it (``compact`` and ``wide`` text,
``html``, ``bench`` markdown) and how its cell is made from a run summary (``Evaluation.summaries``).
Every table takes its columns from :func:`columns`, in the one order of ``COLUMNS``, and formats
numbers with :func:`fmt`.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ssr.analysis.stats import G_PASS_TAUS
from ssr.methods import is_speculative

TABLES = ("compact", "wide", "html", "bench")
NONE_TEXT = {"compact": "-", "wide": "-", "bench": "-", "html": "–"}
COMPACT_RUN_WIDTH = 34


def fmt(value: Any, digits: int = 3, none: str = "-") -> str:
    """A table cell: None as ``none``, floats to ``digits`` decimals, booleans as yes/no."""
    if value is None:
        return none
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


Cell = Callable[[dict[str, Any], str], str]  # (run summary, table) -> cell text


@dataclass(frozen=True)
class Column:
    key: str
    headers: dict[str, str]  # table -> header; a table not named does not show the column
    cell: Cell
    flops: bool = False  # a number of the FLOPs block: shown only when the runs have one
    schedule: bool = False  # a number of the schedule block: shown only when a speculative run has one


def _number(get: Callable[[dict[str, Any]], Any], digits: int = 3) -> Cell:
    return lambda s, table: fmt(get(s), digits, NONE_TEXT[table])


def _key(key: str, digits: int = 3) -> Cell:
    return _number(lambda s: s.get(key), digits)


def _flops(key: str, digits: int = 3) -> Cell:
    return _number(lambda s: (s.get("flops") or {}).get(key), digits)


def _run(s: dict[str, Any], table: str) -> str:
    label = f"{s['method']}/{s['tag']}"
    if table == "compact" and len(label) > COMPACT_RUN_WIDTH:
        return label[: COMPACT_RUN_WIDTH - 1] + "~"
    return label


def _ci(s: dict[str, Any], table: str) -> str:
    lo, hi = (s.get("pass@1_ci95") or [None, None])[:2]
    none = NONE_TEXT[table]
    return f"[{fmt(lo, none=none)}, {fmt(hi, none=none)}]"


# The paper's Time is per problem, one problem at a time; a run with more problems in flight shares every
# engine call with them, so its latency is marked wherever it is shown.
BATCHED_MARK = "*"


def batched_note(summaries: Sequence[dict[str, Any]]) -> str | None:
    """The footnote of the batched mark, when a run's latency was measured under batching."""
    batched = [s for s in summaries if s.get("latency_batched")]
    if not batched:
        return None
    most = max(int(s.get("problems_at_once") or 2) for s in batched)
    return (
        f"{BATCHED_MARK} latency measured under batching (up to {most} problems at once), not one problem at a "
        "time as the paper's Time: run with --max_concurrent_problems 1 for per-problem latency"
    )


def _latency(s: dict[str, Any], table: str) -> str:
    lat = s.get("latency_s") or {}
    if table == "compact":
        text = fmt(lat.get("mean"), 1)
    else:
        sep = "/" if table == "wide" else " / "
        text = sep.join(fmt(lat.get(q), 1, NONE_TEXT[table]) for q in ("mean", "median", "p90"))
    if not s.get("latency_batched"):
        return text
    if table == "html":
        return f"{text} (batched, {s.get('problems_at_once')} at once)"
    return text + BATCHED_MARK


def _coverage(s: dict[str, Any], table: str) -> str:
    cov = s.get("coverage") or {}
    return " ".join(fmt(cov[k], 2) for k in sorted(cov, key=int)) or NONE_TEXT[table]


def _g_passes(s: dict[str, Any], table: str) -> str:
    return " ".join(fmt(s[k]) for k in sorted(k for k in s if k.startswith("g_pass@")))


def _schedule_of(s: dict[str, Any]) -> dict[str, Any] | None:
    """The run's schedule numbers (``ssr.analysis.schedule``), for speculative runs only."""
    return s.get("schedule") if is_speculative(str(s.get("method"))) else None


def has_schedule(summaries: Sequence[dict[str, Any]]) -> bool:
    """Whether the schedule columns are shown: a speculative run's records carry schedule blocks."""
    return any(_schedule_of(s) for s in summaries)


def _schedule_name(s: dict[str, Any], table: str) -> str:
    sched = _schedule_of(s)
    if not sched:
        return NONE_TEXT[table]
    name = str(sched.get("schedule"))
    return name + (" (no pre-draft)" if name == "async" and sched.get("predraft") is False else "")


def _percent(get: Callable[[dict[str, Any]], Any]) -> Cell:
    """A fraction of the schedule block as a percentage."""

    def cell(s: dict[str, Any], table: str) -> str:
        sched = _schedule_of(s)
        value = get(sched) if sched else None
        return fmt(100.0 * value if value is not None else None, 1, NONE_TEXT[table])

    return cell


def _target_busy(d: dict[str, Any]) -> Any:
    return (d.get("busy_fraction") or {}).get("target")


def _draft_busy(d: dict[str, Any]) -> Any:
    return (d.get("busy_fraction") or {}).get("draft")


def _overlap(d: dict[str, Any]) -> Any:
    return d.get("overlap_fraction")


def _predraft_hits(d: dict[str, Any]) -> Any:
    return d.get("predraft_hit_rate")


def schedule_line(s: dict[str, Any]) -> str | None:
    """The schedule numbers of one run in words (the compact table has no room for their columns)."""
    sched = _schedule_of(s)
    if not sched:
        return None
    target, draft, overlap, hits = (
        _percent(get)(s, "compact") for get in (_target_busy, _draft_busy, _overlap, _predraft_hits)
    )
    basis = "the run's wall time" if sched.get("basis") == "run" else "its problems' wall time"
    return (
        f"schedule {_schedule_name(s, 'compact')}: target busy {target}%, draft busy {draft}%, overlap {overlap}%"
        + (f", pre-draft hits {hits}%" if sched.get("predrafts_submitted") else "")
        + f" (of {basis})"
    )


_TAUS = "/".join(str(t) for t in G_PASS_TAUS)

# The one order of every table; pass@k and the html table's one G-Pass column per tau are expanded by columns().
COLUMNS: tuple[Column, ...] = (
    Column("dataset", {"html": "dataset"}, lambda s, t: str(s.get("dataset"))),
    Column("run", {"compact": "run", "wide": "run", "html": "run"}, _run),
    Column("problems", {"compact": "probs", "wide": "probs", "html": "problems"}, _key("problems")),
    Column("repeats", {"compact": "reps", "wide": "reps", "html": "repeats"}, _key("repeats")),
    Column("pass@k", {t: "pass@{k}" for t in TABLES}, _key("pass@{k}")),
    Column("ci", {"wide": "pass@1 95% CI", "html": "pass@1 95% CI", "bench": "95% CI"}, _ci),
    Column("majority_vote", {"wide": "maj", "html": "majority"}, _key("majority_vote")),
    Column("g_pass", {"wide": f"G-Pass@min(reps,3) tau {_TAUS}", "html": "{g}"}, _g_passes),
    # the paper's Figure 2: pass@k over one record's paths, k = 1.. (see ssr.analysis.coverage)
    Column("coverage", {"wide": "coverage@1..", "html": "coverage@k over paths, k = 1, 2, …"}, _coverage),
    Column(
        "latency",
        {"compact": "lat s", "wide": "latency s mean/med/p90", "html": "latency s mean / median / p90"},
        _latency,
    ),
    Column("problems_at_once", {"wide": "at once", "html": "problems at once"}, _key("problems_at_once")),
    Column(
        "target_tokens",
        {"compact": "tok tgt", "wide": "tok tgt", "html": "target tok", "bench": "target tok"},
        _key("target_tokens_mean", 0),
    ),
    Column(
        "draft_tokens", {"wide": "tok drf", "html": "draft tok", "bench": "draft tok"}, _key("draft_tokens_mean", 0)
    ),
    Column("steps", {"wide": "steps", "html": "steps"}, _key("steps_mean", 1)),
    Column(
        "rewrite_rate",
        {"compact": "rewrite", "wide": "rewrite", "html": "rewrite rate", "bench": "rewrite"},
        _key("rewrite_rate"),
    ),
    Column(
        "target_passes",
        {"compact": "tgt passes", "wide": "tgt passes", "bench": "tgt passes"},
        _key("target_forward_passes_mean", 0),
    ),
    Column("draft_passes", {"wide": "drf passes"}, _key("draft_forward_passes_mean", 0)),
    Column("path_accuracy", {"html": "path acc"}, _key("path_accuracy")),
    Column("any_path_correct", {"html": "any path"}, _key("any_path_correct")),
    Column("no_answer_rate", {"html": "no answer"}, _key("no_answer_rate")),
    Column("N", {"wide": "N", "html": "N"}, _flops("N", 1), flops=True),
    Column("beta", {"wide": "beta", "html": "β"}, _flops("beta"), flops=True),
    Column("alpha", {"wide": "alpha", "html": "α"}, _flops("alpha", 4), flops=True),
    Column(
        "gamma", {"compact": "gamma", "wide": "gamma", "html": "γ", "bench": "γ (paper)"}, _flops("gamma"), flops=True
    ),
    Column("inv_gamma", {"html": "1/γ"}, _flops("inv_gamma"), flops=True),
    Column(
        "processed_flops_ratio",
        {"compact": "proc", "wide": "proc ratio", "html": "processed FLOPs ratio", "bench": "processed FLOPs"},
        _flops("processed_flops_ratio"),
        flops=True,
    ),
    # how the requests were scheduled (records with a ``schedule`` block; see ssr.analysis.schedule): busy and
    # overlap are fractions of the wall time, per problem at one problem at a time, of the run's when batched
    Column("schedule", {"wide": "schedule", "html": "schedule", "bench": "schedule"}, _schedule_name, schedule=True),
    Column(
        "target_busy",
        {"wide": "tgt busy%", "html": "target busy %", "bench": "target busy %"},
        _percent(_target_busy),
        schedule=True,
    ),
    Column(
        "draft_busy",
        {"wide": "drf busy%", "html": "draft busy %", "bench": "draft busy %"},
        _percent(_draft_busy),
        schedule=True,
    ),
    Column(
        "overlap",
        {"wide": "overlap%", "html": "overlap %", "bench": "overlap %"},
        _percent(_overlap),
        schedule=True,
    ),
    Column(
        "predraft_hits",
        {"wide": "predraft hit%", "html": "pre-draft hit %", "bench": "pre-draft hit %"},
        _percent(_predraft_hits),
        schedule=True,
    ),
)
BY_KEY = {c.key: c for c in COLUMNS}


def columns(
    table: str,
    ks: Sequence[int] = (1,),
    with_flops: bool = True,
    g_keys: Sequence[str] = (),
    with_schedule: bool = False,
) -> list[tuple[str, Cell]]:
    """(header, cell) of every column ``table`` shows, pass@k once per k and (html) G-Pass once per key;
    the schedule columns only ``with_schedule`` (see :func:`has_schedule`)."""
    out: list[tuple[str, Cell]] = []
    for c in COLUMNS:
        if table not in c.headers or (c.flops and not with_flops) or (c.schedule and not with_schedule):
            continue
        header = c.headers[table]
        if c.key == "pass@k":
            out += [(header.format(k=k), _key(f"pass@{k}")) for k in ks]
        elif c.key == "g_pass" and table == "html":
            out += [(g.replace("g_pass@", "G-Pass@").replace("_", " τ "), _key(g)) for g in g_keys]
        else:
            out.append((header, c.cell))
    return out


def cell(key: str, summary: dict[str, Any], table: str) -> str:
    """The cell of column ``key`` (or ``pass@<k>``) for one run summary."""
    if key.startswith("pass@") and key not in BY_KEY:
        return _key(key)(summary, table)
    return BY_KEY[key].cell(summary, table)


def header(key: str, table: str) -> str:
    return BY_KEY[key].headers[table]


# --------------------------------------------------------------------------- text


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def text_report(
    summaries: Sequence[dict[str, Any]],
    ks: Sequence[int],
    with_flops: bool,
    model_name: str | None = None,
    wide: bool = False,
) -> str:
    """One table per dataset. Compact by default (fits 120 columns: the numbers compared first, run names
    cut to fit and given in full below the table); ``wide`` prints every column."""
    table = "wide" if wide else "compact"
    cols = columns(table, ks, with_flops, with_schedule=has_schedule(summaries))
    blocks = []
    for dataset in sorted({s["dataset"] for s in summaries}):
        group = [s for s in summaries if s["dataset"] == dataset]
        rows = [[c(s, table) for _, c in cols] for s in group]
        extra = []
        for s in group:
            fr = ", ".join(f"{k} {v}" for k, v in s["finish_reasons"].items() if v)
            extra.append(
                f"  {s['method']}/{s['tag']}: finish {fr or '-'}; "
                f"answers {', '.join(f'{k} {v}' for k, v in s['answer_reasons'].items())}; "
                f"path acc {fmt(s.get('path_accuracy'))}, any path {fmt(s.get('any_path_correct'))}  [{s['run_dir']}]"
            )
            sched = schedule_line(s) if not wide else None
            if sched:
                extra.append(f"  {s['method']}/{s['tag']}: {sched}")
        label = f"== {dataset}" + (f" ({model_name})" if model_name else "")
        blocks.append(f"{label}\n" + _text_table([h for h, _ in cols], rows) + "\n" + "\n".join(extra))
    if not wide:
        blocks.append(
            "(compact: --wide prints every column; summary.csv has them all. tgt passes: sequential target "
            "forward passes per problem; gamma: the paper's normalized FLOPs; proc: processed-token FLOPs vs baseline)"
        )
    note = batched_note(summaries)
    if note:
        blocks.append(note)
    return "\n\n".join(blocks)


# --------------------------------------------------------------------------- html


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def summary_table_html(rows: Sequence[tuple[dict[str, Any], bool]], ks: Sequence[int]) -> str:
    """The summary table of the page: (run summary, is a reference baseline) per row."""
    if not rows:
        return "<p>No runs.</p>"
    with_flops = any(s.get("flops") for s, _ in rows)
    g_keys = sorted({k for s, _ in rows for k in s if k.startswith("g_pass@")})
    cols = columns("html", ks, with_flops, g_keys, with_schedule=has_schedule([s for s, _ in rows]))
    out = [
        '<div class="scroll"><table class="summary"><thead><tr>',
        *(f"<th>{esc(h)}</th>" for h, _ in cols),
        "</tr></thead><tbody>",
    ]
    for s, is_ref in rows:
        cells = [c(s, "html") + (" (baseline)" if is_ref and h == "run" else "") for h, c in cols]
        cls = ' class="ref"' if is_ref else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table></div>")
    note = batched_note([s for s, _ in rows])
    if note:
        out.append(f'<p class="batched">{esc(note.removeprefix(BATCHED_MARK).strip().capitalize())}.</p>')
    extra = []
    for s, _ in rows:
        fr = ", ".join(f"{k} {v}" for k, v in (s.get("finish_reasons") or {}).items() if v)
        ar = ", ".join(f"{k} {v}" for k, v in (s.get("answer_reasons") or {}).items())
        strat = ", ".join(f"{k} {v}" for k, v in (s.get("strategies") or {}).items())
        line = (
            f"<b>{esc(s.get('method'))}/{esc(s.get('tag'))}</b>: "
            f"paths finished by {esc(fr or '–')}; answers by {esc(ar or '–')}"
        )
        if strat:
            line += f"; strategies picked: {esc(strat)}"
        extra.append(f"<li>{line}</li>")
    out.append('<ul class="finish">' + "".join(extra) + "</ul>")
    return "".join(out)
