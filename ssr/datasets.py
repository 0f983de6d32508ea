"""Benchmark problems: one loader for every dataset, local JSONL first, the hub last.

Where the data comes from, in order: the ``data_dir`` argument, ``$SSR_DATA_DIR``,
the repository's ``data/`` folder, then the Hugging Face hub. A local file wins
so that runs are reproducible offline and do not depend on the hub's current
revision; the hub path is kept for machines that have none of the files.

Problem ids follow the paper's repository: AIME 2024 uses the records' own ids
(60-89), every other dataset the 0-based position in the file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

DATA_ENV = "SSR_DATA_DIR"
REPO_DATA_DIR = Path(__file__).resolve().parents[1] / "data"


class DatasetError(ValueError):
    """Unknown dataset, unreadable data, or a problem-id spec that does not fit the dataset."""


@dataclass
class Problem:
    dataset: str
    id: int
    problem: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Source:
    local_files: tuple[str, ...]
    hub: tuple[str, str | None, str] | None  # (repo, config, split)
    convert: Callable[[list[dict[str, Any]], str], list[Problem]]


# --------------------------------------------------------------------------- converters


def _answer_text(value: Any) -> str:
    # amc23 stores answers as floats (27.0): a grader comparing strings would miss "27"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _indexed(
    rows: list[dict[str, Any]], name: str, text_keys: tuple[str, ...], meta_keys: tuple[str, ...]
) -> list[Problem]:
    out = []
    for i, row in enumerate(rows):
        text = next((row[k] for k in text_keys if row.get(k)), None)
        if text is None:
            raise DatasetError(f"{name}: record {i} has none of the fields {', '.join(text_keys)}")
        meta = {k: row[k] for k in meta_keys if k in row}
        out.append(Problem(name, i, str(text), _answer_text(row["answer"]), meta))
    return out


def _convert_aime(rows: list[dict[str, Any]], name: str) -> list[Problem]:
    out = []
    for row in rows:
        meta = {k: row[k] for k in ("url", "year", "solution") if k in row}
        out.append(Problem(name, int(row["id"]), str(row["problem"]), _answer_text(row["answer"]), meta))
    return out


def _convert_math(rows: list[dict[str, Any]], name: str) -> list[Problem]:
    return _indexed(rows, name, ("problem",), ("unique_id", "subject", "level", "solution"))


def _convert_live(rows: list[dict[str, Any]], name: str) -> list[Problem]:
    # the hub calls the text "question"; the local copy renamed it to "problem"
    problems = _indexed(rows, name, ("problem", "question"), ("id", "question_type", "options"))
    for p in problems:
        if "id" in p.meta:
            p.meta["source_id"] = p.meta.pop("id")
    return problems


def _convert_amc23(rows: list[dict[str, Any]], name: str) -> list[Problem]:
    return _indexed(rows, name, ("problem", "question"), ("url",))


GPQA_LETTERS = "ABCD"


def _stable_seed(text: str) -> int:
    # python's hash() is salted per process: the option order must survive a restart
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def shuffle_options(question: str, correct: str, incorrect: Sequence[str]) -> tuple[list[str], str]:
    """The four options in a fixed per-question order, and the letter of the correct one.

    The paper's repository always lists the correct answer first, which lets a
    model that favours (A) look good; the order here is pseudo-random but
    reproducible, seeded by the question text.
    """
    options = [correct, *incorrect]
    order = list(range(len(options)))
    random.Random(_stable_seed(question)).shuffle(order)
    shuffled = [options[i] for i in order]
    return shuffled, GPQA_LETTERS[order.index(0)]


def _convert_gpqa(rows: list[dict[str, Any]], name: str) -> list[Problem]:
    out = []
    for i, row in enumerate(rows):
        try:
            question = str(row["Question"]).strip()
            correct = str(row["Correct Answer"]).strip()
            incorrect = [str(row[f"Incorrect Answer {j}"]).strip() for j in (1, 2, 3)]
        except KeyError as exc:
            raise DatasetError(f"{name}: record {i} lacks the GPQA column {exc.args[0]!r}") from None
        options, letter = shuffle_options(question, correct, incorrect)
        rendered = question + "\n\n" + "\n".join(f"({GPQA_LETTERS[j]}) {opt}" for j, opt in enumerate(options))
        meta = {
            "options": dict(zip(GPQA_LETTERS, options)),
            "correct_text": correct,
            "question": question,
        }
        for key in ("Record ID", "High-level domain", "Subdomain"):
            if key in row:
                meta[key.lower().replace(" ", "_").replace("-", "_")] = row[key]
        out.append(Problem(name, i, rendered, letter, meta))
    return out


SOURCES: dict[str, _Source] = {
    "aime": _Source(("aime_2024.jsonl",), ("HuggingFaceH4/aime_2024", None, "train"), _convert_aime),
    "math": _Source(("math500.jsonl",), ("HuggingFaceH4/MATH-500", None, "test"), _convert_math),
    "live": _Source(
        ("livemathbench_amc_en.jsonl",), ("opencompass/LiveMathBench", "v202412_AMC_en", "test"), _convert_live
    ),
    "amc23": _Source(("amc23.jsonl",), None, _convert_amc23),
    "gpqa": _Source(
        ("gpqa_diamond.jsonl", "gpqa_diamond.csv"), ("Idavidrein/gpqa", "gpqa_diamond", "train"), _convert_gpqa
    ),
}
DATASET_NAMES = tuple(SOURCES)


# --------------------------------------------------------------------------- loading


def _source(name: str) -> _Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}") from None


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for local files, in priority order."""
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]))
    dirs.append(REPO_DATA_DIR)
    return dirs


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc})") from None
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _read_local(path: Path) -> list[dict[str, Any]]:
    return _read_csv(path) if path.suffix == ".csv" else _read_jsonl(path)


