"""The command line of every generation script, built from ``RunConfig``'s field metadata.

``add_run_args`` declares one option per field (its form, type, choices and aliases come from the field);
``config_from_args`` parses it, applies a ``--preset`` (or ``$SSR_SWAP_MODELS``), validates and resolves the
backend: the generation scripts and ``bench/`` both use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any, Sequence

from ssr import presets
from ssr.config import GROUPS, RunConfig, resolve, validate

# Runs a command written for the paper's models (e.g. the authors' README commands) on the models
# of a preset instead, whatever the command says: SSR_SWAP_MODELS=tiny python spec_scale_reason.py ...
# Everything a preset sets is replaced (models, engine settings, budgets), except what to run on.
SWAP_MODELS_ENV = "SSR_SWAP_MODELS"
KEPT_BY_SWAP = frozenset(
    {"dataset_name", "problem_id", "repeat_id", "data_dir", "output_dir", "num_paths", "method_num"}
)
# Kept when typed: a latency run's one problem at a time (scripts/paper.sh) stays one at a time when swapped.
KEPT_BY_SWAP_IF_TYPED = frozenset({"max_concurrent_problems"})

def _str2bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "y", "on"):
        return True
    if v in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


_TYPES = {"int": int, "float": float, "str": str}


def add_run_args(parser: argparse.ArgumentParser, defaults: RunConfig | None = None) -> None:
    """The options every generation script shares (compatible with the paper's repository)."""
    d = defaults or RunConfig()
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for f in dataclasses.fields(RunConfig):
        meta, form = f.metadata, f.metadata["form"]
        if form == "none":
            continue
        names = [f"--no_{f.name}"] if form == "negated" else [f"--{f.name}", *meta["aliases"]]
        kwargs: dict[str, Any] = {"dest": f.name, "default": getattr(d, f.name), "help": meta["help"]}
        if form == "switch":
            kwargs["action"] = "store_true"
        elif form == "negated":
            kwargs["action"] = "store_false"
        elif form == "bool":
            kwargs.update(type=_str2bool, nargs="?", const=True)
        else:
            kind = meta["parse"] or _TYPES[str(f.type).split(" | ")[0]]
            kwargs.update(type=kind, choices=meta["choices"])
        groups[meta["group"]].add_argument(*names, **kwargs)


def explicit_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """Names of the options the user typed, so a preset never overrides them."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # noqa: SLF001 - argparse has no public API for this
        if not action.option_strings or action.dest == "help":
            continue
        kwargs: dict[str, Any] = {"dest": action.dest, "default": argparse.SUPPRESS}
        if action.nargs == 0:
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        else:
            kwargs["nargs"] = action.nargs
        probe.add_argument(*action.option_strings, **kwargs)
    ns, _ = probe.parse_known_args(argv)
    return set(vars(ns))


def config_from_args(method_name: str, parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> RunConfig:
    """Parse ``argv`` into a checked RunConfig with its backend resolved; a ``--preset`` fills every option
    the user did not type. A bad value is a usage error (exit 2) naming the option."""
    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k in RunConfig.__dataclass_fields__}
    cfg = RunConfig(method=method_name, **values)
    if cfg.preset:
        try:
            overrides = presets.preset_overrides(cfg.preset)
        except KeyError as exc:
            parser.error(str(exc.args[0]))
        typed = explicit_args(parser, argv)
        for key, value in overrides.items():
            if key not in typed:
                setattr(cfg, key, value)
    swap = os.environ.get(SWAP_MODELS_ENV, "").strip()
    if swap:
        try:
            overrides = presets.preset_overrides(swap)
        except KeyError as exc:
            parser.error(f"${SWAP_MODELS_ENV}: {exc.args[0]}")
        kept = KEPT_BY_SWAP | (KEPT_BY_SWAP_IF_TYPED & explicit_args(parser, argv))
        for key, value in overrides.items():
            if key not in kept:
                setattr(cfg, key, value)
        cfg.extra["swapped_models"] = swap
        print(
            f"note: ${SWAP_MODELS_ENV}={swap}: models, engine settings and budgets come from the {swap!r} preset "
            f"(target {cfg.target_model})",
            file=sys.stderr,
        )
    try:
        validate(cfg)
        return resolve(cfg)
    except ValueError as exc:
        parser.error(str(exc))
