"""Replay the scoring passes of recorded speculative paths: the prompts the loop sends, step by step, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

from ssr.config import RunConfig
from ssr.records import Path as RecordedPath
from ssr.records import Step, load_records, path_text


def recorded_paths(folder: str | Path) -> list[tuple[str, RecordedPath]]:
    """(problem, path) for every path with steps in a folder of speculative result records."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"no such folder of result records: {folder}")
    return [(r.problem, p) for r in load_records(folder).records for p in r.paths if p.steps]


class ReplayError(Exception):
    """No speculative path to replay; the message says where."""


def paths_to_replay(folders: Sequence[str]) -> list[tuple[str, RecordedPath]]:
    """Every recorded speculative path in ``folders``; :class:`ReplayError` when a folder is missing or none has one."""
    try:
        paths = [p for folder in folders for p in recorded_paths(folder)]
    except FileNotFoundError as exc:
        raise ReplayError(str(exc)) from exc
    if not paths:
        raise ReplayError(f"no speculative paths in {', '.join(map(str, folders))}")
    return paths


def scoring_passes(cfg: RunConfig, target: Any, paths: list[tuple[str, RecordedPath]]) -> Iterator[tuple[Step, Any]]:
    """(recorded step, scoring prompt) for each step of each path, the path as it stood when the step was scored.

    ``target`` is the engine the prompts are for (its chat template tells reasoning templates apart). The
    prompt is rebuilt with the current code's scoring prompt, so a changed judging note can be replayed on
    recorded steps.
    """
    from ssr.reasoning import PathState, Reasoner, generation_prompt

    reasoner = Reasoner(cfg, generation_prompt(target), None, None, None)  # type: ignore[arg-type]
    for problem, p in paths:
        state = PathState(p.index, user_message(p, problem), prompt_format=cfg.prompt_format)
        for i, s in enumerate(p.steps):
            state.text = path_text(p.steps[:i])
            yield s, reasoner.score_prompt(problem, state, s.draft)


def user_message(path: RecordedPath, problem: str) -> str:
    """The solve prompt that started the path (result records store its strategy or role, not the text)."""
    from ssr.prompts import STRATEGIES, UNKNOWN, solve_message

    if path.strategy:
        strategy = next((s for s in (UNKNOWN, *STRATEGIES) if s.name == path.strategy), UNKNOWN)
        return solve_message(problem, strategy=strategy)
    if path.role:
        return solve_message(problem, role=path.role)
    return solve_message(problem)
