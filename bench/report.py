"""Render a benchmark report (report.json) as markdown and a figure."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ORDER = ("baseline", "parallel", "spec-reason", "ssr")


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    ev = report["evaluation"]
    by_method = {r["method"]: r for r in ev["runs"]}
    names = {"baseline": "base", "parallel": "parallel", "spec-reason": "spec", "ssr": "ssr"}
    out = []
    for name in ORDER:
        run = by_method.get(names[name])
        if run is None and name == "baseline":
            run = next(iter(ev.get("baselines", {}).values()), None)
        if run is not None:
            out.append((name, run))
    return out


def _scoring_share(report: dict[str, Any]) -> float | None:
    return (report.get("ssr_phase_share") or {}).get("target.score")


def compare_section(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """This run's scoring cost next to an earlier report's (same command, other code)."""
    pc, pp = report.get("prefix_cache") or {}, previous.get("prefix_cache") or {}
    now, before = dict(_rows(report)), dict(_rows(previous))
    lines = [
        "",
        "## Against the previous report",
        "",
        f"Previous: `{previous.get('command', '?')}` ({previous.get('config', {}).get('score_prompt', 'grader')} scoring prompt)",
        "",
        "| | previous | this run |",
        "|---|---|---|",
        f"| scoring prompt | {previous.get('config', {}).get('score_prompt', 'grader (separate message)')} | {report['config'].get('score_prompt', '?')} |",
        f"| mean scoring prompt, tokens | {_f(pp.get('mean_scoring_prompt_tokens'), 0)} | {_f(pc.get('mean_scoring_prompt_tokens'), 0)} |",
        f"| prefilled per scoring pass (not from the cache), tokens | {_f(pp.get('mean_uncached_prefill_tokens'), 0)} | {_f(pc.get('mean_uncached_prefill_tokens'), 0)} |",
        f"| served from the cache per scoring pass, tokens | {_f(_cached(pp), 0)} | {_f(_cached(pc), 0)} |",
        f"| mean draft step, tokens | {_f(pp.get('mean_draft_step_tokens'), 0)} | {_f(pc.get('mean_draft_step_tokens'), 0)} |",
        f"| share of SSR wall time spent scoring | {_pct(_scoring_share(previous))} | {_pct(_scoring_share(report))} |",
    ]
    for name in ("spec-reason", "ssr"):
        a, b = before.get(name) or {}, now.get(name) or {}
        lines.append(f"| {name}: wall s / problem | {_f((a.get('latency_s') or {}).get('mean'), 1)} | {_f((b.get('latency_s') or {}).get('mean'), 1)} |")
        lines.append(f"| {name}: rewrite rate | {_f(a.get('rewrite_rate'))} | {_f(b.get('rewrite_rate'))} |")
        lines.append(f"| {name}: processed FLOPs ratio | {_f((a.get('flops') or {}).get('processed_flops_ratio'))} | {_f((b.get('flops') or {}).get('processed_flops_ratio'))} |")
    return lines


def _cached(pc: dict[str, Any]) -> float | None:
    if not pc:
        return None
    return pc["mean_scoring_prompt_tokens"] - pc["mean_uncached_prefill_tokens"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def write_markdown(report: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    m = report["machine"]
    c = report["config"]
    lines = [
        "# SSR benchmark report",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cpus')} CPUs, {m.get('mem_gib')} GiB; {m.get('platform')}; "
        f"vLLM {m.get('vllm')}, torch {m.get('torch')}, GPU: {m.get('cuda') or 'none'}",
        "",
        f"Models: target `{c['target_model']}`, draft `{c['draft_model']}`; backend {c['backend'] or 'default'}, dtype {c['dtype']}. "
        f"Budget {c['token_budget']} tokens per path, steps up to {c['max_step_tokens']} tokens, threshold {c['score_threshold']:g}, "
        f"temperature {c['temperature']}, seed {c['seed']}, {c['repeat_id']} repeat(s).",
        "",
        f"Problems ({len(report['problems'])}): "
        + ", ".join(f"{p['dataset']}#{p['id']}" + (f" (L{p['level']})" if p.get("level") else "") for p in report["problems"]),
        "",
        "| method | pass@1 | 95% CI | wall s / problem (mean) | target tok | draft tok | rewrite rate | γ (paper) | processed FLOPs ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in _rows(report):
        fl = r.get("flops") or {}
        ci = r.get("pass@1_ci95") or [None, None]
        lines.append(
            f"| {name} | {_f(r.get('pass@1'))} | [{_f(ci[0])}, {_f(ci[1])}] | {_f((r.get('latency_s') or {}).get('mean'), 1)} | "
            f"{_f(r.get('target_tokens_mean'), 0)} | {_f(r.get('draft_tokens_mean'), 0)} | {_f(r.get('rewrite_rate'))} | "
            f"{_f(fl.get('gamma'))} | {_f(fl.get('processed_flops_ratio'))} |"
        )
    lines += ["", "Wall time of each whole method run (all problems, batched):", ""]
    for name, t in report["methods"].items():
        lines.append(f"- {name}: {t['seconds']:.0f} s for {t['written'] + t['skipped']} problems ({t['skipped']} reused from an earlier run)")
    tp = report.get("throughput") or {}
    if tp:
        s, b = tp["sequential"], tp["batched"]
        ratio = (b["problems_per_hour"] / s["problems_per_hour"]) if s.get("problems_per_hour") and b.get("problems_per_hour") else None
        lines += [
            "",
            "## Batching across problems (same SSR work)",
            "",
            f"- one problem at a time (`--max_concurrent_problems 1`, the paper repository's loop): {s['problems']} problems in {s['seconds']:.0f} s = {_f(s['problems_per_hour'], 1)} problems/hour",
            f"- batched (`--max_concurrent_problems {c['max_concurrent_problems']}`): {b['problems']} problems in {b['seconds']:.0f} s = {_f(b['problems_per_hour'], 1)} problems/hour",
            f"- throughput ratio: **{_f(ratio, 2)}×**",
        ]
    share = report.get("ssr_phase_share") or {}
    if share:
        lines += ["", "## Where SSR's wall time goes", ""]
        for k, v in sorted(share.items(), key=lambda kv: -kv[1]):
            lines.append(f"- {k}: {v:.1%}")
    pc = report.get("prefix_cache") or {}
    if pc:
        lines += [
            "",
            "## Prefix caching of the target's scoring passes",
            "",
            f"- scoring passes: {pc['scoring_calls']}; mean scoring prompt {pc['mean_scoring_prompt_tokens']:.0f} tokens, "
            f"of which {pc['mean_uncached_prefill_tokens']:.0f} were prefilled (not served from the cache; hit fraction {_f(pc['cache_hit_fraction'])})",
            f"- mean draft step: {pc['mean_draft_step_tokens']:.0f} tokens",
        ]
    if previous is not None:
        lines += compare_section(report, previous)
    notes = report["evaluation"].get("notes") or []
    if notes:
        lines += ["", "Evaluation notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


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
    lat = [((r.get("latency_s") or {}).get("mean") or 0.0) for _, r in rows]
    ax2.bar(names, lat, color="tab:gray")
    ax2.set_ylabel("wall seconds per problem (mean, batched)")
    ax2.set_title("time per problem")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    # python bench/report.py REPORT.json [PREVIOUS_REPORT.json]: the markdown, with a comparison section
    rep = json.loads(Path(sys.argv[1]).read_text())
    prev = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    print(write_markdown(rep, prev), end="")
