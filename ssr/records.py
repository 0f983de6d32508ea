"""The result record: one JSON file per (problem, repeat), its typed form, its one writer and one reader.

Layout of a results folder::

    <output_dir>/<method>/<dataset>/<tag>/problem_<id>_repeat_<r>.json

Every other module receives :class:`Record` objects; nothing else indexes the JSON.

Versioning policy: a new optional field with a default keeps ``SCHEMA_VERSION``; a field whose meaning
changes bumps it, and :func:`read_record` learns to read the old meaning. Version 2 added
``Step.ended_on_blank``; for version 1 it is inferred from the recorded path text. Version-1 records
come in three shapes (the oldest lack ``score_prompt_tokens``, ``tokens.final`` and the config's
``prompt_format``/``score_prompt``/``block_size``): every field they lack has a default here.
``docs/results-schema.md`` is checked against these classes by ``tests/test_records.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

# a step is text up to a blank line; the loop keeps the blank line only after a step that ended on it
STEP_STOP = "\n\n"
THINK_END = "</think>"

_FILE_RE = re.compile(r"^problem_(?P<pid>.+)_repeat_(?P<rep>\d+)\.json$")


class RecordError(Exception):
    """A file that is not a usable result record; the message says why."""


def clean_step(text_so_far: str, step: str) -> str:
    """Drop a second ``</think>``: a path's thinking block closes once."""
    return step.replace(THINK_END, "") if THINK_END in text_so_far else step


@dataclass
class Step:
    """One speculative step: the draft's proposal, the target's score, and the rewrite if it scored low."""

    draft: str
    score: float
    score_probs: list[float]
    accepted: bool
    rewrite: str | None
    draft_tokens: int
    rewrite_tokens: int
    # the scoring pass: prompt tokens in all, and how many the prefix cache served (None: not reported)
    score_prompt_tokens: int = 0
    score_cached_tokens: int | None = None
    # the step's generation stopped on the blank line (not on its token limit or end of turn)
    ended_on_blank: bool = True

    @property
    def text(self) -> str:
        return self.draft if self.accepted else (self.rewrite or "")

    @property
    def final_tokens(self) -> int:
        """Tokens this step adds to the final path (the draft's if accepted, else the rewrite's)."""
        return self.draft_tokens if self.accepted else self.rewrite_tokens


def path_text(steps: Iterable[Step]) -> str:
    """A speculative path's text, rebuilt from its steps exactly as the loop wrote it."""
    text = ""
    for s in steps:
        text += clean_step(text, s.text) + (STEP_STOP if s.ended_on_blank else "")
    return text


@dataclass
class PathTokens:
    draft_generated: int = 0
    target_generated: int = 0
    # tokens of the path as it stands (accepted drafts + rewrites), the paper's T
    final: int = 0


@dataclass
class Path:
    index: int
    prompt_kind: str = "none"  # none | role | method
    role: str | None = None
    strategy: str | None = None
    text: str = ""
    answer: str | None = None
    finish_reason: str | None = None
    mean_score: float | None = None
    steps: list[Step] = field(default_factory=list)
    tokens: PathTokens = field(default_factory=PathTokens)


@dataclass
class Selection:
    """The strategy choice of the Selective Parallel Module (``ssr.selection.Selection``, as recorded)."""

    raw: str
    # the prompt set's codes: numbers (the ssr set) or letters (the authors' A-M)
    parsed: list[int | str] = field(default_factory=list)
    codes: list[int | str] = field(default_factory=list)
    padded: int = 0
    pool_size: int = 12
    strategies: list[str] = field(default_factory=list)


@dataclass
class Usage:
    """One model's engine requests for this problem, summed."""

    calls: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    generated_tokens: int | None = None  # None: not reported (the paths' counters stand in)
    cache_reported: bool = False
    # forward passes on this problem's critical path (ssr.runner); None in records older than the count
    sequential_forward_passes: int | None = None
    # the target's scoring passes; None for the draft, which never scores
    scoring_calls: int | None = None
    scoring_prompt_tokens: int | None = None
    scoring_cached_prompt_tokens: int | None = None
    # scoring passes whose two most likely digits were exactly equal (greedy takes the higher)
    scoring_ties: int | None = None


@dataclass
class Timing:
    wall_seconds: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""


@dataclass
class Stats:
    steps: int
    rewrites: int
    rewrite_rate: float | None


