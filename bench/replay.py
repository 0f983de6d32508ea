"""Replay the scoring passes of recorded speculative paths: the prompts the loop sends, step by step, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ssr.config import RunConfig


def recorded_paths(folder: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """(problem, path) for every path with steps in a folder of spec/ssr result records."""
    from ssr.records import load_records, to_json

    if not Path(folder).is_dir():
        raise FileNotFoundError(f"no such folder of result records: {folder}")
    return [(r["problem"], p) for r in map(to_json, load_records(folder).records) for p in r["paths"] if p.get("steps")]


def scoring_passes(cfg: RunConfig, render_probe: Any, paths: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[dict[str, Any], Any]]:
    """(recorded step, scoring prompt) for each step of each path, the path growing as it did in the run.

    ``render_probe`` is the target engine's rendered chat template (``Reasoner`` needs it to tell
    reasoning templates apart). The prompt is rebuilt with the current code's scoring prompt, so a changed
    judging note can be replayed on recorded steps.
    """
    from ssr.reasoning import STEP_STOP, PathState, Reasoner, clean_step

    runner = Reasoner(cfg, render_probe, None, None)  # type: ignore[arg-type]
    for problem, p in paths:
        state = PathState(p["index"], user_message(p, problem), prompt_format=cfg.prompt_format)
        full = p.get("text")
        for s in p["steps"]:
            yield s, runner.score_prompt(problem, state, s["draft"])
            state.text += clean_step(state, s["draft"] if s["accepted"] else (s["rewrite"] or ""))
            # the loop adds the blank line only after a step that ended on it (not one cut at the step's
            # token limit); the record's final text tells which
            if full is None or full[len(state.text):].startswith(STEP_STOP):
                state.text += STEP_STOP


def user_message(path: dict[str, Any], problem: str) -> str:
    """The solve prompt that started the path (result records store its strategy or role, not the text)."""
    from ssr.prompts import STRATEGIES, UNKNOWN, solve_message

    if path.get("strategy"):
        strategy = next((s for s in (UNKNOWN, *STRATEGIES) if s.name == path["strategy"]), UNKNOWN)
        return solve_message(problem, strategy=strategy)
    if path.get("role"):
        return solve_message(problem, role=path["role"])
    return solve_message(problem)
