"""The engine plan: what each engine will be (GPUs, TP, memory, KV capacity) before any weights load.

``make_plan(cfg)`` reads only ``config.json`` files and the GPUs seen (or ``--assume_gpus``); a plan
that cannot fit raises ``PlanError`` saying what to change. Modules: ``shapes`` (model shapes and where
their config is found), ``hardware`` (GPUs seen or assumed), ``memory`` (weights, activations, KV),
``layout`` (TP, placement, concurrency), ``plans`` (the plan objects), ``build`` (the engines a plan
describes: ``build_engines(cfg, need_draft, plan)``).
"""

from ssr.plan.build import build_engine, build_engines
from ssr.plan.errors import PlanError
from ssr.plan.hardware import Gpu, Hardware
from ssr.plan.layout import make_plan, tokens_per_path
from ssr.plan.plans import EnginePlan, RunPlan

__all__ = [
    "EnginePlan",
    "Gpu",
    "Hardware",
    "PlanError",
    "RunPlan",
    "build_engine",
    "build_engines",
    "make_plan",
    "tokens_per_path",
]