@dataclass
class Record:
    method: str
    dataset: str
    problem_id: Any  # int for every benchmark; kept as found
    repeat: int
    gold_answer: str
    final_answer: str | None
    paths: list[Path]
    config: dict[str, Any]  # the recorded RunConfig as a dict
    problem: str = ""
    answer_reason: str = ""
    votes: dict[str, int] = field(default_factory=dict)
    selection: Selection | None = None
    usage: dict[str, Usage] = field(default_factory=dict)  # "target", and "draft" for methods with one
    timing: Timing = field(default_factory=Timing)
    # role -> ssr.engines.base.ModelInfo as a dict (None: no such model); kept as a dict so that flops
    # reads recorded and live model infos alike
    models: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # the engine plan the run resolved (ssr.plan): hardware, per-engine layout and memory, versions; None
    # in records written before plans existed, or by callers that pass engines in
    plan: dict[str, Any] | None = None
    # how the requests were served (``ssr.timeline``): the schedule, each request's timeline (engine, phase,
    # path, step, submit and end seconds from the problem's start, tokens, cancelled or wasted), each engine's
    # busy seconds, their overlap and the critical path; None in records older than timelines
    schedule: dict[str, Any] | None = None
    complete: bool = True
    schema_version: int = SCHEMA_VERSION
    source: pathlib.Path | None = None  # the file it was read from

    @property
    def stats(self) -> Stats:
        steps = sum(len(p.steps) for p in self.paths)
        rewrites = sum(1 for p in self.paths for s in p.steps if not s.accepted)
        return Stats(steps, rewrites, rewrites / steps if steps else None)

    @property
    def target_model(self) -> str | None:
        target = self.models.get("target") or {}
        return self.config.get("target_model") or target.get("name")

    def generated_tokens(self, role: str) -> int:
        """Tokens ``role`` generated for this problem: the usage block, else the paths' counters."""
        u = self.usage.get(role)
        if u is not None and u.generated_tokens is not None:
            return u.generated_tokens
        if role == "target":
            return sum(p.tokens.target_generated for p in self.paths)
        return sum(p.tokens.draft_generated for p in self.paths)

    def tokens_per_path(self) -> float | None:
        """Final tokens per path (the paper's T per path)."""
        return sum(p.tokens.final for p in self.paths) / len(self.paths) if self.paths else None


# --------------------------------------------------------------------------- writing


def result_filename(problem_id: Any, repeat: int) -> str:
    return f"problem_{problem_id}_repeat_{repeat}.json"


def _drop_none(d: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not (k in keys and v is None)}


_OPTIONAL_USAGE = (
    "generated_tokens",
    "sequential_forward_passes",
    "scoring_calls",
    "scoring_prompt_tokens",
    "scoring_cached_prompt_tokens",
    "scoring_ties",
)


def usage_json(usage: Usage) -> dict[str, Any]:
    """A model's usage block as stored: counts a record does not have are left out, not null."""
    return _drop_none(dataclasses.asdict(usage), _OPTIONAL_USAGE)


def to_json(record: Record) -> dict[str, Any]:
    """The record as it is stored (``source`` is where it came from, not part of it)."""
    r = record
    return {
        "schema_version": r.schema_version,
        "complete": r.complete,
        "method": r.method,
        "dataset": r.dataset,
        "problem_id": r.problem_id,
        "repeat": r.repeat,
        "problem": r.problem,
        "gold_answer": r.gold_answer,
        "final_answer": r.final_answer,
        "answer_reason": r.answer_reason,
        "votes": r.votes,
        "selection": dataclasses.asdict(r.selection) if r.selection else None,
        "paths": [dataclasses.asdict(p) for p in r.paths],
        "usage": {role: usage_json(u) for role, u in r.usage.items()},
        "stats": dataclasses.asdict(r.stats),
        "timing": dataclasses.asdict(r.timing),
        "models": r.models,
        **({"plan": r.plan} if r.plan is not None else {}),
        **({"schedule": r.schedule} if r.schedule is not None else {}),
        "config": r.config,
    }


