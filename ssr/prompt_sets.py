"""Prompt sets: every text the suite sends, as data in one folder (the format: ``prompts/README.md``).

A set is loaded and validated once, at start: a missing field, an unknown placeholder or a malformed
manifest line is a :class:`PromptSetError` naming the file and the field. Its content hash (of every file
the loader reads) is part of the run identity: ``--prompt_set ssr`` is recorded as ``ssr#<hash>``, so a run
resumed after its texts changed is refused instead of mixed.

Where a set lives (``locate``): a shipped name (``ssr``, the project's own set, in ``prompts/``),
``reference`` (imported from the authors' repository by ``scripts/import_reference_prompts.py`` into
``<cache>/prompt_sets/reference``, the cache folder of ``ssr.demo.cache``), or a folder.

This module imports nothing from the package but the cache-folder rule: ``ssr.prompts`` renders from it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ssr.demo.cache import cache_root

REPO_PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
SHIPPED = {"ssr": REPO_PROMPTS}
REFERENCE = "reference"
POOL_SIZES = (6, 9, 12, 15)
HASH_CHARS = 12

# field -> (placeholders it must hold, placeholders it may hold). A field ending in "-N" (spm-6.txt)
# replaces the field for pool size N and declares the same placeholders.
FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "solve": (frozenset({"problem"}), frozenset({"step_format"})),
    "solve_role": (frozenset({"problem", "role"}), frozenset({"step_format"})),
    "solve_strategy": (frozenset({"problem", "hint"}), frozenset({"strategy", "code", "step_format"})),
    "step_format": (frozenset(), frozenset()),
    "spm": (frozenset({"problem"}), frozenset({"n", "listing", "example"})),
    "spm_prefix": (frozenset(), frozenset({"n"})),
    "score_note": (frozenset(), frozenset()),
    "score_prefix": (frozenset(), frozenset()),
    "grader": (frozenset({"step"}), frozenset({"problem", "previous_steps"})),
    "grader_no_steps": (frozenset(), frozenset()),
}
POOLED_FIELDS = ("spm",)
MANIFEST = "set.txt"
MANIFEST_KEYS = ("name", "description", "codes", "unknown", "spm_repeats", "spm_max_tokens")

# {name} is a placeholder; {{name}} is the literal text {name}; every other brace is literal (LaTeX stays as is).
_SLOT = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}|\{([a-z_][a-z0-9_]*)\}")
_ONE_LETTER = re.compile(r"^[A-Z]$")
_MAX_TOKENS = re.compile(r"^(?:(\d*)n([+-]\d+)?|(\d+))$")


class PromptSetError(ValueError):
    """A prompt set that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Strategy:
    code: int | str
    name: str
    hint: str  # what the solve prompt asks the path to do


@dataclass(frozen=True)
class Pool:
    size: int
    strategies: tuple[Strategy, ...]  # offered, in listing order
    unknown: Strategy  # the fallback: padding, and a valid pick
    spm: str  # the SPM instruction template for this pool

    def by_code(self, code: int | str) -> Strategy:
        if code == self.unknown.code:
            return self.unknown
        for s in self.strategies:
            if s.code == code:
                return s
        raise KeyError(code)

    @property
    def valid_codes(self) -> tuple[int | str, ...]:
        return tuple(s.code for s in self.strategies) + (self.unknown.code,)


@dataclass(frozen=True)
class PromptSet:
    name: str
    source: Path
    digest: str  # content hash of every file read
    texts: dict[str, str]  # field -> template
    roles: tuple[str, ...]
    pools: dict[int, Pool]
    codes: str  # "numbers" | "letters"
    spm_repeats: bool  # the target may pick one strategy (or unknown) more than once
    spm_max_tokens: tuple[int, int]  # (a, b): a reply of n codes gets a*n + b tokens (a=0: a constant)
    examples: dict[str, str] = field(default_factory=dict)  # "3" / "default" -> the example codes
    description: str = ""

    @property
    def pinned(self) -> str:
        """``name#hash``, as runs record it."""
        return f"{self.name}#{self.digest}"

    def pool(self, size: int) -> Pool:
        if size not in self.pools:
            raise PromptSetError(f"{self.source / MANIFEST}: prompt set {self.name!r} has no pool of {size}")
        return self.pools[size]

    def text(self, name: str, **values: object) -> str:
        return render(self.texts[name], values)

    def max_tokens(self, n: int) -> int:
        a, b = self.spm_max_tokens
        return max(1, a * n + b)

    def example(self, n: int) -> str:
        if str(n) in self.examples:
            return self.examples[str(n)]
        if "default" in self.examples:
            return self.examples["default"]
        return ", ".join("abcdefghijklmnopqrstuvwxyz"[:n])


