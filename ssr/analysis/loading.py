"""Result folders to graded runs: loading, grouping by run, the grading cache, the baseline folder search.

A *run* (one row of every table) is the set of records sharing (dataset, method, folder holding the
files); the folder's name is the run's tag.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ssr.methods import METHOD_NAMES
from ssr.records import Record, RecordError, Skipped, load_records, read_record, record_files

Equal = Callable[[str, str], bool]


class EvalError(Exception):
    """A folder that cannot be evaluated at all (missing, empty, no records); ``skipped``: the files found unusable."""

    def __init__(self, message: str, skipped: Sequence[Skipped] = ()) -> None:
        super().__init__(message)
        self.skipped = list(skipped)


# --grader: "math-verify", the suite's grader (ssr.grading); "reference", the authors' rules (ssr.reference_grading)
GRADERS = ("math-verify", "reference")


class Grader:
    """The comparison of an answer with its gold, with a cache: the same pair recurs across repeats and paths.

    ``kind`` is ``--grader``: ``math-verify`` (``ssr.grading.is_equivalent``, the default) or
    ``reference`` (``ssr.reference_grading.is_correct``, the authors' rules, which depend on the dataset).
    ``same`` is the equivalence votes group answers by: the grader itself for math-verify, the exact
    value for reference (the authors' ``Counter``).
    """

    def __init__(self, equal: Equal | None = None, kind: str = "math-verify") -> None:
        if kind not in GRADERS:
            raise EvalError(f"unknown grader {kind!r} ({' | '.join(GRADERS)})")
        self.kind = kind
        if equal is None and kind == "math-verify":
            from ssr.grading import is_equivalent  # late import: the grader pulls in sympy

            equal = is_equivalent
        self._equal = equal
        self._cache: dict[tuple[str, str, str | None], bool] = {}
        self.errors = 0

    def __call__(self, pred: str | None, gold: str | None, dataset: str | None = None) -> bool:
        if pred is None or gold is None:
            return False
        key = (str(pred), str(gold), dataset if self.kind == "reference" else None)
        if key not in self._cache:
            try:
                self._cache[key] = bool(self._compare(key[0], key[1], dataset))
            except Exception:  # noqa: BLE001 - a grader crash on one answer must not stop the evaluation
                self.errors += 1
                self._cache[key] = False
        return self._cache[key]

    def _compare(self, pred: str, gold: str, dataset: str | None) -> bool:
        if self._equal is not None:
            return self._equal(pred, gold)
        from ssr.reference_grading import is_correct

        return is_correct(pred, gold, str(dataset))

    def same(self, a: str | None, b: str | None) -> bool:
        """Whether two answers are one vote."""
        if self.kind == "reference":
            from ssr.reference_grading import vote_equal

            return a is not None and b is not None and vote_equal(a, b)
        return self(a, b)


@dataclass
class Graded:
    record: Record
    gold: str
    correct: bool
    path_correct: list[bool]

    @property
    def problem_id(self) -> Any:
        return self.record.problem_id


def grade_record(record: Record, grader: Grader, gold: str | None = None) -> Graded:
    gold = str(record.gold_answer) if gold is None else gold
    ds = str(record.dataset)
    return Graded(
        record, gold, grader(record.final_answer, gold, ds), [grader(p.answer, gold, ds) for p in record.paths]
    )


def as_int(value: Any) -> Any:
    """"7" and 7 are the same problem (ids come from file names and JSON alike)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


@dataclass
class Run:
    dataset: str
    method: str
    run_dir: str
    records: list[Record] = field(default_factory=list)
    graded: list[Graded] = field(default_factory=list)  # filled by grade_runs

    @property
    def tag(self) -> str:
        return Path(self.run_dir).name

    @property
    def label(self) -> str:
        return f"{self.method}/{self.tag}"

    def by_problem(self) -> dict[Any, list[Graded]]:
        out: dict[Any, list[Graded]] = defaultdict(list)
        for g in self.graded:
            out[as_int(g.problem_id)].append(g)
        return dict(out)

    def step_scores(self) -> list[float]:
        return [float(s.score) for g in self.graded for p in g.record.paths for s in p.steps if s.score is not None]

    def config(self) -> dict[str, Any]:
        """The recorded configuration of the run (its first record that has one)."""
        return next((dict(g.record.config) for g in self.graded if g.record.config), {})


def load_folder(folder: str | Path) -> tuple[list[Record], list[Skipped]]:
    """Usable records below ``folder`` and the files that were skipped, with why."""
    path = Path(folder)
    if not path.exists():
        raise EvalError(f"result folder {folder} does not exist")
    if not path.is_dir():
        raise EvalError(f"{folder} is not a folder")
    loaded = load_records(path)
    if not loaded.records:
        n_bad = len(loaded.skipped)
        detail = f" ({n_bad} unreadable file{'s' if n_bad != 1 else ''})" if n_bad else ""
        raise EvalError(f"no result records (problem_<id>_repeat_<r>.json) found in {folder}{detail}", loaded.skipped)
    return loaded.records, loaded.skipped


def _method_rank(method: str) -> int:
    return METHOD_NAMES.index(method) if method in METHOD_NAMES else 99


def group_runs(records: Iterable[Record]) -> list[Run]:
    runs: dict[tuple[str, str, str], Run] = {}
    for rec in records:
        key = (str(rec.dataset), str(rec.method), str(Path(str(rec.source)).parent))
        runs.setdefault(key, Run(*key)).records.append(rec)
    return sorted(runs.values(), key=lambda r: (r.dataset, _method_rank(r.method), r.method, r.run_dir))


def grade_runs(runs: Sequence[Run], grader: Grader, golds: dict[tuple[str, int], str] | None = None) -> int:
    """Grade every record in place; returns how many records' gold differed from ``golds``."""
    mismatches = 0
    for run in runs:
        graded = []
        for rec in run.records:
            gold = None
            if golds is not None:
                gold = golds.get((run.dataset, as_int(rec.problem_id)))
                if gold is not None and str(gold).strip() != str(rec.gold_answer).strip():
                    mismatches += 1
            graded.append(grade_record(rec, grader, gold))
        run.graded = graded
    return mismatches


def dataset_golds(datasets: Iterable[str], data_dir: str | None) -> dict[tuple[str, int], str]:
    from ssr.datasets import DatasetError, load_problems

    try:
        return {(name, p.id): p.answer for name in set(datasets) for p in load_problems(name, data_dir)}
    except DatasetError as exc:
        raise EvalError(f"--data_dir: {exc}") from exc


def model_key(name: Any) -> str:
    """``Qwen/QwQ-32B``, ``QwQ-32b`` and ``/models/QwQ-32B/`` name the same model."""
    return str(name or "").rstrip("/").rsplit("/", 1)[-1].lower()


def find_baseline_dir(result_dirs: Sequence[str], dataset: str | None, targets: set[str]) -> Path | None:
    """A base run of ``dataset`` with one of ``targets`` under the result folders' parents, or None.

    Layout ``<output_dir>/base/<dataset>/<tag>/problem_*.json``; among matches the folder with the
    most records wins. Only one record per folder is read to check the target.
    """
    best: tuple[int, Path] | None = None
    keys = {model_key(t) for t in targets}
    for root in dict.fromkeys(Path(d).resolve().parent for d in result_dirs):
        for folder in sorted(root.glob(f"**/base/{dataset or '*'}/*")):
            files = [f for f in record_files(folder) if f.parent == folder]
            if not files:
                continue
            try:
                first = read_record(files[0])
            except RecordError:
                continue
            if first.method != "base" or (keys and model_key(first.target_model) not in keys):
                continue
            if best is None or len(files) > best[0]:
                best = (len(files), folder)
    return best[1] if best else None
