"""Selective Parallel Module (SPM): turn the target's reply into n strategy codes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from ssr.prompts import UNKNOWN, Strategy, strategy_by_code

_INT_RE = re.compile(r"(?<![\d.])\d{1,3}(?![\d.])")


@dataclass
class Selection:
    raw: str
    parsed: list[int] = field(default_factory=list)  # valid, distinct codes found in the reply
    codes: list[int] = field(default_factory=list)  # exactly n codes after padding
    padded: int = 0  # how many "unknown" codes were added
    pool_size: int = 12

    @property
    def strategies(self) -> list[Strategy]:
        return [strategy_by_code(c) for c in self.codes]

    def to_dict(self) -> dict:
        return {
            "raw": self.raw,
            "parsed": self.parsed,
            "codes": self.codes,
            "padded": self.padded,
            "pool_size": self.pool_size,
            "strategies": [s.name for s in self.strategies],
        }


def parse_selection(raw: str, n: int, pool: Sequence[Strategy]) -> Selection:
    """Codes in reply order; out-of-pool, repeated or missing ones are padded with "unknown".

    Only the first line that holds any number is read, so a model that goes on
    to explain itself ("... because 3 equations") does not add stray codes.
    """
    valid = {s.code for s in pool} | {UNKNOWN.code}  # the prompt offers 0 = unknown
    parsed: list[int] = []
    for line in raw.splitlines():
        numbers = [int(m) for m in _INT_RE.findall(line)]
        if not numbers:
            continue
        for code in numbers:
            if code in valid and code not in parsed:
                parsed.append(code)
        break
    codes = parsed[:n]
    padded = n - len(codes)
    codes += [UNKNOWN.code] * padded
    return Selection(raw=raw, parsed=parsed, codes=codes, padded=padded, pool_size=len(pool))