# ---------------------------------------------------------------- templates
def placeholders(template: str) -> set[str]:
    return {m.group(2) for m in _SLOT.finditer(template) if m.group(2)}


def render(template: str, values: dict[str, object]) -> str:
    """Fill ``{name}``; ``{{name}}`` becomes ``{name}``; other braces stay. A placeholder without a value is an
    error."""

    def fill(m: re.Match) -> str:
        if m.group(1):
            return "{" + m.group(1) + "}"
        if m.group(2) not in values:
            raise KeyError(f"no value for placeholder {{{m.group(2)}}}")
        return str(values[m.group(2)])

    return _SLOT.sub(fill, template)


def escape(text: str) -> str:
    """Literal text as a template: every ``{name}`` in it becomes ``{{name}}``."""
    return re.sub(r"\{([a-z_][a-z0-9_]*)\}", r"{{\1}}", text)


# ---------------------------------------------------------------- reading
def read_text(path: Path) -> str:
    """A field's text: the file exactly, less one final newline (so an editor's newline at the end is harmless)."""
    text = path.read_bytes().decode("utf-8")
    return text[:-1] if text.endswith("\n") else text


def _natural(name: str) -> tuple:
    stem = name.rsplit(".", 1)[0]
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def _manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if not path.is_file():
        raise PromptSetError(f"{path}: missing (every prompt set has a manifest {MANIFEST})")
    out: dict[str, str] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise PromptSetError(f"{path}:{i}: expected 'key: value', got {line!r}")
        key = " ".join(key.split())
        if key not in MANIFEST_KEYS and not re.fullmatch(r"(pool \d+|example \S+)", key):
            fields = ", ".join(MANIFEST_KEYS)
            raise PromptSetError(f"{path}:{i}: unknown field {key!r} (fields: {fields}, pool N, example N)")
        if key in out:
            raise PromptSetError(f"{path}:{i}: {key!r} given twice")
        out[key] = value.strip()
    return out


def _check_template(path: Path, name: str, template: str) -> None:
    required, allowed = FIELDS[name]
    found = placeholders(template)
    unknown = sorted(found - required - allowed)
    if unknown:
        declared = ", ".join(f"{{{p}}}" for p in sorted(required | allowed)) or "none"
        raise PromptSetError(
            f"{path}: field {name!r} has unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} "
            f"(declared: {declared}; write {{{{x}}}} for a literal {{x}})"
        )
    missing = sorted(required - found)
    if missing:
        raise PromptSetError(f"{path}: field {name!r} lacks placeholder(s) {', '.join('{' + m + '}' for m in missing)}")


def _code(folder: Path, kind: str, text: str) -> int | str:
    if kind == "letters" and _ONE_LETTER.match(text):
        return text
    if kind == "numbers" and text.isdigit():
        return int(text)
    raise PromptSetError(f"{folder / MANIFEST}: code {text!r} is not one of the set's {kind} (codes: {kind})")


def _strategies(folder: Path, sub: str, kind: str, read: list[Path]) -> dict[int | str, Strategy]:
    base = folder / sub
    if not base.is_dir():
        raise PromptSetError(f"{base}: missing (field 'strategies': one file per strategy code)")
    out: dict[int | str, Strategy] = {}
    for path in sorted(base.glob("*.txt"), key=lambda p: _natural(p.name)):
        code = _code(folder, kind, path.stem)
        read.append(path)
        name, sep, hint = read_text(path).partition("\n")
        if not name.strip() or not sep:
            raise PromptSetError(f"{path}: field 'strategies' {code}: expected a name line, then the hint")
        if placeholders(hint) or placeholders(name):
            raise PromptSetError(f"{path}: field 'strategies' {code}: a strategy declares no placeholders")
        out[code] = Strategy(code, name.strip(), hint)
    return out


