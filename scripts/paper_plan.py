"""The commands of ``scripts/paper.sh``: every arm of the paper's Table 1 and Figures 2-4, then their evals.

Prints one command per line for paper.sh to run (``gen|eval <TAB> label <TAB> shell command``), or with
``--dry_run`` a readable listing: every command, and per arm and dataset the runs it makes (problem x repeat
records). Exit 2 (with what to do) on a bad selection, or when no ``reference`` prompt set is imported and
``--own_prompts`` was not given.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ssr import presets  # noqa: E402

# The paper's problems: AIME 2024 ids 60-89, the first 100 of MATH-500 (as the authors' runs), and
# LiveMathBench's AMC_en (46 problems).
DATASETS = {"aime": ("60-89", 30), "math": ("0-99", 100), "live": ("0-45", 46)}
REPEATS = 6  # accuracy arms, batched (the paper preset's repeats)
ALPHA = 0.047  # the paper's draft/target cost ratio for R1-Distill-1.5B / QwQ-32B
SPEC_REASON = ["--num_paths", "1", "--use_role_prompts", "0"]
# accuracy by the suite's grader, with the authors' comparison rules beside it (the numbers to set by the paper's)
GRADERS = ["--grader", "math-verify", "reference"]


@dataclass(frozen=True)
class Arm:
    name: str
    script: str
    args: tuple[str, ...]
    what: str


ARMS = (
    Arm("baseline", "base_test.py", (), "the target alone"),
    Arm("spec_reason_t7", "spec_scale_reason.py", (*SPEC_REASON, "--score_threshold", "7"), "spec-reason, tau 7"),
    Arm("spec_reason_t9", "spec_scale_reason.py", (*SPEC_REASON, "--score_threshold", "9"), "spec-reason, tau 9"),
    Arm("ssr_fast1", "spec_scale_reason_2.py", ("--method_num", "5", "--fast", "1"), "SSR-Fast-1, 5 paths"),
    Arm("ssr_fast2", "spec_scale_reason_2.py", ("--method_num", "5", "--fast", "2"), "SSR-Fast-2, 5 paths"),
    Arm("ssr_m5", "spec_scale_reason_2.py", ("--method_num", "5"), "SSR, 5 paths (SSR-m5)"),
    Arm("ssr_m3", "spec_scale_reason_2.py", ("--method_num", "3"), "SSR, 3 paths (SSR-m3)"),
    Arm("parallel5", "scale_reason.py", ("--num_paths", "5"), "Parallel, N=5"),
    Arm("parallel_spm5", "scale_reason.py", ("--use_method_prompts", "--method_num", "5"), "Parallel-SPM, N=5"),
    Arm("parallel9", "scale_reason.py", ("--num_paths", "9"), "Parallel, N=9, read as coverage"),
)
BY_NAME = {a.name: a for a in ARMS}

# What each table or figure is made of; Table 1's arms also run one problem at a time for its Time column.
FIGURES = {
    "table1": ("baseline", "spec_reason_t7", "spec_reason_t9", "ssr_fast1", "ssr_fast2", "ssr_m5"),
    "figure3": ("baseline", "parallel5", "parallel_spm5", "ssr_m3", "ssr_m5"),
    "figure4": ("baseline", "parallel5", "parallel_spm5"),
    "figure2": ("parallel9",),
}
LATENCY_ARMS = FIGURES["table1"]


def _names(text: str, known: dict, what: str) -> list[str]:
    out: list[str] = []
    for name in (t.strip() for t in text.split(",")):
        picked = FIGURES.get(name, (name,)) if what == "arm" else (name,)
        for n in picked:
            if n not in known:
                choices = ", ".join([*known, *(FIGURES if what == "arm" else ())])
                raise SystemExit(f"paper.sh: unknown {what} {n!r}; choose from: {choices}")
            if n not in out:
                out.append(n)
    return sorted(out, key=list(known).index)  # the paper's order, whatever the order typed


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/paper.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="aime,math,live", help="comma-separated: aime, math, live (default: all)")
    p.add_argument(
        "--arms",
        default=",".join(a.name for a in ARMS),
        help=f"comma-separated arms or groups ({', '.join(FIGURES)}); default: every arm",
    )
    p.add_argument("--output_dir", default="results/paper", help="accuracy/, latency/ and eval/ go here")
    p.add_argument(
        "--problem_id", default=None, help="run these ids instead of the paper's (a check on a small machine)"
    )
    p.add_argument("--repeats", type=int, default=REPEATS, help="the accuracy arms' repeats (default: 6, the paper's)")
    p.add_argument("--no_latency", action="store_true", help="skip the one-problem-at-a-time latency runs")
    p.add_argument("--own_prompts", action="store_true", help="run with the project's prompt set (no reference set)")
    p.add_argument("--dry_run", action="store_true", help="print every command and the runs per arm; run nothing")
    p.add_argument("--python", default="python", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def count(spec: str, default: tuple[str, int]) -> int:
    """Problems an id spec names (ranges and lists; the dataset's full range for its default)."""
    if spec == default[0]:
        return default[1]
    n = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi) - int(lo) + 1 if hi else 1
    return n


