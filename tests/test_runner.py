"""Running an experiment: files, resumption, interruption, batching across problems."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scripted import ScriptedEngine, comparable_records, hashed_steps
from ssr.config import RunConfig
from ssr.datasets import Problem
from ssr.records import is_complete, load_records, to_json
from ssr.runner import run_dir, run_experiment

REPO = Path(__file__).resolve().parents[1]

PROBLEMS = [Problem("math", i, f"Problem number {i}: compute {i}+{i}.", str(i % 3), {}) for i in range(7)]


def engines():
    return {
        "target": ScriptedEngine(lambda p, sp: ("Target rewrite", "stop", "\n\n"), lambda p: len(p) % 10),
        "draft": ScriptedEngine(hashed_steps(answer_after=3)),
    }


def config(tmp_path, **kw) -> RunConfig:
    base = dict(
        method="ssr",
        dataset_name="math",
        output_dir=str(tmp_path),
        repeat_id=2,
        method_num=3,
        token_budget=200,
        progress=False,
    )
    base.update(kw)
    return RunConfig(**base)


def test_writes_one_complete_file_per_problem_and_repeat(tmp_path):
    cfg = config(tmp_path)
    report = run_experiment(cfg, PROBLEMS[:3], engines())
    folder = run_dir(cfg)
    assert folder == tmp_path / "ssr" / "math" / "paths3_th7_greedy_budget200_pool12_fast0"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"problem_{i}_repeat_{r}.json" for i in range(3) for r in range(2)] + ["run_summary.json"])
    assert len(report.written) == 6 and report.skipped == 0 and report.summary_file == folder / "run_summary.json"
    rec = json.loads((folder / "problem_1_repeat_0.json").read_text())
    assert rec["complete"] and rec["config"]["method_num"] == 3 and rec["gold_answer"] == "1"
    assert rec["selection"]["codes"] and len(rec["paths"]) == 3
    assert rec["usage"]["draft"]["generated_tokens"] == sum(p["tokens"]["draft_generated"] for p in rec["paths"])
    assert rec["usage"]["target"]["scoring_calls"] == rec["stats"]["steps"]
    assert rec["models"]["target"]["n_params"] == 1000
    assert set(rec["timing"]["phase_seconds"]) >= {"select", "draft", "score"}


def test_results_do_not_depend_on_how_many_problems_run_at_once(tmp_path):
    one = config(tmp_path / "a", max_concurrent_problems=1)
    many = config(tmp_path / "b", max_concurrent_problems=16)
    e1, e16 = engines(), engines()
    run_experiment(one, PROBLEMS, e1)
    run_experiment(many, PROBLEMS, e16)
    a = comparable_records(tmp_path / "a")
    b = comparable_records(tmp_path / "b")
    assert a == b and len(a) == 14
    # and batching really happened: far fewer, larger draft calls
    assert len(e16["draft"].calls) < len(e1["draft"].calls) / 4
    assert max(n for _, n in e16["draft"].calls) > 3 * max(n for _, n in e1["draft"].calls)


def test_rerun_skips_finished_files_and_redoes_broken_ones(tmp_path):
    cfg = config(tmp_path, repeat_id=1)
    run_experiment(cfg, PROBLEMS[:4], engines())
    folder = run_dir(cfg)
    (folder / "problem_0_repeat_0.json").unlink()
    (folder / "problem_1_repeat_0.json").write_text('{"schema_version": 1, "comp')  # truncated
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    report = run_experiment(cfg, PROBLEMS[:4], engines())
    assert sorted(p.name for p in report.written) == ["problem_0_repeat_0.json", "problem_1_repeat_0.json"]
    assert report.skipped == 2
    for name in ("problem_2_repeat_0.json", "problem_3_repeat_0.json"):
        assert (folder / name).stat().st_mtime_ns == before[name]
    assert all(is_complete(p) for p in folder.glob("problem_*.json"))
    again = run_experiment(config(tmp_path, repeat_id=1, overwrite=True), PROBLEMS[:4], engines())
    assert len(again.written) == 4


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from scripted import ScriptedEngine, comparable_records, hashed_steps
    from ssr.config import RunConfig
    from ssr.datasets import Problem
    from ssr.runner import run_experiment

    def slow(fn):
        def wrapped(p, sp):
            time.sleep(0.01)
            return fn(p, sp)
        return wrapped

    problems = [Problem("math", i, f"P{{i}}", "0", {{}}) for i in range(40)]
    cfg = RunConfig(method="ssr", output_dir={out!r}, repeat_id=1, method_num=2, max_concurrent_problems=2,
                    progress=False)
    engines = {{"target": ScriptedEngine(slow(lambda p, sp: ("t", "stop", "\\n\\n"))),
               "draft": ScriptedEngine(slow(hashed_steps(6)))}}
    r = run_experiment(cfg, problems, engines)
    print("WROTE", len(r.written), "SKIPPED", r.skipped)
    """
)