def _pools(folder: Path, manifest: dict[str, str], kind: str, spm: dict[int, str], read: list[Path]) -> dict[int, Pool]:
    if "unknown" not in manifest:
        raise PromptSetError(f"{folder / MANIFEST}: field 'unknown' missing (the code SPM pads with)")
    unknown_code = _code(folder, kind, manifest["unknown"])
    shared: dict[int | str, Strategy] | None = None
    pools = {}
    for size in POOL_SIZES:
        line = manifest.get(f"pool {size}")
        if line is None:
            continue
        own = folder / f"strategies-{size}"
        if own.is_dir():
            table = _strategies(folder, own.name, kind, read)
        else:
            shared = shared if shared is not None else _strategies(folder, "strategies", kind, read)
            table = shared
        codes = [_code(folder, kind, c) for c in line.replace(",", " ").split()]
        if len(codes) != size:
            raise PromptSetError(f"{folder / MANIFEST}: field 'pool {size}' lists {len(codes)} codes")
        for c in [*codes, unknown_code]:
            if c not in table:
                where = own if own.is_dir() else folder / "strategies"
                raise PromptSetError(f"{where}: field 'pool {size}': no strategy file for code {c}")
        pools[size] = Pool(size, tuple(table[c] for c in codes), table[unknown_code], spm.get(size, spm[0]))
    if not pools:
        raise PromptSetError(f"{folder / MANIFEST}: no 'pool N: codes' line (N in {POOL_SIZES})")
    return pools


def _max_tokens(folder: Path, text: str) -> tuple[int, int]:
    m = _MAX_TOKENS.match(text.replace(" ", ""))
    if not m:
        raise PromptSetError(f"{folder / MANIFEST}: field 'spm_max_tokens' must be a count or a*n+b, got {text!r}")
    if m.group(3):
        return 0, int(m.group(3))
    return int(m.group(1) or 1), int(m.group(2) or 0)


def _yes(folder: Path, key: str, text: str) -> bool:
    if text.lower() in ("yes", "true", "1"):
        return True
    if text.lower() in ("no", "false", "0"):
        return False
    raise PromptSetError(f"{folder / MANIFEST}: field {key!r} must be yes or no, got {text!r}")


def load_folder(folder: str | Path) -> PromptSet:
    """Read and validate the set in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PromptSetError(f"{folder}: no such prompt-set folder")
    manifest = _manifest(folder)
    read = [folder / MANIFEST]
    known = set(FIELDS) | {f"{f}-{n}" for f in POOLED_FIELDS for n in POOL_SIZES}
    for path in folder.glob("*.txt"):
        if path.stem not in known and path.name != MANIFEST:
            raise PromptSetError(f"{path}: unknown field {path.stem!r} (fields: {', '.join(FIELDS)})")
    texts = {}
    for name in FIELDS:
        path = folder / f"{name}.txt"
        if not path.is_file():
            raise PromptSetError(f"{path}: missing (field {name!r})")
        read.append(path)
        texts[name] = read_text(path)
        _check_template(path, name, texts[name])
    spm = {0: texts["spm"]}
    for n in POOL_SIZES:
        path = folder / f"spm-{n}.txt"
        if path.is_file():
            read.append(path)
            spm[n] = read_text(path)
            _check_template(path, "spm", spm[n])
    kind = manifest.get("codes", "")
    if kind not in ("numbers", "letters"):
        raise PromptSetError(f"{folder / MANIFEST}: field 'codes' must be numbers or letters, got {kind!r}")
    role_dir = folder / "roles"
    role_files = sorted(role_dir.glob("*.txt"), key=lambda p: _natural(p.name)) if role_dir.is_dir() else []
    if not role_files:
        raise PromptSetError(f"{role_dir}: missing or empty (field 'roles': one file per role)")
    read += role_files
    roles = tuple(read_text(p) for p in role_files)
    pools = _pools(folder, manifest, kind, spm, read)
    if not manifest.get("name"):
        raise PromptSetError(f"{folder / MANIFEST}: field 'name' missing")
    examples = {k.split(" ", 1)[1]: v for k, v in manifest.items() if k.startswith("example ")}
    return PromptSet(
        name=manifest["name"],
        source=folder,
        digest=content_hash(folder, read),
        texts=texts,
        roles=roles,
        pools=pools,
        codes=kind,
        spm_repeats=_yes(folder, "spm_repeats", manifest.get("spm_repeats", "no")),
        spm_max_tokens=_max_tokens(folder, manifest.get("spm_max_tokens", "24")),
        examples=examples,
        description=manifest.get("description", ""),
    )


def content_hash(folder: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(set(files)):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:HASH_CHARS]


# ---------------------------------------------------------------- where sets live
def reference_dir(cache_dir: str | Path | None = None) -> Path:
    """``<cache>/prompt_sets/reference``: where the importer writes the authors' set."""
    return cache_root(cache_dir) / "prompt_sets" / REFERENCE