def atomic_write_json(path: str | os.PathLike, payload: Any) -> None:
    """Write JSON so that a reader (or a SIGKILL) never sees a partial file.

    The data goes to a temporary file in the same folder, is flushed and
    fsync'ed, then renamed over the target: rename is atomic on POSIX.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_record(path: str | os.PathLike, record: Record) -> None:
    atomic_write_json(path, to_json(record))


# --------------------------------------------------------------------------- reading

REQUIRED_KEYS = ("method", "dataset", "problem_id", "repeat", "gold_answer", "final_answer", "paths", "config")


def _build(cls: type, data: Any, where: str) -> Any:
    """``cls(**data)`` for the keys ``cls`` knows; unknown keys are ignored (a newer optional field)."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:  # a required field is missing
        raise RecordError(f"{where}: {exc}") from exc


def _v1_ended_on_blank(steps: list[Step], text: str | None) -> None:
    """Version 1 did not record where a step ended: the path's final text tells (a blank line follows)."""
    so_far = ""
    for s in steps:
        so_far += clean_step(so_far, s.text)
        s.ended_on_blank = text is None or text[len(so_far) :].startswith(STEP_STOP)
        so_far += STEP_STOP if s.ended_on_blank else ""


def _path(data: Any, version: int, where: str) -> Path:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    steps = [_build(Step, s, f"{where}.steps[{i}]") for i, s in enumerate(data.get("steps") or [])]
    if version == 1:
        _v1_ended_on_blank(steps, data.get("text"))
    tokens = dict(data.get("tokens") or {})
    if tokens.get("final") is None:
        # records written before "final" was stored: accepted drafts + rewrites, else what was generated
        tokens["final"] = (
            sum(s.final_tokens for s in steps)
            if steps
            else int(tokens.get("target_generated") or 0) + int(tokens.get("draft_generated") or 0)
        )
    path = _build(Path, {**data, "steps": steps, "tokens": _build(PathTokens, tokens, f"{where}.tokens")}, where)
    path.text = path.text or ""
    return path


def from_json(data: Any, source: pathlib.Path | None = None) -> Record:
    if not isinstance(data, dict):
        raise RecordError("not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise RecordError(f"missing keys: {', '.join(missing)}")
    version = data.get("schema_version", 1)
    if version not in READABLE_VERSIONS:
        raise RecordError(f"schema_version {version} (this code reads {', '.join(map(str, READABLE_VERSIONS))})")
    if not isinstance(data["paths"], list):
        raise RecordError("paths: expected a list")
    sel = data.get("selection")
    fields = {
        **data,
        "schema_version": version,
        "paths": [_path(p, version, f"paths[{i}]") for i, p in enumerate(data["paths"])],
        "selection": _build(Selection, sel, "selection") if sel else None,
        "usage": {role: _build(Usage, u or {}, f"usage.{role}") for role, u in (data.get("usage") or {}).items()},
        "timing": _build(Timing, data.get("timing") or {}, "timing"),
        "votes": data.get("votes") or {},
        "models": data.get("models") or {},
        "config": data.get("config") or {},
        "source": source,
    }
    return _build(Record, fields, "record")


def read_record(path: str | os.PathLike) -> Record:
    """The record in ``path``; :class:`RecordError` says why a file is not one."""
    path = pathlib.Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except ValueError as exc:
        raise RecordError(f"not valid JSON ({exc.__class__.__name__}: {exc})") from exc
    except OSError as exc:
        raise RecordError(f"unreadable ({exc})") from exc
    return from_json(data, path)


def is_complete(path: str | os.PathLike) -> bool:
    """A result file counts as done only if it reads as a record that says it is complete."""
    try:
        return read_record(path).complete is True
    except RecordError:
        return False


@dataclass
class Skipped:
    path: pathlib.Path
    reason: str


@dataclass
class Loaded:
    records: list[Record] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def record_files(folder: str | os.PathLike) -> list[pathlib.Path]:
    """Every ``problem_<id>_repeat_<r>.json`` below ``folder``, in a stable order."""
    return [p for p in sorted(pathlib.Path(folder).rglob("*.json")) if _FILE_RE.match(p.name)]


def load_records(folder: str | os.PathLike) -> Loaded:
    """Every complete record below ``folder``; unreadable, incomplete or unknown files are reported, not fatal."""
    out = Loaded()
    for path in record_files(folder):
        try:
            record = read_record(path)
        except RecordError as exc:
            out.skipped.append(Skipped(path, str(exc)))
            continue
        if record.complete is False:
            out.skipped.append(Skipped(path, "marked incomplete"))
        else:
            out.records.append(record)
    return out
