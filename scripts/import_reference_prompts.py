"""Import the authors' prompt texts as the prompt set ``reference`` (into the user's cache, never the repository).

    python scripts/import_reference_prompts.py PATH-TO-A-CHECKOUT-OF-YuanlinChu/SSR-Spec_Scale_Reasoning

Reads (with ``ast``; nothing of the checkout is imported or run) their ``prompts/*.py`` modules and the
prompt-building lines of their scripts, as at commit 41e9519:

* solve prompts: ``get_first_user_msg`` of ``ablation_exp/base_test.py`` (plain paths: baseline, parallel,
  spec-reason), of ``spec_scale_reason.py`` (a strategy's ``Tips``), and the role form
  ``f"{role_prompt}\\n\\n{system_prompt}"`` of ``other_attempt/ori_python_interface/spec_scale_reason_role.py``;
* SPM: ``choose_solution_methods`` of ``spec_scale_reason.py`` (pool 12: ``math_choose_prompt``, the
  example codes, the answer prefix after ``\\n<think></think>``, ``max_tokens``, the padding code) and of
  ``ablation_exp/spec_scale_reason_mcount_abla.py`` (pools 6, 9, 15: ``method_selection_prompt_N``);
* strategies: names from the listings, hints from ``method_prompt.py`` / ``abla_method_prompt.py``;
* roles: ``prompts/role_prompts.py``; scoring: the note and prefix of ``score_prompt`` in
  ``spec_scale_reason.py``. Their code has no grader message: the project's own is kept.

Writes ``<cache>/prompt_sets/reference`` (``$SSR_CACHE_DIR``, else ``~/.cache/ssr``; or ``--out``), then
loads it back and prints the fields and the content hash.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import string
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssr import prompt_sets  # noqa: E402
from ssr.prompts import AUTHORS_ANSWER, AUTHORS_THINK  # noqa: E402

SSR_SCRIPT = "spec_scale_reason.py"
BASE_SCRIPT = "ablation_exp/base_test.py"
ABLA_SCRIPT = "ablation_exp/spec_scale_reason_mcount_abla.py"
ROLE_SCRIPT = "other_attempt/ori_python_interface/spec_scale_reason_role.py"
CHOOSE = "prompts/choose_prompts.py"
METHODS = "prompts/method_prompt.py"
ABLA_CHOOSE = "prompts/abla_choose_prompts.py"
ABLA_METHODS = "prompts/abla_method_prompt.py"
ROLES = "prompts/role_prompts.py"
NEEDED = (SSR_SCRIPT, BASE_SCRIPT, ABLA_SCRIPT, ROLE_SCRIPT, CHOOSE, METHODS, ABLA_CHOOSE, ABLA_METHODS, ROLES)
_LISTED = re.compile(r"^\s*([A-Z])\.\s+(.+?)\s*$")


class ImportProblem(Exception):
    """The checkout lacks something the set needs, or its code is not shaped as expected; says which and where."""


class Checkout:
    def __init__(self, root: Path) -> None:
        self.root = root
        missing = [p for p in NEEDED if not (root / p).is_file()]
        if missing:
            raise ImportProblem(
                f"{root}: not a checkout of the authors' repository (YuanlinChu/SSR-Spec_Scale_Reasoning): "
                f"missing {', '.join(missing)}"
            )
        self.trees = {p: ast.parse((root / p).read_text(encoding="utf-8"), filename=p) for p in NEEDED}

    def strings(self, rel: str) -> dict[str, str]:
        """The module's top-level ``NAME = "text"`` assignments."""
        out = {}
        for node in self.trees[rel].body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                if isinstance(node.value.value, str):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            out[t.id] = node.value.value
        return out

    def string(self, rel: str, name: str) -> str:
        table = self.strings(rel)
        if name not in table:
            raise ImportProblem(f"{self.root / rel}: no string {name}")
        return table[name]

    def function(self, rel: str, name: str) -> ast.FunctionDef:
        for node in ast.walk(self.trees[rel]):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        raise ImportProblem(f"{self.root / rel}: no function {name}()")

    def assignments(self, rel: str, scope: ast.AST, target: str) -> list[ast.Assign]:
        found = [
            n for n in ast.walk(scope)
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == target for t in n.targets)
        ]
        if not found:
            raise ImportProblem(f"{self.root / rel}: no assignment to {target}")
        return sorted(found, key=lambda n: n.lineno)

    def where(self, rel: str, node: ast.AST) -> str:
        return f"{self.root / rel}:{getattr(node, 'lineno', '?')}"


