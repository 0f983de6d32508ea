"""Selective Parallel Module (SPM): turn the target's reply into n strategy codes of the prompt set.

The codes are the set's: numbers (the ``ssr`` set: "5, 11, 2") or letters (the authors': "B,E,F").
A set that allows repeated picks (``spm_repeats: yes``, the authors' way: their target may pick "unknown"
or any strategy more than once) keeps them; otherwise a code counts once. Missing picks are padded with
the pool's unknown code; extra ones are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from ssr.prompt_sets import Pool, Strategy
from ssr.prompts import UNKNOWN

_INT_RE = re.compile(r"(?<![\d.])\d{1,3}(?![\d.])")
_LETTER_RE = re.compile(r"[A-Z]")


@dataclass
class Selection:
    raw: str
    parsed: list[int | str] = field(default_factory=list)  # valid codes found in the reply, in order
    codes: list[int | str] = field(default_factory=list)  # exactly n codes after padding
    padded: int = 0  # how many "unknown" codes were added
    pool_size: int = 12
    chosen: list[Strategy] = field(default_factory=list)  # the strategy of each code

    @property
    def strategies(self) -> list[Strategy]:
        return list(self.chosen)

    def to_dict(self) -> dict:
        return {
            "raw": self.raw,
            "parsed": self.parsed,
            "codes": self.codes,
            "padded": self.padded,
            "pool_size": self.pool_size,
            "strategies": [s.name for s in self.chosen],
        }


def found_codes(raw: str, valid: Sequence[int | str]) -> list[int | str]:
    """Every valid code in the reply, in order, repeats kept.

    Numbers: only the first line that holds any number is read, so a model that goes on to explain itself
    ("... because 3 equations") adds no stray codes. Letters: every capital that is a code, anywhere in the
    reply, as the authors' ``re.findall(r'[A-M]', text)`` (spec_scale_reason.py:373) reads it.
    """
    if valid and isinstance(next(iter(valid)), str):
        return [c for c in _LETTER_RE.findall(raw) if c in valid]
    for line in raw.splitlines():
        numbers = [int(m) for m in _INT_RE.findall(line)]
        if numbers:
            return [c for c in numbers if c in valid]
    return []


def parse_selection(raw: str, n: int, pool: Pool | Sequence[Strategy], repeats: bool = False) -> Selection:
    """Codes in reply order (distinct unless ``repeats``); out-of-pool or missing ones become the unknown."""
    if not isinstance(pool, Pool):  # a bare list of the shipped set's strategies
        pool = Pool(len(pool), tuple(pool), UNKNOWN, "")
    parsed: list[int | str] = []
    for code in found_codes(raw, pool.valid_codes):
        if repeats or code not in parsed:
            parsed.append(code)
    codes = parsed[:n]
    padded = n - len(codes)
    codes += [pool.unknown.code] * padded
    return Selection(
        raw=raw, parsed=parsed, codes=codes, padded=padded, pool_size=pool.size,
        chosen=[pool.by_code(c) for c in codes],
    )
