"""The plan's one error: a run that cannot fit, with what to change."""

from __future__ import annotations


class PlanError(ValueError):
    """The engines cannot be laid out as asked; the message says which option to change."""