def from_format(template: str, names: dict[str, str], where: str) -> str:
    """A ``str.format`` template of theirs as a template of ours (``{{``/``}}`` undone, fields renamed)."""
    out, literal_run = "", ""
    for literal, name, spec, conv in string.Formatter().parse(template):
        literal_run += literal  # escaped as one run: "{{x}}" arrives as "{" and "x}"
        if name is None:
            continue
        if name not in names or spec or conv:
            raise ImportProblem(f"{where}: unexpected field {{{name}}} in the template")
        out += prompt_sets.escape(literal_run) + "{" + names[name] + "}"
        literal_run = ""
    return out + prompt_sets.escape(literal_run)


def solve_template(co: Checkout, rel: str, names: dict[str, str]) -> str:
    """The ``options is None`` template of ``get_first_user_msg`` (its first ``system_prompt``)."""
    node = co.assignments(rel, co.function(rel, "get_first_user_msg"), "system_prompt")[0]
    if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
        raise ImportProblem(f"{co.where(rel, node)}: system_prompt is not a plain string")
    return from_format(node.value.value, names, co.where(rel, node))


def linear(node: ast.AST, var: str, where: str) -> tuple[int, int]:
    """``a * var + b`` written with + - * and int constants -> ``(a, b)``."""
    if isinstance(node, ast.Name) and node.id == var:
        return 1, 0
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return 0, node.value
    if isinstance(node, ast.BinOp):
        (a1, b1), (a2, b2) = linear(node.left, var, where), linear(node.right, var, where)
        if isinstance(node.op, ast.Add):
            return a1 + a2, b1 + b2
        if isinstance(node.op, ast.Sub):
            return a1 - a2, b1 - b2
        if isinstance(node.op, ast.Mult) and (a1 == 0 or a2 == 0):
            return a1 * b2 + a2 * b1, b1 * b2
    raise ImportProblem(f"{where}: max_tokens is not a linear expression of {var}")


def examples(node: ast.AST, where: str) -> dict[str, str]:
    """``'B,E,F' if n == 3 else ... else 'B,E'`` -> ``{"3": "B,E,F", ..., "default": "B,E"}``."""
    out = {}
    while isinstance(node, ast.IfExp):
        test = node.test
        ok = isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.Eq)
        if not (ok and isinstance(test.comparators[0], ast.Constant) and isinstance(node.body, ast.Constant)):
            raise ImportProblem(f"{where}: the example codes are not 'X' if n == k else ...")
        out[str(test.comparators[0].value)] = node.body.value
        node = node.orelse
    if not isinstance(node, ast.Constant):
        raise ImportProblem(f"{where}: the example codes end in no constant")
    out["default"] = node.value
    return out


def spm_templates(co: Checkout, rel: str, choose: str) -> tuple[str, str, dict[str, str]]:
    """(instruction, answer prefix, example codes) of ``choose_solution_methods``' f-strings, with the
    choose prompt ``choose`` written in."""
    fn = co.function(rel, "choose_solution_methods")
    template, found_examples = "", {}
    for node in co.assignments(rel, fn, "prompt"):
        if not isinstance(node.value, ast.JoinedStr):
            continue
        text = ""
        for part in node.value.values:
            if isinstance(part, ast.Constant):
                text += prompt_sets.escape(part.value)
                continue
            value = part.value  # a FormattedValue
            name = value.id if isinstance(value, ast.Name) else None
            if name == "choose_prompt":
                text += prompt_sets.escape(choose)
            elif name == "prompt":
                text += template
            elif name == "problem":
                text += "{problem}"
            elif name == "method_num":
                text += "{n}"
            elif isinstance(value, ast.IfExp):
                found_examples = examples(value, co.where(rel, node))
                text += "{example}"
            else:
                raise ImportProblem(f"{co.where(rel, node)}: unexpected {ast.unparse(value)} in the SPM prompt")
        template = text
    if template.count(AUTHORS_ANSWER) != 1:
        raise ImportProblem(f"{co.root / rel}: the SPM prompt has no single {AUTHORS_ANSWER!r} before its prefix")
    instruction, prefix = template.split(AUTHORS_ANSWER)
    return instruction, prefix, found_examples


