"""The HTML page of an evaluation: one self-contained file with the summary, plots and every record.

The eval scripts (``ssr.analysis.cli``) write it from the :class:`~ssr.analysis.evaluate.Evaluation`
they printed; nothing is loaded or graded again here.

The page works offline: its CSS, JavaScript (``ssr/analysis/report_assets``) and plots (PNG as
``data:`` URIs, plus an inline SVG) are inside the file, and a Content-Security-Policy forbids every
network request and every script but the page's own. Every value this module writes into the markup
goes through :func:`ssr.analysis.table.esc`; the data blocks (``ssr.analysis.page_data``) escape
``<``, ``>`` and ``&``; the page's script builds its DOM with ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ssr.analysis.evaluate import Evaluation
from ssr.analysis.page_data import DATA_ID, RECORD_ID_PREFIX, page_data, script_json
from ssr.analysis.plots import make_plots
from ssr.analysis.table import NONE_TEXT, fmt, summary_table_html
from ssr.analysis.table import esc as _esc
from ssr.methods import SPECULATIVE_SETTINGS, is_speculative

REPORT_NAME = "report.html"


def _cell(value: Any, digits: int = 3) -> str:
    return fmt(value, digits, NONE_TEXT["html"])


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
    ("prompt_set", "prompt set"),
    ("answer_rule", "answer rule"),
    ("tie_break", "tie rule"),
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

def _at_once(summary: dict[str, Any]) -> str:
    """How many problems ran together, and so what the run's latency measures."""
    n = summary.get("problems_at_once")
    if n is None:
        return "not recorded"
    return f"{n} (latency measured under batching)" if n > 1 else "1 (latency per problem, as the paper's Time)"


def config_table_html(index: dict[str, Any]) -> str:
    runs = index["runs"]
    if not runs:
        return ""
    head = "".join(f"<th>{_esc(r['label'])}<br><small>{_esc(r['dataset'])}</small></th>" for r in runs)
    out = [f'<div class="scroll"><table class="config"><thead><tr><th>setting</th>{head}</tr></thead><tbody>']
    out.append("<tr><th>folder</th>" + "".join(f"<td><code>{_esc(r['run_dir'])}</code></td>" for r in runs) + "</tr>")
    out.append(
        "<tr><th>records</th>"
        + "".join(
            f"<td>{_esc(_cell(r['summary'].get('records')))} "
            f"({_esc(_cell(r['summary'].get('problems')))} problems)</td>"
            for r in runs
        )
        + "</tr>"
    )
    at_once = "".join(f"<td>{_esc(_at_once(r['summary']))}</td>" for r in runs)
    out.append(f"<tr><th>problems at once</th>{at_once}</tr>")
    for key, label in CONFIG_FIELDS:
        cells = []
        for r in runs:
            cfg = r["config"]
            # n/a for a run of a method that does not draft, score and rewrite steps
            if key in SPECULATIVE_SETTINGS and not is_speculative(r["method"]):
                cells.append('<td class="na">n/a</td>')
            elif key not in cfg:
                cells.append('<td class="na" title="not recorded in these result files">not recorded</td>')
            else:
                value = cfg[key]
                if key == "fast":
                    value = {0: "off", 1: "Fast-1 (first finished path)", 2: "Fast-2 (two agreeing paths)"}.get(
                        value, value
                    )
                text = f"{value:g}" if isinstance(value, float) else _cell(value)
                if key == "prompt_set" and (cfg.get("extra") or {}).get("prompt_set_note"):
                    text += " (--preset paper without the imported reference set: not the authors' texts)"
                per_record = r["summary"].get("paths_per_record")
                if key == "num_paths" and per_record is not None and per_record != value:
                    text += f" (records hold {per_record:g})"
                cells.append(f"<td>{_esc(text)}</td>")
        out.append(f"<tr><th>{_esc(label)}</th>{''.join(cells)}</tr>")
    out.append(
        "<tr><th>baseline</th>"
        + "".join(f"<td>{'this run' if r['is_baseline'] else _esc(r['baseline'] or '–')}</td>" for r in runs)
        + "</tr>"
    )
    out.append(
        "<tr><th>full config</th>"
        + "".join(
            "<td><details><summary>show</summary>"
            f"<pre>{_esc(json.dumps(r['config'], indent=1, ensure_ascii=False))}</pre></details></td>"
            for r in runs
        )
        + "</tr>"
    )
    out.append("</tbody></table></div>")
    return "".join(out)


def summary_rows(ev: Evaluation) -> list[tuple[dict[str, Any], bool]]:
    """(run summary, is a reference baseline) in the order the page shows them: references first."""
    return [(b, True) for b in ev.reference_summaries()] + [(s, False) for s in ev.summaries]


