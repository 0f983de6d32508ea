"""A benchmark report (report.json) as markdown (report.md) and a figure (report.png).

The arms table takes its shared columns (pass@1, tokens, rewrite rate, FLOPs) from
``ssr.analysis.table``, the eval scripts' one column list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import async_arms
from bench.async_arms import ASYNC_ARMS
from ssr.analysis import table

ORDER = ("baseline", "parallel", "spec-reason", "ssr", "ssr-fast1", "ssr-fast2", *ASYNC_ARMS)


def _f(x: Any, digits: int = 3) -> str:
    return table.fmt(x, digits)


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(arm, batched summary) in order; reads old reports (one evaluation, no arms) too."""
    ev = report["evaluation"]
    if "batched" in ev:
        return [(name, r) for name in ORDER if (r := ev["batched"]["by_arm"].get(name))]
    by_method = {r["method"]: r for r in ev["runs"]}
    names = {"baseline": "base", "parallel": "parallel", "spec-reason": "spec", "ssr": "ssr"}
    out = []
    for name in ORDER[:4]:
        run = by_method.get(names[name])
        if run is None and name == "baseline":
            run = next(iter(ev.get("baselines", {}).values()), None)
        if run is not None:
            out.append((name, run))
    return out


def _seq(report: dict[str, Any], name: str) -> dict[str, Any]:
    return ((report["evaluation"].get("sequential") or {}).get("by_arm") or {}).get(name) or {}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met?) for the issue's targets; None where it could not be measured."""
    rows = dict(_rows(report))
    lat = {name: (_seq(report, name).get("latency_s") or {}).get("mean") for name in ORDER}
    out: list[tuple[str, str, bool | None]] = []
    base, spec = rows.get("baseline") or {}, rows.get("spec-reason") or {}
    r = _ratio(lat.get("spec-reason"), lat.get("baseline"))
    lo, hi = base.get("pass@1_ci95") or (None, None)
    p1 = spec.get("pass@1")
    within = None if p1 is None or lo is None else lo <= p1 <= hi
    out.append(("spec-reason latency <= 0.6x baseline, pass@1 within the baseline's CI",
                f"{_f(r, 2)}x; pass@1 {_f(p1)} vs baseline CI [{_f(lo)}, {_f(hi)}]",
                None if r is None else (r <= 0.6 and bool(within))))
    r = _ratio(lat.get("ssr"), lat.get("baseline"))
    out.append(("SSR (n paths) latency <= 1.0x baseline", f"{_f(r, 2)}x", None if r is None else r <= 1.0))
    share = (report.get("phase_share") or {}).get("ssr", {}).get("score")
    out.append(("scoring <= 25% of SSR wall time", _pct(share), None if share is None else share <= 0.25))
    pc = (report.get("prefix_cache") or {}).get("ssr") or {}
    if pc:
        bound = pc["mean_draft_step_tokens"] + 64
        out.append(
            (
                "prompt tokens prefilled per scoring pass <= step + 64",
                f"{pc['mean_uncached_prefill_tokens']:.0f} vs {bound:.0f}",
                pc["mean_uncached_prefill_tokens"] <= bound,
            )
        )
    arms = report.get("arms") or {}
    b, q = (arms.get("batched") or {}).get("ssr") or {}, (arms.get("sequential") or {}).get("ssr") or {}
    r = _ratio(b.get("records_per_hour"), q.get("records_per_hour"))
    out.append(
        (
            "batching >= 2x the problems/hour of one at a time (SSR, cold)",
            f"{_f(r, 2)}x",
            None if r is None else r >= 2.0,
        )
    )
    fl = spec.get("flops") or {}
    floor = None if fl.get("beta") is None or fl.get("alpha") is None else fl["beta"] * (1 + fl["alpha"])
    r = _ratio(fl.get("processed_flops_ratio"), floor)
    out.append(
        (
            "spec-reason processed FLOPs <= 1.5x its floor beta(1+alpha)",
            f"{_f(fl.get('processed_flops_ratio'))} vs floor {_f(floor)} ({_f(r, 2)}x); paper's gamma "
            f"{_f(fl.get('gamma'))}",
            None if r is None else r <= 1.5,
        )
    )
    return out


def is_per_arm(report: dict[str, Any]) -> bool:
    """False for a report written before the cold, per-arm benchmark (results/cpu-demo, cpu-demo-continuation)."""
    return "arms" in report