def spm_settings(co: Checkout) -> tuple[str, str]:
    """(max_tokens as a*n+b, the padding code) of the main script's SPM."""
    fn = co.function(SSR_SCRIPT, "choose_solution_methods")
    max_tokens = pad = None
    for node in ast.walk(fn):
        if isinstance(node, ast.keyword) and node.arg == "max_tokens":
            a, b = linear(node.value, "method_num", co.where(SSR_SCRIPT, fn))
            max_tokens = f"{a}n{b:+d}" if b else f"{a}n"
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
            and node.args and isinstance(node.args[0], ast.Constant)
        ):
            pad = node.args[0].value
    if max_tokens is None or pad is None:
        raise ImportProblem(f"{co.where(SSR_SCRIPT, fn)}: no SPM max_tokens or padding code found")
    return max_tokens, pad


def score_texts(co: Checkout) -> tuple[str, str]:
    """(note, prefix) of ``score_prompt = f"{user}\\n<think>{steps}\\n{note}\\n<think>{prefix}"``."""
    node = co.assignments(SSR_SCRIPT, co.trees[SSR_SCRIPT], "score_prompt")[0]
    parts = node.value.values if isinstance(node.value, ast.JoinedStr) else []
    shaped = (
        len(parts) == 4 and isinstance(parts[1], ast.Constant) and parts[1].value == AUTHORS_THINK
        and isinstance(parts[3], ast.Constant) and parts[3].value.startswith("\n")
        and parts[3].value.count(AUTHORS_THINK) == 1
    )
    if not shaped:
        raise ImportProblem(f"{co.where(SSR_SCRIPT, node)}: the scoring prompt is not shaped as at commit 41e9519")
    note, prefix = parts[3].value[1:].split(AUTHORS_THINK)
    return note, prefix


def listing(text: str, where: str) -> dict[str, str]:
    """``A. Name: what it is`` lines -> ``{"A": "Name"}`` (a line without a colon: all of it is the name)."""
    out = {}
    for line in text.splitlines():
        m = _LISTED.match(line)
        if m:
            out[m.group(1)] = m.group(2).split(":", 1)[0].strip()
    if not out:
        raise ImportProblem(f"{where}: no 'A. name' listing")
    return out


def strategies(names: dict[str, str], hints: dict[str, str], pad: str, where: str) -> dict[str, tuple[str, str]]:
    out = {}
    for code in [*names, pad]:
        if f"{code}_prompt" not in hints:
            raise ImportProblem(f"{where}: no {code}_prompt")
        out[code] = (names.get(code, "Unknown"), hints[f"{code}_prompt"])
    return out


