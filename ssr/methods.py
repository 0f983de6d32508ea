"""The four methods in one table: what each needs, how many paths it runs, how its folder is named.

Every question of the form "which methods ..." is answered here, never with a set of names typed
somewhere else:

* ``method(name).needs_draft``: load the draft model (the runner, the bench);
* ``method(name).speculative``: steps are drafted, scored and rewritten (evaluation's acceptance rate,
  speedup and FLOPs model, the report's speculative-only settings);
* ``path_count(cfg)``: how many paths one (problem, repeat) runs;
* ``uses_spm(cfg)``: the target first picks the paths' strategies (SPM);
* ``tag_parts(cfg)``: the main settings in the run folder's name, each with the fields it accounts for;
* ``settings(cfg)``: the run settings that change this method's records (the run identity's fields);
* ``coroutine``: the name of the ``ssr.reasoning.Reasoner`` generator that runs one problem.

``METHOD_NAMES`` lists them in the order tables show them. This module imports nothing from the
package: ``cfg`` is anything with ``RunConfig``'s attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

# Tag part: (the fields this part of the folder name accounts for, the text).
TagPart = tuple[tuple[str, ...], str]

# Settings every method's records depend on. ``method`` and ``dataset_name`` are settings too: the run
# folder's path names them (output_dir/method/dataset/tag), so the tag's hash leaves them out.
COMMON_SETTINGS = frozenset({
    "method", "dataset_name", "backend", "target_model", "target_tokenizer", "dtype", "max_model_len",
    "block_size", "temperature", "top_p", "seed", "token_budget", "prompt_format", "target_engine_args",
    "batch_invariant", "prompt_set", "answer_rule",
})
SPECULATIVE_SETTINGS = frozenset({
    "draft_model", "draft_tokenizer", "draft_engine_args", "max_step_tokens", "score_threshold", "score_method",
    "score_prompt", "fast", "tie_break", "schedule",
})
SPM_SETTINGS = frozenset({"method_num", "strategy_pool_size"})
# How a speculative method's requests are served (``ssr.scheduler`` and ``ssr.async_schedule``). The records
# are the same under both; the schedule is part of the identity so that runs of each land in their own folder.
SCHEDULES = ("lockstep", "async")


@dataclass(frozen=True)
class Method:
    name: str
    needs_draft: bool
    speculative: bool
    coroutine: str  # "direct" | "speculative": the Reasoner generator
    uses_spm: Callable[[Any], bool]
    path_count: Callable[[Any], int]
    tag_of: Callable[[Any], list[TagPart]]
    settings_of: Callable[[Any], frozenset[str]]

    def tag_parts(self, cfg: Any) -> list[TagPart]:
        """The main settings as folder-name parts; a prompt format other than chat is named too."""
        parts = self.tag_of(cfg)
        if cfg.prompt_format != "chat":
            parts.append((("prompt_format",), cfg.prompt_format))
        return parts

    def tag_fields(self, cfg: Any) -> frozenset[str]:
        """Fields the folder name accounts for: shown in the tag, or given by the folder's path."""
        return frozenset({"method", "dataset_name", "prompt_format"}).union(*(f for f, _ in self.tag_parts(cfg)))

    def settings(self, cfg: Any) -> frozenset[str]:
        """The run settings this method's records depend on (a setting it ignores is no part of its identity)."""
        return COMMON_SETTINGS | self.settings_of(cfg)


def _parallel_settings(cfg: Any) -> frozenset[str]:
    if cfg.use_method_prompts:
        return frozenset({"use_method_prompts", "tie_break"}) | SPM_SETTINGS
    return frozenset({"use_method_prompts", "num_paths", "use_role_prompts", "tie_break"})


