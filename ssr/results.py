"""Result files: one JSON per (problem, repeat), written atomically, read back tolerantly.

Layout of a results folder::

    <output_dir>/<method>/<dataset>/<tag>/problem_<id>_repeat_<r>.json

where ``tag`` summarises the settings that distinguish runs of the same method
(e.g. ``threshold7_paths5``) so that a bash sweep over thresholds writes to
separate folders.  The eval scripts accept any folder and read every
``*.json`` below it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 1
_FILE_RE = re.compile(r"^problem_(?P<pid>.+)_repeat_(?P<rep>\d+)\.json$")


def result_filename(problem_id: Any, repeat: int) -> str:
    return f"problem_{problem_id}_repeat_{repeat}.json"


def atomic_write_json(path: str | os.PathLike, payload: Any) -> None:
    """Write JSON so that a reader (or a SIGKILL) never sees a partial file.

    The data goes to a temporary file in the same folder, is flushed and
    fsync'ed, then renamed over the target: rename is atomic on POSIX.
    """
    path = Path(path)
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


def is_complete(path: str | os.PathLike) -> bool:
    """A result file counts as done only if it parses and says it is complete."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION and data.get("complete") is True


@dataclass
class LoadedResults:
    records: list[dict[str, Any]] = field(default_factory=list)
    # (path, reason) for every file that could not be used
    skipped: list[tuple[str, str]] = field(default_factory=list)


REQUIRED_KEYS = ("method", "dataset", "problem_id", "repeat", "gold_answer", "final_answer", "paths", "config")


def load_results(folder: str | os.PathLike) -> LoadedResults:
    """Every result record below ``folder``; unreadable or truncated files are reported, not fatal."""
    out = LoadedResults()
    for path in sorted(Path(folder).rglob("*.json")):
        if path.name.startswith(".") or path.name in ("summary.json",) or not _FILE_RE.match(path.name):
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except ValueError as exc:
            out.skipped.append((str(path), f"not valid JSON ({exc.__class__.__name__}: {exc})"))
            continue
        except OSError as exc:
            out.skipped.append((str(path), f"unreadable ({exc})"))
            continue
        if not isinstance(data, dict):
            out.skipped.append((str(path), "not a JSON object"))
            continue
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            out.skipped.append((str(path), f"missing keys: {', '.join(missing)}"))
            continue
        data["_path"] = str(path)
        out.records.append(data)
    return out


def iter_result_paths(folder: str | os.PathLike) -> Iterable[Path]:
    return (p for p in sorted(Path(folder).rglob("problem_*_repeat_*.json")))