def accuracy_svg(rows: Sequence[tuple[dict[str, Any], bool]]) -> str:
    """pass@1 of every run (and reference baseline) with its 95% CI, as an inline SVG bar chart."""
    rows = [(s, ref) for s, ref in rows if s.get("pass@1") is not None]
    if not rows:
        return ""
    bar_h, gap, left, width = 22, 8, 300, 360
    height = len(rows) * (bar_h + gap) + 40
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{left + width + 60}" height="{height}" '
        f'role="img" aria-label="pass@1 per run">'
    ]
    for tick in range(0, 11, 2):
        x = left + width * tick / 10
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 25}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{tick / 10:.1f}</text>')
    for i, (s, ref) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        acc = float(s["pass@1"])
        label = f"{s.get('dataset')} {s.get('method')}/{s.get('tag')}" + (" (baseline)" if ref else "")
        short = label if len(label) <= 44 else label[:43] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">'
            f"<title>{_esc(label)}</title>{_esc(short)}</text>"
        )
        cls = "bar ref" if ref or s.get("method") == "base" else "bar"
        parts.append(
            f'<rect class="{cls}" x="{left}" y="{y}" width="{max(width * acc, 1):.1f}" height="{bar_h}">'
            f"<title>{_esc(label)}: pass@1 {acc:.3f}</title></rect>"
        )
        lo, hi = (s.get("pass@1_ci95") or [None, None])[:2]
        right = acc
        if lo is not None and hi is not None:
            cy = y + bar_h / 2
            parts.append(
                f'<line class="ci" x1="{left + width * lo:.1f}" y1="{cy}" x2="{left + width * hi:.1f}" y2="{cy}"/>'
            )
            right = max(acc, hi)
        parts.append(f'<text x="{left + width * right + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{acc:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def plots_html(rows: Sequence[tuple[dict[str, Any], bool]], plots: Sequence[str | Path]) -> str:
    figures = []
    svg = accuracy_svg(rows)
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
        figures.append(
            f'<figure><img alt="{_esc(p.stem)}" src="{uri}"><figcaption>{_esc(p.stem)}</figcaption></figure>'
        )
    if not figures:
        return "<p>No plot: no run has a pass@1.</p>"
    return '<div class="plots">' + "".join(figures) + "</div>"


def _asset(name: str) -> str:
    return resources.files("ssr.analysis").joinpath("report_assets", name).read_text(encoding="utf-8")


def render_chunks(
    ev: Evaluation,
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
    csp = (
        f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{js_hash}'; "
        "base-uri 'none'; form-action 'none'"
    )
    title = title or "SSR report: " + ", ".join(index["result_dirs"] or ["results"])
    notes = "".join(f"<li>{_esc(n)}</li>" for n in index["notes"])
    skipped = "".join(f"<li><code>{_esc(p)}</code>: {_esc(r)}</li>" for p, r in index["skipped"])
    n_rec = len(index["rows"])
    rows = summary_rows(ev)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{css}</style></head><body>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="meta">evaluated {_esc(index["generated_at"] or "")} · {n_rec} records · '
        f"baseline: {_esc(index['baseline_dir'] or 'none given')}</p></header>",
        '<nav><a href="#runs">runs</a> <a href="#summary">summary</a> <a href="#plots">plots</a> '
        '<a href="#problems">problems</a></nav>',
        '<section id="runs"><h2>Runs and configuration</h2>',
        config_table_html(index),
        "</section>",
        '<section id="summary"><h2>Summary</h2>',
        summary_table_html(rows, ev.ks),
        f'<details class="notes" {"open" if notes else ""}>'
        f'<summary>Notes from the evaluation ({len(index["notes"])})</summary><ul>{notes}</ul></details>',
        "</section>",
        f'<section id="skipped" class="{"bad" if skipped else "ok"}">'
        f'<h2>Skipped result files ({len(index["skipped"])})</h2>',
        f"<ul>{skipped}</ul>" if skipped else "<p>None: every result file was readable and complete.</p>",
        "</section>",
        '<section id="plots"><h2>Plots</h2>',
        plots_html(rows, plots),
        "</section>",
        '<section id="problems"><h2>Problems</h2><div id="controls"></div><div id="list"></div>'
        "<noscript><p>The problem list needs JavaScript.</p></noscript></section>",
        f'<script type="application/json" id="{DATA_ID}">{script_json(index)}</script>',
        f"<script>{js}</script>",
    ]
    yield "\n".join(head) + "\n"
    # the records come after the page's script: the list renders before the browser has parsed them
    for i, r in enumerate(records):
        yield f'<script type="application/json" id="{RECORD_ID_PREFIX}{i}">{script_json(r)}</script>\n'
    yield "</body></html>\n"


def write_report(
    ev: Evaluation, out_path: str | Path, plots: Sequence[str | Path] | None = None, title: str | None = None
) -> Path:
    """Write the page of ``ev`` to ``out_path`` (a file, or an existing folder to write ``report.html`` into).

    ``plots``: PNG/SVG files to embed (what ``ssr.analysis.plots.make_plots`` returned); None draws
    them into a temporary folder; ``()`` embeds none (the page still has its own pass@1 chart).
    """
    out = Path(out_path)
    if out.is_dir():
        out = out / REPORT_NAME
    index, records = page_data(ev)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out.with_name(f".{out.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="ssr-report-plots-") as plot_dir:
        if plots is None:
            plots = make_plots(ev, plot_dir)
        try:
            # errors="replace": a lone surrogate (possible in JSON-escaped model text) cannot be UTF-8
            with open(tmp_path, "w", encoding="utf-8", errors="replace") as fh:
                for chunk in render_chunks(ev, index, records, plots, title):
                    fh.write(chunk)
            tmp_path.replace(out)  # a reader never sees half a page
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
    return out