def _read_hub(repo: str, config: str | None, split: str) -> list[dict[str, Any]]:
    import datasets  # late import: slow, and not needed when a local file exists

    ds = datasets.load_dataset(repo, config, split=split)
    return [dict(row) for row in ds]


def find_local_file(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    src = _source(name)
    for folder in search_dirs(data_dir):
        for fname in src.local_files:
            if (folder / fname).is_file():
                return folder / fname
    return None


@lru_cache(maxsize=32)
def _load_cached(name: str, local: str | None, searched: tuple[str, ...]) -> tuple[Problem, ...]:
    src = _source(name)
    if local is not None:
        rows = _read_local(Path(local))
    elif src.hub is not None:
        repo, config, split = src.hub
        try:
            rows = _read_hub(repo, config, split)
        except Exception as exc:  # noqa: BLE001 - any hub failure means the same thing to the user
            raise DatasetError(
                f"no local file for {name!r} ({' or '.join(src.local_files)}) in {', '.join(searched)} "
                f"(set --data_dir or ${DATA_ENV}), and the hub dataset {repo}"
                f"{'/' + config if config else ''} could not be loaded: {exc.__class__.__name__}: {exc}"
            ) from exc
    else:
        raise DatasetError(
            f"no local file for {name!r} ({' or '.join(src.local_files)}) in {', '.join(searched)} "
            f"(set --data_dir or ${DATA_ENV}); this dataset has no hub source"
        )
    problems = src.convert(rows, name)
    if not problems:
        raise DatasetError(f"{name}: the data source has no records")
    return tuple(problems)


def load_problems(name: str, data_dir: str | os.PathLike | None = None) -> list[Problem]:
    """Every problem of ``name`` (aime | math | live | amc23 | gpqa), in file order."""
    _source(name)
    local = find_local_file(name, data_dir)
    searched = tuple(str(d) for d in search_dirs(data_dir))
    cached = _load_cached(name, str(local) if local else None, searched)
    # copies, so a caller editing meta cannot corrupt the cache
    return [Problem(p.dataset, p.id, p.problem, p.answer, dict(p.meta)) for p in cached]


# --------------------------------------------------------------------------- id selection


def format_id_ranges(ids: Iterable[int]) -> str:
    """``[60, 61, 62, 70]`` -> ``"60-62, 70"``."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(parts)


_TOKEN_RE = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


def parse_problem_ids(spec: str | int, valid_ids: Sequence[int], name: str | None = None) -> list[int]:
    """Ids named by ``spec`` (``7``, ``60-89``, ``1,5,9-12`` or ``all``), in order, without repeats."""
    valid = list(valid_ids)
    valid_set = set(valid)
    label = f"valid ids for {name}" if name else "valid ids"
    where = f"{label}: {format_id_ranges(valid) or 'none'}"
    text = str(spec).strip()
    if text.lower() == "all":
        return list(dict.fromkeys(valid))
    if not text:
        raise DatasetError(f"empty problem-id spec; {where}")
    out: list[int] = []
    for token in text.split(","):
        m = _TOKEN_RE.match(token.strip())
        if not m:
            raise DatasetError(f"malformed problem-id spec {text!r} (expected e.g. 7, 60-89, 1,5,9-12 or all); {where}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise DatasetError(f"descending range {token.strip()!r} in {text!r}; {where}")
        bad = [i for i in (lo, hi) if i not in valid_set]
        if bad:
            raise DatasetError(f"problem id {bad[0]} out of range; {where}")
        out.extend(i for i in range(lo, hi + 1) if i in valid_set)
    return list(dict.fromkeys(out))


def select_problems(name: str, spec: str | int, data_dir: str | os.PathLike | None = None) -> list[Problem]:
    problems = load_problems(name, data_dir)
    by_id = {p.id: p for p in problems}
    return [by_id[i] for i in parse_problem_ids(spec, [p.id for p in problems], name)]