def _parallel_tag(cfg: Any) -> list[TagPart]:
    if cfg.use_method_prompts:
        paths: TagPart = (("method_num",), f"paths{cfg.method_num}")
        kind: TagPart = (
            ("use_method_prompts", "strategy_pool_size"),
            f"spm{cfg.method_num}_pool{cfg.strategy_pool_size}",
        )
    else:
        paths = (("num_paths",), f"paths{cfg.num_paths}")
        kind = (("use_method_prompts", "use_role_prompts"), "role" if cfg.use_role_prompts else "plain")
    return [paths, kind, (("token_budget",), f"budget{cfg.token_budget}")]


def _scoring_tag(cfg: Any, n_field: str) -> list[TagPart]:
    return [
        ((n_field,), f"paths{getattr(cfg, n_field)}"),
        (("score_threshold",), f"th{cfg.score_threshold:g}"),
        (("score_method",), cfg.score_method),
        (("token_budget",), f"budget{cfg.token_budget}"),
    ]


def _score_prompt_tag(cfg: Any) -> list[TagPart]:
    return [] if cfg.score_prompt == "continuation" else [(("score_prompt",), f"score-{cfg.score_prompt}")]


def _schedule_tag(cfg: Any) -> list[TagPart]:
    schedule = getattr(cfg, "schedule", "lockstep")  # a record older than schedules ran lock-step
    if schedule == "lockstep":
        return []
    return [(("schedule", "predraft"), schedule + ("" if getattr(cfg, "predraft", True) else "-nopredraft"))]


def _speculative_settings(cfg: Any) -> frozenset[str]:
    # pre-drafting is an option of the async schedule only: under lock-step it changes nothing
    return SPECULATIVE_SETTINGS | ({"predraft"} if getattr(cfg, "schedule", "lockstep") == "async" else frozenset())


def _spec_tag(cfg: Any) -> list[TagPart]:
    role = [(("use_role_prompts",), "role")] if cfg.use_role_prompts else []
    return _scoring_tag(cfg, "num_paths") + role + _score_prompt_tag(cfg) + _schedule_tag(cfg)


def _ssr_tag(cfg: Any) -> list[TagPart]:
    return (
        _scoring_tag(cfg, "method_num")
        + [(("strategy_pool_size",), f"pool{cfg.strategy_pool_size}"), (("fast",), f"fast{cfg.fast}")]
        + _score_prompt_tag(cfg)
        + _schedule_tag(cfg)
    )


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        # the target alone, one path
        Method(
            "base",
            needs_draft=False,
            speculative=False,
            coroutine="direct",
            uses_spm=lambda cfg: False,
            path_count=lambda cfg: 1,
            tag_of=lambda cfg: [(("token_budget",), f"budget{cfg.token_budget}")],
            settings_of=lambda cfg: frozenset(),
        ),
        # the target on several paths (plain, role or SPM-selected strategy prompts), majority vote
        Method(
            "parallel",
            needs_draft=False,
            speculative=False,
            coroutine="direct",
            uses_spm=lambda cfg: bool(cfg.use_method_prompts),
            path_count=lambda cfg: cfg.method_num if cfg.use_method_prompts else cfg.num_paths,
            tag_of=_parallel_tag,
            settings_of=_parallel_settings,
        ),
        # step-level speculative decoding on every path (spec-reason)
        Method(
            "spec",
            needs_draft=True,
            speculative=True,
            coroutine="speculative",
            uses_spm=lambda cfg: False,
            path_count=lambda cfg: cfg.num_paths,
            tag_of=_spec_tag,
            settings_of=lambda cfg: _speculative_settings(cfg) | {"num_paths", "use_role_prompts"},
        ),
        # SPM strategy selection + step-level speculative decoding, with fast modes
        Method(
            "ssr",
            needs_draft=True,
            speculative=True,
            coroutine="speculative",
            uses_spm=lambda cfg: True,
            path_count=lambda cfg: cfg.method_num,
            tag_of=_ssr_tag,
            settings_of=lambda cfg: _speculative_settings(cfg) | SPM_SETTINGS,
        ),
    )
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHOD_NAMES)}") from None


def is_speculative(name: str) -> bool:
    """For analysis of recorded runs: False for a name this table does not know (never raises)."""
    m = METHODS.get(name)
    return m is not None and m.speculative