def build(co: Checkout, own: prompt_sets.PromptSet) -> dict[str, str]:
    """Every file of the set, by relative path."""
    files: dict[str, str] = {}
    max_tokens, pad = spm_settings(co)
    note, score_prefix = score_texts(co)
    instruction, spm_prefix, example = spm_templates(co, SSR_SCRIPT, co.string(CHOOSE, "math_choose_prompt"))
    files["solve.txt"] = solve_template(co, BASE_SCRIPT, {"problem": "problem"})
    files["solve_strategy.txt"] = solve_template(co, SSR_SCRIPT, {"problem": "problem", "method_prompt": "hint"})
    role_node = co.assignments(ROLE_SCRIPT, co.function(ROLE_SCRIPT, "get_first_user_msg"), "combined_prompt")[0]
    role_parts = role_node.value.values if isinstance(role_node.value, ast.JoinedStr) else []
    if [type(p).__name__ for p in role_parts] != ["FormattedValue", "Constant", "FormattedValue"]:
        raise ImportProblem(f"{co.where(ROLE_SCRIPT, role_node)}: the role prompt is not f'{{role}}...{{system}}'")
    role_base = solve_template(co, ROLE_SCRIPT, {"problem": "problem"})
    files["solve_role.txt"] = "{role}" + prompt_sets.escape(role_parts[1].value) + role_base
    files["step_format.txt"] = ""  # in their solve prompts, inline
    files["spm.txt"] = instruction
    files["spm_prefix.txt"] = spm_prefix
    files["score_note.txt"] = note
    files["score_prefix.txt"] = score_prefix
    files["grader.txt"] = own.texts["grader"]  # theirs has none: the project's own
    files["grader_no_steps.txt"] = own.texts["grader_no_steps"]
    for i, (_, text) in enumerate(sorted(co.strings(ROLES).items(), key=lambda kv: kv[0]), 1):
        files[f"roles/{i:02d}.txt"] = text
    main = strategies(listing(co.string(CHOOSE, "math_choose_prompt"), co.where(CHOOSE, co.trees[CHOOSE])),
                      co.strings(METHODS), pad, str(co.root / METHODS))
    pools = {12: [c for c in main if c != pad]}
    for code, (name, hint) in main.items():
        files[f"strategies/{code}.txt"] = f"{name}\n{hint}"
    for n in (6, 9, 15):
        choose = co.string(ABLA_CHOOSE, f"method_selection_prompt_{n}")
        names = listing(choose, str(co.root / ABLA_CHOOSE))
        table = strategies(names, co.strings(ABLA_METHODS), pad, str(co.root / ABLA_METHODS))
        pools[n] = list(names)
        for code, (name, hint) in table.items():
            files[f"strategies-{n}/{code}.txt"] = f"{name}\n{hint}"
        files[f"spm-{n}.txt"] = spm_templates(co, ABLA_SCRIPT, choose)[0]
    manifest = [
        "# The authors' texts, imported by scripts/import_reference_prompts.py: not part of the project.",
        "name: reference",
        # no checkout path or commit here: the hash is of the texts, the same for everyone who imports them
        "description: the authors' texts (YuanlinChu/SSR-Spec_Scale_Reasoning), imported",
        "codes: letters",
        f"unknown: {pad}",
        *(f"pool {n}: {' '.join(pools[n])}" for n in sorted(pools)),
        "spm_repeats: yes",
        f"spm_max_tokens: {max_tokens}",
        *(f"example {k}: {v}" for k, v in example.items()),
    ]
    files[prompt_sets.MANIFEST] = "\n".join(manifest)
    return files


def commit_of(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return f"commit {out.stdout.strip()}" if out.returncode == 0 and out.stdout.strip() else "commit unknown"
    except (OSError, subprocess.SubprocessError):
        return "commit unknown"


def write_set(files: dict[str, str], dest: Path) -> prompt_sets.PromptSet:
    """Write the set beside ``dest``, check that it loads, then put it in place (a failed import leaves the old)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=dest.parent))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes((text + "\n").encode("utf-8"))  # one final newline, which reading drops
        prompt_sets.load_folder(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return prompt_sets.load_folder(dest)


def import_reference(checkout: str | Path, dest: str | Path | None = None) -> prompt_sets.PromptSet:
    co = Checkout(Path(checkout).expanduser())
    return write_set(build(co, prompt_sets.shipped("ssr")), Path(dest) if dest else prompt_sets.reference_dir())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", help="a local checkout of YuanlinChu/SSR-Spec_Scale_Reasoning")
    ap.add_argument("--out", default=None, help=f"folder to write (default: {prompt_sets.reference_dir()})")
    args = ap.parse_args(argv)
    try:
        ps = import_reference(args.checkout, args.out)
    except (ImportProblem, prompt_sets.PromptSetError, SyntaxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"imported prompt set {ps.name!r} from {args.checkout} ({commit_of(Path(args.checkout))}) into {ps.source}")
    print(f"hash {ps.digest}; runs record --prompt_set {ps.pinned}")
    print("fields: " + ", ".join(sorted(ps.texts)))
    pools = (
        f"{n} ({' '.join(str(s.code) for s in p.strategies)}; unknown {p.unknown.code})" for n, p in ps.pools.items()
    )
    print(f"roles: {len(ps.roles)}; pools: " + ", ".join(pools))
    a, b = ps.spm_max_tokens
    repeats = "allowed" if ps.spm_repeats else "not allowed"
    print(f"SPM: codes {ps.codes}, repeated picks {repeats}, max_tokens {a}n{b:+d}")
    print("use it with --prompt_set reference (and --prompt_format authors for the authors' plain text)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
