"""Figures in the style of the paper, drawn only when their data exists (PNG, Agg backend).

* accuracy vs 1/normalised FLOPs (Fig. 3): every run with a gamma, plus the baseline at 1;
* accuracy vs number of parallel paths: the vote of separate parallel runs (and base as N=1) with >= 2
  distinct N (the paper's Fig. 2 is coverage, below);
* coverage, pass@k over one run's paths for k = 1..9 (Fig. 2): runs with several paths, each with its
  majority-vote accuracy at its N;
* distribution of step scores (Fig. 5): speculative runs whose steps carry scores;
* strategy-selection frequency: runs whose records carry ``selection.strategies``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ssr.analysis.coverage import coverage_points

if TYPE_CHECKING:
    from ssr.analysis.evaluate import Evaluation

ACCURACY_KEY = "pass@1"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


def _pyplot() -> Any:
    """matplotlib's pyplot, loaded on the first figure (a third of a second an eval without plots does not pay)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: the eval scripts run on servers without a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def accuracy_vs_flops(points: Sequence[tuple[str, float, float]], path: Path, title: str) -> Path:
    """``points``: (label, gamma, accuracy); x is 1/gamma so that cheaper runs sit to the right."""
    fig, ax = _pyplot().subplots(figsize=(6, 4.5))
    for label, gamma, acc in points:
        ax.scatter(1.0 / gamma, acc, s=40)
        ax.annotate(label, (1.0 / gamma, acc), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("1 / normalised FLOPs (baseline = 1)")
    ax.set_ylabel("pass@1")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def accuracy_vs_paths(points: Sequence[tuple[int, float, str]], path: Path, title: str) -> Path:
    """``points``: (number of paths, accuracy, label)."""
    pts = sorted(points)
    fig, ax = _pyplot().subplots(figsize=(6, 4.5))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o")
    for n, acc, label in pts:
        ax.annotate(label, (n, acc), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("number of parallel paths N")
    ax.set_ylabel("pass@1")
    ax.set_xticks(sorted({p[0] for p in pts}))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


Curve = tuple[str, Sequence[tuple[int, float]], "float | None"]


def coverage_vs_k(curves: Sequence[Curve], path: Path, title: str) -> Path:
    """``curves``: (label, [(k, coverage@k)], the accuracy of the run's vote over all its paths, or None)."""
    fig, ax = _pyplot().subplots(figsize=(6, 4.5))
    ks: set[int] = set()
    for label, pts, vote in curves:
        line = ax.plot([k for k, _ in pts], [v for _, v in pts], marker="o", label=f"{label}: coverage")[0]
        ks |= {k for k, _ in pts}
        if vote is not None and pts:
            ax.scatter(
                [pts[-1][0]], [vote], marker="x", s=70, color=line.get_color(), label=f"{label}: vote of its paths"
            )
    ax.set_xlabel("k (paths of one run)")
    ax.set_ylabel("coverage: pass@k over paths")
    ax.set_xticks(sorted(ks))
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def step_score_histogram(scores: Sequence[float], path: Path, title: str, threshold: float | None = None) -> Path:
    fig, ax = _pyplot().subplots(figsize=(6, 4.5))
    integer = all(float(s).is_integer() for s in scores)  # greedy scores are digits, "average" ones are not
    ax.hist(scores, bins=[x - 0.5 for x in range(11)] if integer else 20, edgecolor="black")
    if threshold is not None:
        # a step is accepted when score >= threshold: with integer bins the boundary is half a bin lower
        ax.axvline(
            threshold - 0.5 if integer else threshold, color="red", ls="--", label=f"accepted: score >= {threshold:g}"
        )
        ax.legend()
    ax.set_xlabel("step score (0-9)")
    ax.set_ylabel("steps")
    ax.set_title(title)
    return _save(fig, path)


def strategy_frequency(counts: dict[str, int], path: Path, title: str) -> Path:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = _pyplot().subplots(figsize=(7, max(3.0, 0.35 * len(items) + 1)))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1])
    ax.set_xlabel("times selected")
    ax.set_title(title)
    return _save(fig, path)


def make_plots(evaluation: "Evaluation", out_dir: str | Path) -> list[Path]:
    """Every figure whose data exists in the evaluation."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    summaries = evaluation.summaries
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in summaries:
        by_dataset[s["dataset"]].append(s)

    for dataset, group in sorted(by_dataset.items()):
        # Fig. 3: efficiency; the baseline is the reference point at gamma = 1
        pts = [
            (f"{s['method']}/{s['tag']}", s["flops"]["gamma"], s[ACCURACY_KEY])
            for s in group
            if (s.get("flops") or {}).get("gamma") and s.get(ACCURACY_KEY) is not None
        ]
        base = evaluation.baseline_summaries.get(dataset)
        if base and base.get(ACCURACY_KEY) is not None and not any(s["run_dir"] == base["run_dir"] for s in group):
            pts.append((f"baseline/{base['tag']}", 1.0, base[ACCURACY_KEY]))
        if len(pts) >= 2:
            written.append(
                accuracy_vs_flops(
                    pts, out_dir / f"accuracy_vs_flops_{_slug(dataset)}.png", f"{dataset}: accuracy vs 1/FLOPs"
                )
            )

        # Fig. 2: scaling with the number of paths
        path_pts = []
        for s in group:
            if s.get(ACCURACY_KEY) is None:
                continue
            if s["method"] == "parallel" and s.get("num_paths_config"):
                path_pts.append((int(s["num_paths_config"]), s[ACCURACY_KEY], s["tag"]))
            elif s["method"] == "base":
                path_pts.append((1, s[ACCURACY_KEY], s["tag"]))
        if base and base.get(ACCURACY_KEY) is not None and not any(s["method"] == "base" for s in group):
            path_pts.append((1, base[ACCURACY_KEY], f"baseline/{base['tag']}"))
        if len({p[0] for p in path_pts}) >= 2 and any(s["method"] == "parallel" for s in group):
            written.append(
                accuracy_vs_paths(
                    path_pts,
                    out_dir / f"accuracy_vs_paths_{_slug(dataset)}.png",
                    f"{dataset}: accuracy vs parallel paths",
                )
            )

        # Fig. 2: coverage of the runs with several paths
        curves = [
            (f"{s['method']}/{s['tag']}", coverage_points(s), s.get(ACCURACY_KEY)) for s in group if s.get("coverage")
        ]
        if curves:
            written.append(
                coverage_vs_k(curves, out_dir / f"coverage_{_slug(dataset)}.png", f"{dataset}: coverage over paths")
            )

    used: set[str] = set()
    for run, s in zip(evaluation.runs, summaries):
        name = stem = _slug(f"{run.dataset}_{run.method}_{run.tag}")
        # the same tag can come from two result folders: keep both figures
        i = 1
        while name in used:
            name, i = f"{stem}_{i}", i + 1
        used.add(name)
        scores = run.step_scores()
        if scores:
            threshold = run.config().get("score_threshold")
            written.append(
                step_score_histogram(
                    scores, out_dir / f"step_scores_{name}.png", f"{run.dataset} {run.label}: step scores", threshold
                )
            )
        if s.get("strategies"):
            written.append(
                strategy_frequency(
                    s["strategies"],
                    out_dir / f"strategies_{name}.png",
                    f"{run.dataset} {run.label}: selected strategies",
                )
            )
    return written
