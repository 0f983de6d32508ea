#!/usr/bin/env python
"""Calibrate the step-score threshold of a judge on recorded draft steps.

Re-scores every draft step of the given spec/ssr result records with the current
scoring prompt on the target model (``--score_method`` decides greedy digit or
expected score) and prints the distribution of scores, the threshold at a chosen
percentile (the paper's Appendix C: about 20% of steps score below the threshold)
and the share of steps each candidate threshold would send to the target. Where
the records carry the scores of an earlier scoring prompt, the two are compared
step by step.

    python bench/calibrate.py --preset cpu-demo --records bench/results/X/runs-batched/ssr --percentile 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssr.command_line import add_run_args, config_from_args  # noqa: E402
from ssr.config import RunConfig  # noqa: E402
from ssr.records import Step  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    import numpy as np

    return float(np.percentile(values, q))


def rank_correlation(a: list[float], b: list[float]) -> float | None:
    """Spearman's rho (ties get average ranks); None when either side is constant."""
    import numpy as np

    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _ranks(values: list[float]):
    import numpy as np

    v = np.asarray(values, dtype=float)
    r = np.empty(len(v))
    r[np.argsort(v, kind="mergesort")] = np.arange(len(v))
    for x in np.unique(v):  # ties share their mean rank
        r[v == x] = r[v == x].mean()
    return r


def summarise(scores: list[float], q: float, thresholds: list[float]) -> dict:
    return {
        "steps": len(scores),
        "percentiles": {p: percentile(scores, p) for p in (10, 20, 50, 80, 90)},
        "suggested_threshold": round(percentile(scores, q), 2),
        "percentile": q,
        "rewrite_share": {t: sum(s < t for s in scores) / len(scores) for t in thresholds},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser, RunConfig(score_method="average"))
    parser.add_argument(
        "--records", required=True, nargs="+", help="folders of spec/ssr result records whose steps are re-scored"
    )
    parser.add_argument(
        "--percentile", type=float, default=20.0, help="the threshold suggested is this percentile of the scores"
    )
    parser.add_argument(
        "--thresholds", default="3,3.5,4,4.5,5,6,7", help="candidate thresholds to report the rewrite share of"
    )
    parser.add_argument("--out", default=None, help="write the scores and the summary as JSON here")
    argv = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(argv)
    if not 0 <= args.percentile <= 100:
        parser.error(f"--percentile must be in [0, 100], got {args.percentile}")
    try:
        thresholds = [float(x) for x in args.thresholds.split(",")]
    except ValueError:
        parser.error(f"--thresholds must be comma-separated numbers, got {args.thresholds!r}")
    cfg = config_from_args("ssr", parser, argv)

    from bench.replay import ReplayError, paths_to_replay, scoring_passes
    from ssr.plan import build_engine
    from ssr.reasoning import step_score

    try:
        paths = paths_to_replay(args.records)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = build_engine("target", cfg)
    try:
        steps, prompts = zip(*scoring_passes(cfg, engine, paths))
        t0 = time.perf_counter()
        results = engine.score_digits(list(prompts))  # one batch: calibration needs the scores, not the timing
        seconds = time.perf_counter() - t0
    finally:
        engine.close()
    scores = [step_score(r, cfg.score_method) for r in results]
    summary = summarise(scores, args.percentile, thresholds)
    earlier = [step_score(_recorded(s), cfg.score_method) for s in steps if s.score_probs]
    if len(earlier) == len(scores):
        summary["recorded_prompt"] = {
            "percentiles": summarise(earlier, args.percentile, thresholds)["percentiles"],
            "spearman_vs_now": rank_correlation(earlier, scores),
        }
    print(
        f"{len(scores)} steps from {len(paths)} paths re-scored in {seconds:.0f} s ({cfg.score_method} score, "
        f"{cfg.score_prompt} scoring prompt)"
    )
    print("percentiles: " + ", ".join(f"p{p} {v:.2f}" for p, v in summary["percentiles"].items()))
    print(f"threshold at p{args.percentile:g}: {summary['suggested_threshold']}")
    print(
        "share of steps rewritten at threshold: "
        + ", ".join(f"{t:g}: {v:.0%}" for t, v in summary["rewrite_share"].items())
    )
    if "recorded_prompt" in summary:
        rp = summary["recorded_prompt"]
        rho = rp["spearman_vs_now"]
        print(
            "the records' own scores: "
            + ", ".join(f"p{p} {v:.2f}" for p, v in rp["percentiles"].items())
            + f"; rank correlation with now: {'-' if rho is None else f'{rho:.2f}'}"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(
                {
                    "command": " ".join(["python bench/calibrate.py", *argv]),
                    "config": cfg.to_dict(),
                    "summary": summary,
                    "scores": scores,
                    "recorded_scores": earlier if len(earlier) == len(scores) else None,
                },
                indent=1,
            )
        )
    return 0


def _recorded(step: Step):
    from ssr.engines.base import ScoreResult

    return ScoreResult(probs=list(step.score_probs), prompt_tokens=step.score_prompt_tokens)


if __name__ == "__main__":
    sys.exit(main())