def plan(o: argparse.Namespace) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """(kind, label, argv) of every command, and the runs-per-arm lines."""
    if o.repeats < 1:
        raise SystemExit("paper.sh: --repeats must be >= 1")
    datasets = _names(o.datasets, DATASETS, "dataset")
    arms = _names(o.arms, BY_NAME, "arm")
    out = Path(o.output_dir)
    acc, lat, ev = out / "accuracy", out / "latency", out / "eval"
    cmds: list[tuple[str, str, list[str]]] = []
    runs: list[str] = []
    for ds in datasets:
        ids = o.problem_id or DATASETS[ds][0]
        n = count(ids, DATASETS[ds])
        common = ["--preset", "paper", "--dataset_name", ds, "--problem_id", ids]
        for name in arms:
            arm = BY_NAME[name]
            base = [o.python, arm.script, *common, *arm.args]
            accuracy = ["--repeat_id", str(o.repeats), "--output_dir", str(acc / name)]
            cmds.append(("gen", f"{ds} {name} accuracy", [*base, *accuracy]))
            line = f"runs: {name:<15} {ds:<5} accuracy={n * o.repeats} ({n} problems x {o.repeats} repeats, batched)"
            if name in LATENCY_ARMS and not o.no_latency:
                latency = ["--repeat_id", "1", "--max_concurrent_problems", "1", "--output_dir", str(lat / name)]
                cmds.append(("gen", f"{ds} {name} latency", [*base, *latency]))
                line += f" latency={n} ({n} problems x repeat 0, one at a time)"
            runs.append(line + f"  # {arm.what}")
        cmds += evals(ds, arms, acc, lat if not o.no_latency else None, ev, o.python)
    return cmds, runs


def evals(ds: str, arms: list[str], acc: Path, lat: Path | None, ev: Path, py: str) -> list[tuple[str, str, list[str]]]:
    """The eval commands that turn the arms' folders into each table and figure (of the arms selected)."""

    def spec_eval(label: str, root: Path, chosen: list[str], out: Path) -> tuple[str, str, list[str]]:
        base = ["--baseline_dir", str(root / "baseline")] if "baseline" in arms else []
        folders = [str(root / a) for a in chosen]
        argv = [py, "spec_eval.py", "--dataset_name", ds, "--alpha", str(ALPHA), *GRADERS, *base]
        argv += ["--result_dir", *folders]
        return ("eval", label, [*argv, "--out", str(out)])

    out = []
    for fig, members in FIGURES.items():
        chosen = [a for a in members if a in arms]
        if not chosen:
            continue
        if fig == "figure2":
            # coverage@k for k = 1..9 over the run's paths, and the vote of its 9 paths as pass@1
            folders = [str(acc / a) for a in chosen]
            argv = [py, "baseline_eval.py", "--dataset_name", ds, *GRADERS, "--result_dir", *folders]
            out.append(("eval", f"{ds} {fig}", [*argv, "--out", str(ev / fig / ds)]))
            continue
        out.append(spec_eval(f"{ds} {fig}", acc, chosen, ev / fig / ds))
        if fig == "table1" and lat is not None:
            out.append(spec_eval(f"{ds} table1 latency", lat, chosen, ev / "table1_latency" / ds))
    return out


def check_prompts(own_prompts: bool) -> None:
    if own_prompts or presets.reference_set_imported():
        return
    raise SystemExit(
        "paper.sh: the paper's prompts are the authors' texts, which this project cannot ship: import them from "
        f"a checkout of their repository with `{presets.IMPORT_HINT}`, or pass --own_prompts to run with the "
        "project's own prompt set (recorded in every result)"
    )


def main(argv: list[str]) -> int:
    o = parse(argv)
    try:
        cmds, runs = plan(o)
        if not o.dry_run:
            check_prompts(o.own_prompts)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise
    if o.dry_run:
        gens = [c for c in cmds if c[0] == "gen"]
        print(f"# {len(gens)} generation commands, {len(cmds) - len(gens)} eval commands")
        print("\n".join(runs))
        for kind, label, argv_ in cmds:
            print(f"[{kind} {label}] {shlex.join(argv_)}")
        if not (o.own_prompts or presets.reference_set_imported()):
            print("# no 'reference' prompt set is imported: a real run needs it, or --own_prompts")
        return 0
    for kind, label, argv_ in cmds:
        print(f"{kind}\t{label}\t{shlex.join(argv_)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