def reference_available(cache_dir: str | Path | None = None) -> bool:
    """Whether the authors' set has been imported on this machine (``--prompt_set reference`` will load)."""
    return (reference_dir(cache_dir) / MANIFEST).is_file()


def split_pin(value: str) -> tuple[str, str | None]:
    """``"name#hash"`` -> ``("name", "hash")``; a value without a hash -> ``(value, None)``."""
    head, sep, tail = value.rpartition("#")
    if sep and re.fullmatch(r"[0-9a-f]{%d}" % HASH_CHARS, tail):
        return head, tail
    return value, None


def locate(name: str) -> Path:
    """The folder of ``--prompt_set NAME|DIR``."""
    if name in SHIPPED:
        return SHIPPED[name]
    if name == REFERENCE:
        if not reference_available():
            raise PromptSetError(
                f"--prompt_set reference: not imported on this machine ({reference_dir()} is missing); "
                "run `python scripts/import_reference_prompts.py PATH-TO-THE-AUTHORS-CHECKOUT` first"
            )
        return reference_dir()
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise PromptSetError(
        f"--prompt_set {name!r}: neither a shipped set ({', '.join(SHIPPED)}), 'reference', nor a folder"
    )


def load(value: str = "ssr") -> PromptSet:
    """The set ``--prompt_set`` names; ``name#hash`` must still have that hash."""
    name, pin = split_pin(value)
    ps = _read_set(name)
    if pin is not None and pin != ps.digest:
        raise PromptSetError(
            f"--prompt_set {value}: the texts in {ps.source} changed since (hash now {ps.digest}); "
            "restore them, or run with the new set (a new run identity)"
        )
    return ps


def pinned(value: str) -> str:
    """``--prompt_set`` with its content hash, as recorded and compared: ``ssr`` -> ``ssr#<hash>``.
    A value that already carries a hash is kept; a set that cannot be loaded is left as given (the
    comparison then shows it differs)."""
    name, pin = split_pin(value)
    if pin is not None:
        return value
    try:
        return f"{name}#{_read_set(name).digest}"
    except PromptSetError:
        return value


def _read_set(name: str) -> PromptSet:
    """The set ``name`` (no pin): a shipped one from the process's cache, as ``ssr.prompts`` reads it, so the
    run identity (computed for every record a resumed run checks) does not re-read and re-hash its files."""
    return shipped(name) if name in SHIPPED else load_folder(locate(name))


_SHIPPED_CACHE: dict[str, PromptSet] = {}


def shipped(name: str = "ssr") -> PromptSet:
    """A shipped set, read once per process (the texts module-level names of ``ssr.prompts`` come from)."""
    if name not in _SHIPPED_CACHE:
        _SHIPPED_CACHE[name] = load_folder(SHIPPED[name])
    return _SHIPPED_CACHE[name]