def test_sigkill_mid_run_leaves_no_partial_file_and_rerun_completes(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "out")))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    folder = tmp_path / "out" / "ssr" / "math"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(folder.rglob("problem_*.json"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    files = list(folder.rglob("problem_*.json"))
    assert 5 <= len(files) < 40, "the run should have been killed part-way"
    assert all(is_complete(f) for f in files)
    first = {f.name: f.stat().st_mtime_ns for f in files}
    out = subprocess.run([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    assert f"SKIPPED {len(first)}" in out
    final = list(folder.rglob("problem_*.json"))
    assert len(final) == 40 and all(is_complete(f) for f in final)
    assert all(f.stat().st_mtime_ns == first[f.name] for f in final if f.name in first)
    # temporary files from the killed write may remain, but are hidden and never read as results
    assert len(load_records(tmp_path / "out").records) == 40


def test_config_is_written_into_every_record(tmp_path):
    cfg = config(tmp_path, repeat_id=1, score_threshold=8.0, extra={"note": "sweep A"})
    run_experiment(cfg, PROBLEMS[:1], engines())
    rec = [to_json(r) for r in load_records(tmp_path).records][0]
    assert rec["config"] == cfg.to_dict()
    assert not {"overwrite", "progress", "verbose"} & set(
        rec["config"]
    )  # how the command behaved is no part of the run


@pytest.mark.parametrize(
    "method,tag",
    [("base", "budget200"), ("parallel", "paths3_plain_budget200"), ("spec", "paths3_th7_greedy_budget200")],
)
def test_run_tags_separate_methods_and_settings(tmp_path, method, tag):
    cfg = config(tmp_path, method=method, repeat_id=1)
    assert run_dir(cfg).name == tag


def test_sequential_forward_passes_count_the_critical_path(tmp_path):
    """Per round: the longest draft step, one scoring pass, the longest rewrite (all paths batched)."""
    cfg = config(tmp_path, repeat_id=1)
    run_experiment(cfg, PROBLEMS[:2], engines())
    for rec in [to_json(r) for r in load_records(run_dir(cfg)).records]:
        target, draft = _expected(rec)
        assert rec["usage"]["target"]["sequential_forward_passes"] == target
        assert rec["usage"]["draft"]["sequential_forward_passes"] == draft
        # far fewer than the tokens generated across the paths: the paths share each pass
        assert draft < rec["usage"]["draft"]["generated_tokens"]
    base = config(tmp_path, method="base", repeat_id=1)
    run_experiment(base, PROBLEMS[:1], engines())
    (rec,) = [to_json(r) for r in load_records(run_dir(base)).records]
    assert rec["usage"]["target"]["sequential_forward_passes"] == rec["usage"]["target"]["generated_tokens"]


def _expected(record):
    target = draft = 0
    if record["selection"] is not None:
        target += max(1, len(record["selection"]["raw"].split()))  # the scripted engine counts words
    rounds = max(len(p["steps"]) for p in record["paths"])
    for k in range(rounds):
        live = [p["steps"][k] for p in record["paths"] if len(p["steps"]) > k]
        draft += max(max(s["draft_tokens"], 1) for s in live)
        target += 1  # one scoring pass for all live paths
        rewrites = [max(s["rewrite_tokens"], 1) for s in live if not s["accepted"]]
        target += max(rewrites) if rewrites else 0
    return target, draft


# ---------------------------------------------------------------- run identity
def test_a_changed_setting_runs_in_a_folder_of_its_own(tmp_path):
    a, b = config(tmp_path, repeat_id=1), config(tmp_path, repeat_id=1, top_p=0.9)
    run_experiment(a, PROBLEMS[:2], engines())
    assert run_dir(b).name.startswith(run_dir(a).name + "_")  # top_p is not in the tag: the hash tells them apart
    assert len(run_experiment(b, PROBLEMS[:2], engines()).written) == 2


def _records_of(old, now):
    """``old``'s records in ``now``'s folder: what a folder named before the tag held every setting looks like."""
    run_experiment(old, PROBLEMS[:2], engines())
    run_dir(old).rename(run_dir(now))
    return {p: p.read_bytes() for p in run_dir(now).iterdir()}


def test_a_folder_of_other_settings_is_refused_by_name_and_overwrite_redoes_it(tmp_path):
    import dataclasses

    from ssr.runner import SettingsMismatch

    now = config(tmp_path, repeat_id=1)
    before = _records_of(config(tmp_path, repeat_id=1, target_model="other-model", top_p=0.9), now)
    with pytest.raises(
        SettingsMismatch, match=r"2 complete record\(s\).*--target_model \(recorded 'other-model'.*--top_p"
    ) as exc:
        run_experiment(now, PROBLEMS[:2], engines())
    assert "--overwrite" in str(exc.value)
    assert {p: p.read_bytes() for p in run_dir(now).iterdir()} == before  # nothing lost
    assert len(run_experiment(dataclasses.replace(now, overwrite=True), PROBLEMS[:2], engines()).written) == 2
    assert all(r.config["top_p"] == 0.95 for r in load_records(run_dir(now)).records)
    assert run_experiment(now, PROBLEMS[:2], engines()).skipped == 2


def test_the_script_exits_2_naming_the_setting_before_loading_engines(tmp_path, monkeypatch, capsys):
    import dataclasses

    from ssr import cli, datasets, plan as plan_mod
    from ssr.command_line import config_from_args

    argv = ["--output_dir", str(tmp_path), "--backend", "hf", "--token_budget", "200", "--no_progress"]
    now = config_from_args("ssr", cli.build_parser("x", RunConfig(method="ssr")), argv)
    _records_of(dataclasses.replace(now, seed=5), now)
    monkeypatch.setattr(datasets, "select_problems", lambda *a: PROBLEMS[:2])
    monkeypatch.setattr(plan_mod, "build_engines", lambda *a, **k: pytest.fail("no engine may load"))
    assert cli.main("ssr", "x", argv) == 2
    assert "--seed (recorded 5, now 0)" in capsys.readouterr().err


def test_a_record_not_marked_complete_is_redone(tmp_path):
    cfg = config(tmp_path, repeat_id=1)
    run_experiment(cfg, PROBLEMS[:2], engines())
    f = run_dir(cfg) / "problem_0_repeat_0.json"
    f.write_text(f.read_text().replace('"complete": true', '"complete": false'))
    assert not is_complete(f)
    again = run_experiment(cfg, PROBLEMS[:2], engines())
    assert [p.name for p in again.written] == ["problem_0_repeat_0.json"] and again.skipped == 1
    assert is_complete(f)


def test_by_default_a_step_ends_its_path_only_on_a_complete_box(tmp_path):
    """run_experiment's own default answer rule (no extraction handed in): a thought that names an answer
    does not end the path; the boxed answer does."""

    def draft_fn(prompt, params):
        if "but wait" in prompt:
            return "Checked: \\boxed{5}.", "stop", "\n\n"
        return "So the final answer is 4, but wait let me verify.", "stop", "\n\n"

    cfg = config(tmp_path, method="spec", num_paths=1, repeat_id=1)
    eng = {
        "target": ScriptedEngine(lambda p, sp: ("t", "stop", "\n\n"), lambda p: 9),
        "draft": ScriptedEngine(draft_fn),
    }
    run_experiment(cfg, [Problem("math", 0, "What is 2+3?", "5", {})], eng, equal=lambda a, b: a == b)
    (rec,) = load_records(run_dir(cfg)).records
    (path,) = rec.paths
    assert (len(path.steps), path.finish_reason, path.answer, rec.final_answer) == (2, "answer", "5", "5")


@pytest.mark.parametrize(
    "name,kw,paths,spm",
    [("base", {}, 1, False), ("parallel", {}, 2, False), ("parallel", {"use_method_prompts": True}, 3, True),
     ("spec", {}, 2, False), ("ssr", {}, 3, True)],
)
def test_the_method_table_says_what_each_method_does(tmp_path, monkeypatch, name, kw, paths, spm):
    from ssr import plan as plan_mod
    from ssr.methods import method

    loaded = {}

    def build(cfg, need_draft):
        loaded["draft"] = need_draft
        e = engines()
        return e["target"], (e["draft"] if need_draft else None)

    monkeypatch.setattr(plan_mod, "build_engines", build)
    cfg = config(tmp_path, method=name, repeat_id=1, num_paths=2, method_num=3, **kw)
    run_experiment(cfg, PROBLEMS[:1], equal=lambda a, b: a == b)
    (rec,) = load_records(run_dir(cfg)).records
    m = method(name)
    assert len(rec.paths) == m.path_count(cfg) == paths
    assert (rec.selection is not None) == m.uses_spm(cfg) == spm
    drafted = any(p.steps for p in rec.paths)
    speculative = name in ("spec", "ssr")
    assert drafted == m.speculative == m.needs_draft == loaded["draft"] == ("draft" in rec.usage) == speculative


def test_the_refusal_names_every_setting_that_differs_in_any_record(tmp_path):
    from ssr.runner import SettingsMismatch

    now = config(tmp_path, repeat_id=1)
    run_dir(now).mkdir(parents=True)
    for i, kw in enumerate([{"top_p": 0.9}, {"seed": 5}]):
        old = config(tmp_path / f"old{i}", repeat_id=1, **kw)
        run_experiment(old, PROBLEMS[i : i + 1], engines())
        for f in run_dir(old).iterdir():
            f.rename(run_dir(now) / f.name)
    with pytest.raises(SettingsMismatch, match=r"^2 complete record\(s\).*--seed \(recorded 5, now 0\), --top_p"):
        run_experiment(now, PROBLEMS[:2], engines())


# ---------------------------------------------------------------- the plan in the scripts
class StandInPlan:
    """What ``ssr.plan.make_plan`` returns, as far as the scripts use it."""

    concurrency = 3

    def to_dict(self):
        return {"target": {"tensor_parallel_size": 4}, "concurrency": self.concurrency}

    def summary_lines(self):
        return ["plan: target TP 4", "plan: concurrency 3"]


@pytest.fixture
def planned(tmp_path, monkeypatch):
    """cli.main with a stand-in plan and scripted engines; returns (main(argv) -> exit code, what was built)."""
    import types

    from ssr import cli, datasets

    seen: dict = {"plans": []}
    fake = types.ModuleType("ssr.plan")
    fake.PlanError = type("PlanError", (Exception,), {})

    def make_plan(cfg):
        seen["plans"].append(cfg)
        if cfg.target_model == "too-big":
            raise fake.PlanError("QwQ-32B does not fit one 80 GB GPU at TP 1: use --tensor_parallel_size 4")
        return StandInPlan()

    fake.make_plan = make_plan
    monkeypatch.setitem(sys.modules, "ssr.plan", fake)
    monkeypatch.setattr(datasets, "select_problems", lambda *a: PROBLEMS[:2])

    def build(cfg, need_draft, plan=None):
        seen["build"] = (cfg.max_concurrent_problems, plan)
        e = engines()
        return e["target"], e["draft"]

    fake.build_engines = build
    base = ["--output_dir", str(tmp_path / "out"), "--backend", "hf", "--token_budget", "200", "--no_progress",
            "--repeat_id", "1", "--verbose"]
    return (lambda *argv: cli.main("ssr", "x", [*base, *argv])), seen


def test_dry_run_prints_the_plan_as_json_and_starts_nothing(planned, capsys, tmp_path):
    main, seen = planned
    assert main("--dry_run") == 0
    out = capsys.readouterr().out
    assert json.loads(out) == StandInPlan().to_dict() and out.startswith("{\n  ")
    assert "build" not in seen and not (tmp_path / "out").exists()


def test_a_plan_that_cannot_fit_exits_2_before_anything_loads(planned, capsys, tmp_path):
    main, seen = planned
    assert main("--target_model", "too-big") == 2
    assert "error: QwQ-32B does not fit one 80 GB GPU at TP 1: use --tensor_parallel_size 4" in capsys.readouterr().err
    assert "build" not in seen and not (tmp_path / "out").exists()


def test_the_run_uses_the_plan_and_records_it(planned, capsys, tmp_path):
    main, seen = planned
    assert main("--max_concurrent_problems", "16") == 0
    err = capsys.readouterr().err
    assert "plan: target TP 4\nplan: concurrency 3\n" in err
    concurrency, plan = seen["build"]
    assert concurrency == 3 and isinstance(plan, StandInPlan)  # the plan's concurrency, the plan to the engines
    recs = load_records(tmp_path / "out").records
    assert len(recs) == 2 and all(r.plan == StandInPlan().to_dict() for r in recs)
    assert all(r.config["max_concurrent_problems"] == 3 for r in recs)
    (summary,) = (tmp_path / "out").rglob("run_summary.json")
    assert json.loads(summary.read_text())["plan"] == StandInPlan().to_dict()


# ---------------------------------------------------------------- the prefix-cache warning
def test_the_prefix_cache_rule():
    from ssr.scheduler import CacheTally, prefix_cache_warning

    thrashing = CacheTally(passes=40, prompt_tokens=40 * 3000, cached_prompt_tokens=40 * 1000, reported=True)
    line = prefix_cache_warning(thrashing)
    assert line.startswith("warning:") and "33%" in line and "40000/120000" in line and "40 passes" in line
    assert "--max_concurrent_problems" in line and "enable_prefix_caching" in line
    assert prefix_cache_warning(CacheTally(40, 120000, 40000, reported=False)) is None  # caching not reported
    assert prefix_cache_warning(CacheTally(40, 120000, 100000, reported=True)) is None  # 83% served
    assert prefix_cache_warning(CacheTally(10, 30000, 10000, reported=True)) is None  # too few passes to judge
    # short paths: little recomputed per pass, whatever the share
    assert prefix_cache_warning(CacheTally(40, 40 * 300, 40 * 100, reported=True)) is None


class Cached(ScriptedEngine):
    """Reports ``cached(rendered prompt, prompt tokens)`` of each scoring prompt as served from the prefix cache."""

    def __init__(self, cached, *a, **kw):
        super().__init__(*a, **kw)
        self.cached = cached

    def score_digits(self, prompts, sessions=None):
        out = super().score_digits(prompts, sessions)
        for p, r in zip(prompts, out):
            r.cached_prompt_tokens = self.cached(self.render(p), r.prompt_tokens)
        return out


def _first_step(rendered: str) -> bool:
    return rendered.count("Step ") == 1  # the path holds no step yet, only the one being scored


@pytest.mark.parametrize(
    "cached,warned",
    [
        (lambda p, n: n // 4, True),
        (lambda p, n: n - 20, False),
        # a path's first pass has nothing of the path cached yet: it is not what the rule judges
        (lambda p, n: 0 if _first_step(p) else n - 20, False),
    ],
)
def test_a_run_warns_once_when_scoring_passes_miss_the_prefix_cache(tmp_path, capsys, cached, warned):
    long = " ".join(["word"] * 400)  # long prompts: a missed cache recomputes far more than a step
    problems = [Problem("math", i, f"Problem {i}: {long}", "1", {}) for i in range(8)]
    eng = engines()
    eng["target"] = Cached(cached, lambda p, sp: ("Target rewrite", "stop", "\n\n"), lambda p: 9)
    cfg = config(tmp_path, repeat_id=1, token_budget=400)
    run_experiment(cfg, problems, eng)
    lines = [x for x in capsys.readouterr().err.splitlines() if "prefix cache" in x]
    assert len(lines) == int(warned)
    saved = json.loads((run_dir(cfg) / "run_summary.json").read_text())["prefix_cache"]
    assert saved["warned"] is warned and saved["later_passes"] >= 32
    assert saved["scoring_share"] is not None and (saved["later_share"] < 0.8) is warned