def write_markdown(report: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    if not is_per_arm(report):
        raise ValueError(
            "a report in the format before the per-arm benchmark (no 'arms'): its markdown is not rendered again"
        )
    c = report["config"]
    base_lat = (_seq(report, "baseline").get("latency_s") or {}).get("mean")
    lines = [
        *_header(report),
        f"Models: target `{c['target_model']}`, draft `{c['draft_model']}`; backend {c['backend'] or 'default'}, "
        f"dtype {c['dtype']}. "
        f"Budget {c['token_budget']} tokens per path, steps up to {c['max_step_tokens']} tokens, threshold "
        f"{c['score_threshold']:g} "
        f"({c['score_method']} score, {c.get('score_prompt', '?')} scoring prompt, {c.get('prompt_format', 'chat')} "
        f"format), "
        f"temperature {c['temperature']}, seed {c['seed']}, {c['repeat_id']} repeat(s) in the batched arms.",
        "",
        f"Problems ({len(report['problems'])}; the first {report['sequential_problems']} one at a time): "
        + ", ".join(
            f"{p['dataset']}#{p['id']}" + (f" (L{p['level']})" if p.get("level") else "") for p in report["problems"]
        ),
        "",
        "Every arm starts on cold prefix caches. *Latency*: wall seconds per problem run one at a time (the paper's "
        "setting). "
        "*Throughput*: problems (records) per hour batched across problems. *tgt passes*: sequential target forward "
        "passes per "
        "problem (decode steps + scoring passes on the critical path), the model-free proxy of GPU latency.",
        "",
        "| " + " | ".join(["arm", *(h for h, _ in ARM_COLUMNS)]) + " |",
        "|---" * (len(ARM_COLUMNS) + 1) + "|",
    ]
    arms = report["arms"]
    for name, r in _rows(report):
        sq = _seq(report, name)
        lat = (sq.get("latency_s") or {}).get("mean")
        own = {
            "latency": _f(lat, 1),
            "x base": _f(_ratio(lat, base_lat), 2),
            "per hour": _f((arms["batched"].get(name) or {}).get("records_per_hour"), 1),
        }
        # pass@1, tokens, rewrite and FLOPs from the batched arm; the critical path from the one-at-a-time arm
        cells = [
            own[key] if key in own else table.cell(key, sq if key == "target_passes" else r, "bench")
            for _, key in ARM_COLUMNS
        ]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t, measured, ok in targets(report):
        lines.append(f"| {t} | {measured} | {'-' if ok is None else ('yes' if ok else 'no')} |")
    lines += [
        "",
        "## Batching across problems",
        "",
        "| arm | one at a time: problems/h | batched: problems/h | ratio |",
        "|---|---|---|---|",
    ]
    for name in ORDER:
        q, b = arms["sequential"].get(name), arms["batched"].get(name)
        if q and b:
            lines.append(
                f"| {name} | {_f(q['records_per_hour'], 1)} | {_f(b['records_per_hour'], 1)} | "
                f"{_f(_ratio(b['records_per_hour'], q['records_per_hour']), 2)}x |"
            )
    lines += [
        "",
        "## Where the speculative arms' time goes (one problem at a time)",
        "",
        "| arm | " + " | ".join(PHASES) + " |",
        "|---" * (len(PHASES) + 1) + "|",
    ]
    for name, share in (report.get("phase_share") or {}).items():
        lines.append(f"| {name} | " + " | ".join(_pct(share.get(k)) for k in PHASES) + " |")
    lines += [
        "",
        "## The target's scoring passes (one problem at a time)",
        "",
        "| arm | passes | prompt tokens / pass | prefilled | from the cache | mean draft step |",
        "|---|---|---|---|---|---|",
    ]
    for name, pc in (report.get("prefix_cache") or {}).items():
        if pc:
            lines.append(
                f"| {name} | {pc['scoring_calls']} | {pc['mean_scoring_prompt_tokens']:.0f} | "
                f"{pc['mean_uncached_prefill_tokens']:.0f} | "
                f"{pc['mean_cached_tokens']:.0f} | {pc['mean_draft_step_tokens']:.0f} |"
            )
    lines += bounds_section(report)
    lines += async_arms.section(report)
    if previous is not None:
        lines += compare_section(report, previous)
    notes = report["evaluation"]["batched"].get("notes") or []
    if notes:
        lines += ["", "Evaluation notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


PHASES = ("select", "draft", "score", "rewrite")

# (header, column key): the bench's own columns among the eval table's (ssr.analysis.table)
ARM_COLUMNS = (
    ("pass@1", "pass@1"),
    (table.header("ci", "bench"), "ci"),
    ("latency s", "latency"),
    ("x base", "x base"),
    ("problems/h batched", "per hour"),
    *(
        (table.header(k, "bench"), k)
        for k in ("target_tokens", "draft_tokens", "rewrite_rate", "target_passes", "gamma", "processed_flops_ratio")
    ),
)


def _block(report: dict[str, Any]) -> str:
    size = report["config"].get("block_size")
    return f" ({size} tokens)" if size else ""


def bounds_section(report: dict[str, Any]) -> list[str]:
    """The floors each target meets on this machine, from the run's measured unit costs (bench/bounds.py)."""
    b = report.get("bounds")
    if not b:
        return []
    lines = ["", "## What bounds the targets here (from this run's measured costs)", ""]
    uc = b.get("unit_costs") or {}
    lines += [
        "Unit costs, one problem at a time:",
        "",
        "| arm | s / target token decoded | s / draft token | s / scoring pass | prefill tokens / s (scoring) | s / "
        "rewritten token | mean step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ORDER:
        u = uc.get(name)
        if u:
            lines.append(
                f"| {name} | {_f(u.get('target_decode_s_per_token'))} | {_f(u.get('draft_s_per_token'))} | "
                f"{_f(u.get('score_s_per_pass'), 2)} | "
                f"{_f(u.get('score_prefill_tokens_per_s'), 0)} | {_f(u.get('rewrite_s_per_token'))} | "
                f"{_f(u.get('mean_step_tokens'), 0)} |"
            )
    lines.append("")
    fl = b.get("spec_latency_floor")
    if fl:
        lines.append(
            f"- **spec-reason latency, floor {fl['ratio']:.2f}x the baseline's at equal path length.** Even with no "
            f"step rewritten, each token "
            f"of the final path costs one draft decode step ({_f(fl['draft_s_per_token'])} s) plus its share of a "
            f"scoring pass "
            f"({_f(fl['score_s_per_token'])} s), against {_f(fl['baseline_s_per_token'])} s for a target decode step. "
            f"On 2 CPU cores the "
            "draft decodes only a few times faster than the target (a decode step is bound by reading the weights; "
            "the demo's "
            "draft has about 3x fewer parameters than its target, the paper's 1.5B draft about 18x fewer than QwQ-32B)."
        )
    sl = b.get("ssr_latency_floor")
    if sl:
        lines.append(
            f"- **SSR latency, {sl['without_rewrites_ratio']:.2f}x the baseline's even with rewrites free**: strategy "
            f"selection "
            f"{sl['select_ratio']:.2f}x, drafting {report['config'].get('method_num')} paths "
            f"{sl['draft_ratio']:.2f}x, scoring {sl['score_ratio']:.2f}x "
            f"(rewrites {sl['rewrite_ratio']:.2f}x), each in units of the baseline's whole time per problem."
        )
    sh = b.get("score_share_floor")
    if sh:
        lines.append(
            f"- **Scoring share, floor {_pct(sh['share_if_only_the_step'])}** if each pass prefilled only the step it "
            f"scores: "
            f"the target prefills {_f(sh['prefill_tokens_per_s'], 0)} tokens/s in scoring passes while the draft "
            f"spends "
            f"{_f(sh['draft_s_per_token'])} s per token (its paths batched) to write them."
        )
    ps = b.get("prefill_split")
    if ps:
        note = "?" if ps.get("note") is None else f"{ps['note']}"
        rest = "?" if ps.get("rest") is None else f"{ps['rest']:.0f}"
        lines.append(
            f"- **Prefilled per scoring pass: {ps['prefilled']:.0f} tokens** = the step ({ps['step']:.0f}) + the "
            f"judging note and answer prefix "
            f"({note}) + the rest ({rest}: the unfilled tail of the path's last cache block{_block(report)}, the "
            f"seam, and rewritten steps). Of the target's allowance of 64 tokens above the step, the note takes "
            f"{note} and the rest {rest}."
        )
    bo = (b.get("batching_by_op") or {}).get("ssr")
    if bo:
        parts = ", ".join(
            f"{op} {_f(v['one_at_a_time_s'], 1)} -> {_f(v['batched_s'], 1)} s ({_f(v['speedup'], 2)}x)"
            for op, v in bo.items()
        )
        lines.append(
            f"- **Batching, SSR, seconds per problem by engine operation** (one at a time -> batched): {parts}. "
            f"Decoding "
            "batches (more tokens per weight read); prefill is already compute-bound on 2 cores and does not."
        )
    for name, f in (b.get("flops_split") or {}).items():
        if not f:
            continue
        parts = ", ".join(f"{k} {v:.3f}" for k, v in f["parts"].items() if v)
        lines.append(
            f"- **{name} processed FLOPs {f['total']:.3f}x the baseline's** (floor {_f(f.get('floor'))} = "
            f"{f['paths']:.0f} path(s) x beta {_f(f.get('beta'))} x (1 + alpha {_f(f.get('alpha'))})): {parts}."
        )
    return lines


def _scoring_share(report: dict[str, Any]) -> float | None:
    if "phase_share" in report:
        return (report["phase_share"].get("ssr") or {}).get("score")
    return (report.get("ssr_phase_share") or {}).get("target.score")


def _ssr_cache(report: dict[str, Any]) -> dict[str, Any]:
    pc = report.get("prefix_cache") or {}
    return pc.get("ssr") or {} if "arms" in report else pc


def _latency(report: dict[str, Any], name: str, run: dict[str, Any]) -> float | None:
    src = _seq(report, name) if "arms" in report else run
    return (src.get("latency_s") or {}).get("mean")


def compare_section(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """This run's scoring cost next to an earlier report's (same command, other code)."""
    pc, pp = _ssr_cache(report), _ssr_cache(previous)
    now, before = dict(_rows(report)), dict(_rows(previous))
    lines = [
        "",
        "## Against the previous report",
        "",
        f"Previous: `{previous.get('command', '?')}` ({previous.get('config', {}).get('score_prompt', 'grader')} "
        f"scoring prompt)",
        "",
        "| | previous | this run |",
        "|---|---|---|",
        f"| scoring prompt | {previous.get('config', {}).get('score_prompt', 'grader (separate message)')} | "
        f"{report['config'].get('score_prompt', '?')} |",
        f"| mean scoring prompt, tokens | {_f(pp.get('mean_scoring_prompt_tokens'), 0)} | "
        f"{_f(pc.get('mean_scoring_prompt_tokens'), 0)} |",
        f"| prefilled per scoring pass (not from the cache), tokens | {_f(pp.get('mean_uncached_prefill_tokens'), 0)} "
        f"| {_f(pc.get('mean_uncached_prefill_tokens'), 0)} |",
        f"| served from the cache per scoring pass, tokens | {_f(_cached(pp), 0)} | {_f(_cached(pc), 0)} |",
        f"| mean draft step, tokens | {_f(pp.get('mean_draft_step_tokens'), 0)} | "
        f"{_f(pc.get('mean_draft_step_tokens'), 0)} |",
        f"| share of SSR wall time spent scoring | {_pct(_scoring_share(previous))} | {_pct(_scoring_share(report))} |",
    ]
    for name in ("spec-reason", "ssr"):
        a, b = before.get(name) or {}, now.get(name) or {}
        lines.append(
            f"| {name}: wall s / problem | {_f(_latency(previous, name, a), 1)} | {_f(_latency(report, name, b), 1)} |"
        )
        lines.append(f"| {name}: rewrite rate | {_f(a.get('rewrite_rate'))} | {_f(b.get('rewrite_rate'))} |")
        lines.append(
            f"| {name}: processed FLOPs ratio | {_f((a.get('flops') or {}).get('processed_flops_ratio'))} | "
            f"{_f((b.get('flops') or {}).get('processed_flops_ratio'))} |"
        )
    return lines


def _cached(pc: dict[str, Any]) -> float | None:
    if not pc:
        return None
    return pc["mean_scoring_prompt_tokens"] - pc["mean_uncached_prefill_tokens"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _header(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    return [
        "# SSR benchmark report",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cpus')} CPUs, {m.get('mem_gib')} GiB; {m.get('platform')}; "
        f"vLLM {m.get('vllm')}, torch {m.get('torch')}, GPU: {m.get('cuda') or 'none'}",
        "",
    ]


def write_plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(report)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, r in rows:
        g = (r.get("flops") or {}).get("gamma")
        if g is not None and r.get("pass@1") is not None:
            ax1.scatter([g], [r["pass@1"]], s=60)
            ax1.annotate(name, (g, r["pass@1"]), textcoords="offset points", xytext=(5, 5))
    ax1.set_xlabel("normalized FLOPs γ (paper's formula; baseline = 1)")
    ax1.set_ylabel("pass@1")
    ax1.set_title("accuracy vs normalized FLOPs")
    names = [n for n, _ in rows]
    lat = [_latency(report, n, r) or 0.0 for n, r in rows]
    ax2.bar(names, lat, color="tab:gray")
    ax2.tick_params(axis="x", labelrotation=30)
    ax2.set_ylabel("wall seconds per problem" + (" (one at a time)" if "arms" in report else " (mean, batched)"))
    ax2.set_title("time per problem")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
