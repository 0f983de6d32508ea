"""The HTML report (ssr/analysis/html.py, page_data.py): its data, escaping, and the page in a real headless Chromium.

The unit tests build result folders from synthetic records; the browser tests
(``slow``) run the real generation scripts on ``--preset tiny``, write the
report with ``python -m ssr.analysis``, open it in headless Chromium (driven over
the DevTools protocol on a pipe, standard library only), click a problem and
check the DOM the page's script built. Without Chromium (``bash
scripts/install_browser.sh``) the browser tests are skipped, saying so.
``SSR_REPORT_SCREENSHOT=path.png`` keeps a screenshot of an opened problem.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ssr.analysis import page_data as P
from ssr.analysis.cli import main as analysis_main
from ssr.analysis.evaluate import Evaluation, Options, evaluate
from ssr.analysis.html import write_report
from ssr.analysis.loading import Grader
from ssr.records import SCHEMA_VERSION, STEP_STOP, Step, atomic_write_json, result_filename
from ssr.records import Path as RecordPath

REPO = Path(__file__).resolve().parents[1]
EVIL = (
    '</script><script>document.documentElement.setAttribute("data-pwned","1")</script>'
    "<img src=x onerror=\"document.title='PWNED'\">"
)


def exact_grader() -> Grader:
    return Grader(lambda a, b: a.strip() == b.strip())


# --------------------------------------------------------------------------- synthetic records


def make_step(score: float, accepted: bool, draft: str, rewrite: str | None = None, **extra) -> dict:
    probs = [0.0] * 10
    probs[int(score)] = 0.7
    probs[(int(score) + 1) % 10] += 0.3
    return {
        "draft": draft,
        "score": score,
        "score_probs": probs,
        "accepted": accepted,
        "rewrite": None if accepted else (rewrite if rewrite is not None else "rewritten step"),
        "draft_tokens": 12,
        "rewrite_tokens": 0 if accepted else 10,
        "ended_on_blank": False,
        **extra,
    }


def make_record(
    method: str,
    pid: int,
    rep: int,
    answers: list,
    gold: str = "4",
    steps_per_path: int = 3,
    dataset: str = "math",
    tag: str = "t",
    config: dict | None = None,
    final=...,
    reason: str | None = None,
    step_text: str = "Let $x^2 = 4$, so $x = 2$.\n",
) -> dict:
    speculative = method in ("spec", "ssr")
    paths = []
    for k, ans in enumerate(answers):
        steps = (
            [
                make_step(3.0 if j == 1 else 8.0, j != 1, f"{step_text}(step {j})", f"Target: step {j} fixed.\n")
                for j in range(steps_per_path)
            ]
            if speculative
            else []
        )
        paths.append(
            {
                "index": k,
                "prompt_kind": "method" if method in ("ssr", "parallel") else "none",
                "role": None,
                "strategy": f"Strategy {k}" if method in ("ssr", "parallel") else None,
                "text": "".join(s["draft"] if s["accepted"] else s["rewrite"] for s in steps)
                or f"path {k} says \\boxed{{{ans}}}",
                "answer": ans,
                "finish_reason": "answer" if ans is not None else "budget",
                "mean_score": (8.0 + k * 0.1) if speculative else None,
                "steps": steps,
                "tokens": {"draft_generated": 36 if speculative else 0, "target_generated": 30 + k},
            }
        )
    votes: dict = {}
    for a in answers:
        if a is not None:
            votes[a] = votes.get(a, 0) + 1
    if final is ...:
        final = max(votes, key=votes.get) if votes else None
    n_steps = sum(len(p["steps"]) for p in paths)
    n_rw = sum(1 for p in paths for s in p["steps"] if not s["accepted"])
    return {
        "schema_version": SCHEMA_VERSION,
        "complete": True,
        "method": method,
        "dataset": dataset,
        "problem_id": pid,
        "repeat": rep,
        "problem": f"Problem {pid}: find $x$ with $x^2 = 4$ & x > 0.",
        "gold_answer": gold,
        "final_answer": final,
        "answer_reason": reason
        or ("no_answer" if final is None else "single_path" if len(answers) == 1 else "majority"),
        "votes": votes,
        "selection": {
            "raw": "1, 3",
            "parsed": [1, 3],
            "codes": [1, 3, 0][: len(answers)],
            "padded": 0,
            "strategies": [f"Strategy {k}" for k in range(len(answers))],
            "pool_size": 12,
        }
        if method == "ssr"
        else None,
        "paths": paths,
        "usage": {"target": {"calls": 3, "prompt_tokens": 100, "cached_prompt_tokens": 20, "generated_tokens": 40}},
        "stats": {"steps": n_steps, "rewrites": n_rw, "rewrite_rate": n_rw / n_steps if n_steps else None},
        "timing": {"wall_seconds": 1.0 + pid + 0.1 * rep, "phase_seconds": {"draft": 0.5}},
        "models": {
            "target": {"name": "tiny-target", "n_params": 10**6, "n_layers": 4, "hidden_size": 64},
            "draft": {"name": "tiny-draft", "n_params": 10**5, "n_layers": 2, "hidden_size": 32}
            if speculative
            else None,
        },
        "config": {
            "method": method,
            "target_model": "tiny-target",
            "draft_model": "tiny-draft",
            "token_budget": 96,
            "score_threshold": 7.0,
            "score_method": "greedy",
            "fast": 0,
            "num_paths": len(answers),
            **(config or {}),
        },
    }


def write_records(root: Path, records: list[dict], tag: str = "t") -> Path:
    for rec in records:
        folder = root / rec["method"] / rec["dataset"] / tag
        atomic_write_json(folder / result_filename(rec["problem_id"], rec["repeat"]), rec)
    return root


@pytest.fixture
def folders(tmp_path):
    """An ssr run and a base run over 3 problems (gold 4): ssr gains on 1, loses on 2, no answer on problem 3."""
    base = write_records(
        tmp_path / "base",
        [
            make_record("base", 0, 0, ["4"]),
            make_record("base", 1, 0, ["5"]),
            make_record("base", 2, 0, ["4"]),
            make_record("base", 3, 0, ["4"]),
        ],
    )
    ssr = write_records(
        tmp_path / "ssr",
        [
            make_record("ssr", 0, 0, ["4", "4"], config={"prompt_format": "chat"}),
            make_record("ssr", 1, 0, ["4", "4"], config={"prompt_format": "chat"}),
            make_record("ssr", 2, 0, ["7", "7"], config={"prompt_format": "chat"}),
            make_record("ssr", 3, 0, [None, None], config={"prompt_format": "chat"}),
        ],
    )
    return ssr, base


def evaluated(ssr: Path, base: Path | None = None, grader: Grader | None = None) -> Evaluation:
    return evaluate([str(ssr)], Options(baseline_dir=str(base) if base else None), grader or exact_grader())


# --------------------------------------------------------------------------- unit tests: data and escaping


def test_script_json_escapes_everything_that_could_end_the_block_and_round_trips():
    value = {"t": EVIL + " <!-- a & b > c \u2028 \u2029 end", "nan": float("nan"), "inf": float("inf"), "tup": (1, 2)}
    text = P.script_json(value)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert "\\u003c/script\\u003e" in text
    back = json.loads(text)
    assert back["t"] == value["t"]
    assert back["nan"] is None and back["inf"] is None and back["tup"] == [1, 2]


def test_rows_carry_status_and_baseline_comparison(folders):
    ssr, base = folders
    index, records = P.page_data(evaluated(ssr, base))
    assert [r["label"] for r in index["runs"]] == ["ssr/t", "base/t"]
    assert index["runs"][1]["is_baseline"] and index["runs"][0]["baseline"] == index["runs"][1]["run_dir"]
    assert index["has_baseline"]
    ssr_rows = {r["pid"]: r for r in index["rows"] if r["run"] == 0}
    assert {p: r["st"] for p, r in ssr_rows.items()} == {0: "correct", 1: "correct", 2: "wrong", 3: "none"}
    assert {p: r["cmp"] for p, r in ssr_rows.items()} == {0: "", 1: "gain", 2: "loss", 3: "loss"}
    assert ssr_rows[1]["base"] == [0, 1] and ssr_rows[0]["base"] == [1, 1]
    base_rows = [r for r in index["rows"] if r["run"] == 1]
    assert len(base_rows) == 4 and all(r["cmp"] == "" and r["base"] is None for r in base_rows)
    assert len(records) == len(index["rows"]) == 8
    assert [r["i"] for r in index["rows"]] == list(range(8))
    r0 = records[0]
    assert r0["paths"][0]["correct"] is True and r0["gold"] == "4"
    assert "config" not in r0 and "models" not in r0  # shown once per run
    assert index["runs"][0]["config"]["prompt_format"] == "chat"
    assert (
        ssr_rows[0]["tok"] == 40 + 2 * 36
    )  # usage.target.generated_tokens, + the paths' draft tokens (no usage.draft)
    assert index["problems"]["math"]["2"].startswith("Problem 2")


def test_comparison_rule_baseline_right_on_half_its_repeats():
    assert P.comparison_flag(True, (0, 2)) == "gain"
    assert P.comparison_flag(True, (1, 2)) == ""
    assert P.comparison_flag(False, (1, 2)) == "loss"
    assert P.comparison_flag(False, (0, 3)) == ""
    assert P.comparison_flag(True, None) == ""


def test_a_base_run_among_the_folders_is_the_baseline_without_baseline_dir(folders, tmp_path):
    ssr, base = folders
    index, _ = P.page_data(evaluate([str(ssr), str(base)], grader=exact_grader()))
    by_label = {r["label"]: r for r in index["runs"]}
    assert by_label["base/t"]["is_baseline"] and by_label["ssr/t"]["baseline"] == by_label["base/t"]["run_dir"]
    assert {r["cmp"] for r in index["rows"] if index["runs"][r["run"]]["method"] == "ssr"} == {"", "gain", "loss"}


def test_vote_groups_give_paths_and_the_tie_break_score(tmp_path):
    rec = make_record("ssr", 0, 0, ["4", "2/4", "1/2", "4"], final="4", reason="tie_break_score")
    rec["votes"] = {"4": 2, "1/2": 2}  # "2/4" was merged into "1/2" by the runner's equivalence test
    write_records(tmp_path, [rec])
    equal = Grader(lambda a, b: {a, b} <= {"2/4", "1/2"} or a == b)
    _, records = P.page_data(evaluated(tmp_path, grader=equal))
    groups = {g["answer"]: g for g in records[0]["vote_groups"]}
    assert groups["4"]["paths"] == [0, 3] and groups["1/2"]["paths"] == [1, 2]
    assert groups["4"]["score"] == pytest.approx((8.0 + 8.3) / 2) and groups["1/2"]["score"] == pytest.approx(
        (8.1 + 8.2) / 2
    )
    assert groups["4"]["chosen"] and not groups["1/2"]["chosen"]


def test_page_embeds_escaped_json_and_runs_only_its_own_script(folders, tmp_path):
    ssr, base = folders
    rec_file = ssr / "ssr" / "math" / "t" / "problem_0_repeat_0.json"
    rec = json.loads(rec_file.read_text())
    rec["paths"][0]["steps"].append(
        make_step(2.0, False, EVIL, rewrite="<b>not bold</b> & \u2028 fine", score_prompt_tokens=321)
    )
    rec["problem"] = "x < y && y > z </script>"
    atomic_write_json(rec_file, rec)
    (tmp_path / "out").mkdir()
    out = write_report(evaluated(ssr, base), tmp_path / "out", plots=())
    assert out == tmp_path / "out" / "report.html"  # a folder gets report.html
    page = out.read_text(encoding="utf-8")
    # exactly: the index, the page's script, one block per record; model text opened no element
    assert len(re.findall(r"<script\b", page)) == 2 + 8
    assert "<img src=x" not in page and "<b>not bold" not in page and EVIL not in page
    index, records = P.read_page_data(page)
    assert len(records) == 8
    step = records[0]["paths"][0]["steps"][-1]
    assert step["draft"] == EVIL and step["rewrite"] == "<b>not bold</b> & \u2028 fine"
    assert step["score_prompt_tokens"] == 321  # extra step fields travel with the step
    assert records[0]["problem"] == "x < y && y > z </script>"
    # the page builds text nodes only
    js = (REPO / "ssr" / "analysis" / "report_assets" / "report.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


def test_page_is_offline_and_its_csp_allows_only_its_own_script(folders, tmp_path):
    import base64
    import hashlib

    ssr, base = folders
    page = write_report(evaluated(ssr, base), tmp_path / "r.html", plots=None).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert "@import" not in page and "url(http" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp or "default-src 'none'" in csp
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert digest in csp
    # plots: the inline pass@1 chart and matplotlib's step-score histogram as data: URIs
    assert "<svg" in page and page.count('src="data:image/png;base64,') >= 1


def test_header_shows_configuration_summary_and_skipped_files(folders, tmp_path):
    ssr, base = folders
    (ssr / "ssr" / "math" / "t" / "problem_9_repeat_0.json").write_text('{"schema_version": 1, "method": "ss')
    old = make_record("ssr", 5, 0, ["4"], tag="old")  # an older record: no prompt_format in its config
    assert "prompt_format" not in old["config"]
    write_records(tmp_path / "old", [old], tag="old")
    ev = evaluate([str(ssr), str(tmp_path / "old")], Options(baseline_dir=str(base)), exact_grader())
    page = write_report(ev, tmp_path / "r.html", plots=()).read_text()
    index, _ = P.read_page_data(page)
    assert [Path(p).name for p, _ in index["skipped"]] == ["problem_9_repeat_0.json"]
    assert "not valid JSON" in index["skipped"][0][1]
    assert "Skipped result files (1)" in page and "problem_9_repeat_0.json" in page
    for label in (
        "target model",
        "draft model",
        "token budget",
        "score threshold",
        "score method",
        "prompt format",
        "fast mode",
    ):
        assert f"<th>{label}</th>" in page
    assert "not recorded" in page  # the old run has no prompt_format
    assert "<td>chat</td>" in page and "tiny-target" in page
    # the summary's numbers: pass@1 of the ssr run (2 of 4 right) and the baseline reference row
    assert "0.500" in page and "base/t (baseline)" in page


def test_markup_in_settings_strategies_tags_notes_and_skipped_files_is_shown_as_text(tmp_path):
    """Every value the page writes into its markup is escaped, not only model text (which travels as JSON)."""
    rec = make_record("ssr", 0, 0, ["4", "4"], config={"target_model": "<cfg-x>m</cfg-x>", "score_method": "<cfg-y>"})
    rec["selection"]["strategies"] = ["<strat-x>", "Strategy 1"]
    root = write_records(tmp_path / "runs", [rec], tag="t<tag-x>")
    bad = rec | {"schema_version": "<reason-x>"}
    (root / "ssr" / "math" / "t<tag-x>" / "problem_1_repeat_0.json").write_text(json.dumps(bad))
    ev = evaluate([str(root)], Options(ks=[1, 3], model_name="<note-x>"), exact_grader())
    assert any("<note-x>" in n for n in ev.notes) and any("<tag-x>" in n for n in ev.notes)
    assert [s.reason for s in ev.skipped][0].startswith("schema_version <reason-x>")
    page = write_report(ev, tmp_path / "r.html", plots=(), title="<title-x>").read_text()
    markup = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
    for marker in ("cfg-x", "cfg-y", "strat-x", "tag-x", "note-x", "reason-x", "title-x"):
        assert f"<{marker}" not in markup, marker
        assert f"&lt;{marker}&gt;" in markup, marker


def test_the_page_is_written_from_the_evaluation_alone(folders, tmp_path):
    """No reloading, no regrading: the result folders may be gone once evaluate() has returned."""
    ssr, base = folders
    calls = []
    grader = Grader(lambda a, b: calls.append((a, b)) or a.strip() == b.strip())
    ev = evaluate([str(ssr)], Options(baseline_dir=str(base)), grader)
    graded = len(calls)
    shutil.rmtree(ssr)
    shutil.rmtree(base)
    index, _ = P.read_page_data(write_report(ev, tmp_path / "r.html", plots=()).read_text())
    assert [r["label"] for r in index["runs"]] == ["ssr/t", "base/t"] and len(index["rows"]) == 8
    assert {r["cmp"] for r in index["rows"] if r["run"] == 0} == {"", "gain", "loss"}
    assert len(calls) == graded  # every verdict the page shows came from the evaluation's cache


def test_cli_writes_the_report_into_the_first_folder(folders, capsys):
    ssr, base = folders
    assert analysis_main([str(ssr), "--baseline_dir", str(base), "--no_plots"], kind="report") == 0
    page = (ssr / "report.html").read_text()
    index, records = P.read_page_data(page)
    assert len(index["rows"]) == 8 and "wrote" in capsys.readouterr().out
    assert analysis_main([str(ssr.parent / "missing")], kind="report") == 2


def page_text(path: dict) -> str:
    """The page's rebuild of a path's text (report.js): the kept steps, each with its blank line if flagged."""
    if path["text_seps"] is None:
        return path["text"]
    return "".join(
        (s["draft"] if s["accepted"] else s["rewrite"]) + (STEP_STOP if f == "1" else "")
        for s, f in zip(path["steps"], path["text_seps"])
    )


def test_a_speculative_paths_text_is_rebuilt_from_its_steps_when_that_is_exact():
    def step(text, accepted=True, blank=True):
        return Step(
            text if accepted else "bad",
            8.0 if accepted else 3.0,
            [0.1] * 10,
            accepted,
            None if accepted else text,
            3,
            3,
            0,
            None,
            blank,
        )

    steps = [step("First step."), step("Second, rewritten.", accepted=False, blank=False), step("Third \\boxed{4}")]
    path = RecordPath(0, text="First step.\n\nSecond, rewritten.Third \\boxed{4}\n\n", steps=steps)
    assert P.step_text_separators(path) == "101"
    # anything else in the text (a prefix, a tail): the page keeps the text itself
    assert P.step_text_separators(RecordPath(0, text="Intro " + path.text, steps=steps)) is None
    assert P.step_text_separators(RecordPath(0, text=path.text + "tail", steps=steps)) is None
    assert P.step_text_separators(RecordPath(0, text="x")) is None
    # a second </think> the loop dropped: the page's script would not drop it, so the text stays
    think = [step("a</think>"), step("b</think>c")]
    assert P.step_text_separators(RecordPath(0, text="a</think>\n\nbc\n\n", steps=think)) is None


def test_page_stores_speculative_text_once_and_survives_lone_surrogates(folders, tmp_path):
    ssr, base = folders
    rec_file = ssr / "ssr" / "math" / "t" / "problem_1_repeat_0.json"
    rec = json.loads(rec_file.read_text())
    rec["paths"][1]["steps"][0]["draft"] = "broken \ud800 text"  # what json.loads makes of a lone "\\ud800"
    rec_file.write_text(json.dumps(rec))  # ensure_ascii: the file itself stays valid
    page = write_report(evaluated(ssr, base), tmp_path / "r.html", plots=()).read_text(encoding="utf-8")
    _, records = P.read_page_data(page)
    p0 = records[0]["paths"][0]
    assert p0["text"] is None and p0["text_seps"] == "000"
    assert (
        page_text(p0)
        == json.loads((ssr / "ssr" / "math" / "t" / "problem_0_repeat_0.json").read_text())["paths"][0]["text"]
    )
    assert records[1]["paths"][1]["steps"][0]["draft"] == "broken ? text"


def test_base_paths_keep_their_text(folders):
    ssr, base = folders
    _, records = P.page_data(evaluated(base))
    assert records[0]["paths"][0]["steps"] == [] and "\\boxed{4}" in records[0]["paths"][0]["text"]


# --------------------------------------------------------------------------- in a real browser


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``).

    Standard library only: the browser reads JSON commands on its fd 3 and
    writes replies and events on its fd 4, each message ended by a NUL byte.
    """

    def __init__(self, binary: str, width: int = 1400, height: int = 1000) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="ssr-chromium-")
        self.log = open(Path(self.profile.name) / "stderr.log", "wb")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def child_fds() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            import fcntl

            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile.name}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # close_fds=False: fds 3 and 4 made in child_fds must survive; Python's own fds are close-on-exec anyway
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, close_fds=False, preexec_fn=child_fds
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _message(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError(
                    "Chromium closed the DevTools pipe:\n" + Path(self.log.name).read_text(errors="replace")[-3000:]
                )
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, **params) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._message()  # events in between are dropped
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout:.0f} s: {expression}")
            time.sleep(0.01)

    def open(self, url: str, timeout: float = 60.0) -> float:
        """Load ``url``; returns the seconds until the page set its ready marker (list rendered)."""
        self.call("Page.navigate", url="about:blank")  # a URL differing only in its hash would not reload the page
        self.wait_for("location.href === 'about:blank'")
        t0 = time.monotonic()
        self.call("Page.navigate", url=url)
        self.wait_for(
            "!!document.documentElement && document.documentElement.getAttribute('data-ready') === '1'"
            " && location.href === " + json.dumps(url),
            timeout,
        )
        return time.monotonic() - t0

    def screenshot(self, path: Path, width: int = 1400, height: int = 2200) -> Path:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self.log.close()
        self.profile.cleanup()


@pytest.fixture(scope="module")
def chromium_path():
    path = find_chromium()
    if path is None:
        pytest.skip(
            "Chromium not found: run `bash scripts/install_browser.sh` (apt: chromium, chromium-driver) "
            "for the browser tests"
        )
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    b = Chromium(chromium_path)
    yield b
    b.close()


REAL_PROBLEMS = [
    {"problem": "If $a < b$ and $b > c$ & $c = 1$, what is $\\frac{6}{3}$? <b>not bold</b>", "answer": "2"},
    {"problem": "Compute $2^{3}$.", "answer": "8"},
]


def run_script(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def real_report(tmp_path_factory, chromium_path):
    """A real tiny run (ssr with every step rewritten, and base), one record salted with HTML, and its report."""
    out = tmp_path_factory.mktemp("real")
    # two MATH-style problems of our own (offline; HTML-like characters travel through the real pipeline)
    data = out / "data"
    data.mkdir()
    (data / "math500.jsonl").write_text("".join(json.dumps(p) + "\n" for p in REAL_PROBLEMS))
    backend = "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
    common = [
        "--preset",
        "tiny",
        "--backend",
        backend,
        "--data_dir",
        str(data),
        "--output_dir",
        str(out / "gen"),
        "--no_progress",
    ]
    run_script(["spec_scale_reason_2.py", *common, "--score_threshold", "10"])
    run_script(["base_test.py", *common])
    ssr_dir = out / "ssr_copy"
    shutil.copytree(out / "gen" / "ssr", ssr_dir)
    rec_file = next(ssr_dir.rglob("problem_0_repeat_0.json"))
    original = json.loads(rec_file.read_text())
    salted = copy.deepcopy(original)
    salted["paths"][0]["steps"].append(
        make_step(1.0, False, "Draft " + EVIL, rewrite="Rewrite <i>kept as text</i> & done", score_prompt_tokens=77)
    )
    atomic_write_json(rec_file, salted)
    (rec_file.parent / "problem_9_repeat_0.json").write_text('{"schema_version": 1, "comp')  # a truncated file
    report = out / "report.html"
    run_script(["-m", "ssr.analysis", str(ssr_dir), "--baseline_dir", str(out / "gen" / "base"), "--out", str(report)])
    index, _ = P.read_page_data(report.read_text(encoding="utf-8"))
    row = next(
        r for r in index["rows"] if index["runs"][r["run"]]["method"] == "ssr" and r["pid"] == 0 and r["rep"] == 0
    )
    return report, original, index, row


def texts(browser: Chromium, selector: str) -> list[str]:
    return browser.js(f"Array.from(document.querySelectorAll({json.dumps(selector)}), n => n.textContent)")


@pytest.mark.slow
def test_browser_opens_a_clicked_problem_with_its_rejected_steps_and_rewrites(browser, real_report):
    report, original, index, row = real_report
    browser.open(report.as_uri())
    assert browser.js("document.querySelectorAll('tr.row').length") == len(index["rows"]) == 4  # ssr and base records
    assert "Skipped result files (1)" in browser.js("document.getElementById('skipped').textContent")
    assert browser.js("document.querySelectorAll('#plots img, #plots svg').length") >= 2
    assert browser.js("document.querySelectorAll('.rec').length") == 0  # nothing rendered before it is opened
    browser.js(f"document.querySelector('tr.row[data-row=\"{row['i']}\"]').click()")
    rec_sel = f'[data-record="{row["i"]}"]'
    browser.wait_for(f"!!document.querySelector({json.dumps(rec_sel)})")
    # --score_threshold 10: every real step was rejected; each shows its draft beside the target's real rewrite
    for k, path in enumerate(original["paths"]):
        steps = path["steps"]
        assert steps and all(not s["accepted"] for s in steps)
        base = f'{rec_sel} .path[data-path="{path["index"]}"]'
        got_rewrites = texts(browser, f"{base} li.step.rejected .rewrite .text")
        got_drafts = texts(browser, f"{base} li.step.rejected .draft .text")
        extra = 1 if k == 0 else 0  # the salted step
        assert got_rewrites[: len(steps)] == [s["rewrite"] for s in steps] and len(got_rewrites) == len(steps) + extra
        assert got_drafts[: len(steps)] == [s["draft"] for s in steps]
        # the full text (rebuilt from the steps where the page left it out) is the recorded text
        assert texts(browser, f"{base} .path-text") == [path["text"]]
        answer = browser.js(f"document.querySelector({json.dumps(base + ' .path-head')}).textContent")
        assert (path["finish_reason"] or "–") in answer
    assert "score_prompt_tokens 77" in browser.js(f"document.querySelector({json.dumps(rec_sel)}).textContent")
    assert original["problem"] in texts(browser, f"{rec_sel} .problem-text")
    # filters: only wrong records, then only "SSR right where the baseline is wrong"
    browser.js(
        "var s = document.querySelector('select[name=st]'); s.value = 'wrong'; s.dispatchEvent(new Event('change'))"
    )
    assert set(browser.js("Array.from(document.querySelectorAll('tr.row'), n => n.dataset.status)")) <= {"wrong"}
    browser.js("var s = document.querySelector('select[name=st]'); s.value = ''; s.dispatchEvent(new Event('change'))")
    browser.js(
        "var s = document.querySelector('select[name=cmp]'); s.value = 'gain'; s.dispatchEvent(new Event('change'))"
    )
    gains = [r["i"] for r in index["rows"] if r["cmp"] == "gain"]
    assert browser.js("Array.from(document.querySelectorAll('tr.row'), n => +n.dataset.row)") == gains


@pytest.mark.slow
def test_browser_shows_injected_html_as_text_runs_none_of_it_and_takes_a_screenshot(browser, real_report, tmp_path):
    report, _, index, row = real_report
    url = report.as_uri() + f"#open=0/0&run={row['run']}&view=record"
    browser.open(url)
    assert browser.wait_for("document.documentElement.getAttribute('data-opened')") == str(row["i"])
    rec_sel = f'[data-record="{row["i"]}"]'
    salted = f'{rec_sel} .path[data-path="0"] li.step.rejected:last-child'
    assert texts(browser, f"{salted} .draft .text") == ["Draft " + EVIL]
    assert texts(browser, f"{salted} .rewrite .text") == ["Rewrite <i>kept as text</i> & done"]
    assert (
        browser.js(
            f"document.querySelectorAll({json.dumps(f'{rec_sel} script, {rec_sel} img, {rec_sel} i')}).length"
        )
        == 0
    )
    assert browser.js("document.documentElement.hasAttribute('data-pwned')") is False
    assert "PWNED" not in browser.js("document.title")
    assert browser.js("document.querySelectorAll('script:not([type])').length") == 1  # the page's own script only
    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 10_000
    target = os.environ.get("SSR_REPORT_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


# --------------------------------------------------------------------------- latency under batching


def _latency_runs(tmp_path: Path) -> list[str]:
    """The same base run twice: batched (16 at once) and one problem at a time (latency arm)."""
    from tests.test_evaluation import make_path, make_record, write

    out = []
    for tag, at_once, plan in (("batched", 16, None), ("one_at_a_time", 1, None), ("capped", 16, {"concurrency": 1})):
        folder = tmp_path / tag / "base" / "math" / "budget8192"
        for pid in (0, 1):
            rec = make_record(
                "base", "math", pid, 0, "42", "42", [make_path("42")], config={"max_concurrent_problems": at_once}
            )
            if plan is not None:
                rec["plan"] = plan
            write(folder, rec)
        out.append(str(folder))
    return out


def test_latency_measured_under_batching_is_labelled_everywhere(tmp_path):
    from ssr.analysis.evaluate import write_summary
    from ssr.analysis.table import summary_table_html, text_report

    batched, single, capped = _latency_runs(tmp_path)
    ev = evaluate([batched, single, capped], Options(ks=[1]), exact_grader())
    by_dir = {s["run_dir"]: s for s in ev.summaries}
    # the plan's concurrency (after its KV cap) wins over the requested one
    assert [(by_dir[d]["latency_batched"], by_dir[d]["problems_at_once"]) for d in (batched, single, capped)] == [
        (True, 16),
        (False, 1),
        (False, 1),
    ]
    for wide in (False, True):
        text = text_report(ev.summaries, [1], with_flops=False, wide=wide)
        rows = [line for line in text.splitlines() if line.startswith("base/")]
        assert len(rows) == 3 and sum("1.0*" in row for row in rows) == 1
        assert "latency measured under batching (up to 16 problems at once)" in text
    page = summary_table_html([(s, False) for s in ev.summaries], [1])
    assert page.count("(batched, 16 at once)") == 1 and "Latency measured under batching" in page
    json_path, csv_path = write_summary(tmp_path / "out", ev.payload())
    header = csv_path.read_text().splitlines()[0].split(",")
    assert {"latency_batched", "problems_at_once"} <= set(header)
    # the page's settings table says what each run's latency measures
    report = write_report(ev, tmp_path / "report.html", plots=())
    page = report.read_text()
    assert page.count("16 (latency measured under batching)") == 1
    assert page.count("1 (latency per problem, as the paper&#x27;s Time)") == 2
    only_single = evaluate([single], Options(ks=[1]), exact_grader())
    assert "under batching" not in text_report(only_single.summaries, [1], with_flops=False)


# --------------------------------------------------------------------------- a record's timeline


def timed_folder(tmp_path: Path) -> Path:
    """An ssr run of two records: problem 0 with a schedule block (tests/test_timeline.py's scenario: 4 target
    requests, 7 draft requests of which 2 wasted and 1 of those cancelled), problem 1 without one (older record)."""
    from ssr.timeline import block
    from tests.test_timeline import scenario

    with_block = make_record("ssr", 0, 0, ["4", "4"])
    with_block["schedule"] = block("async", True, scenario(), 11.0)
    return write_records(tmp_path / "timed", [with_block, make_record("ssr", 1, 0, ["4", "4"])])


def test_page_data_carries_a_timeline_only_for_records_with_a_schedule_block(tmp_path):
    ev = evaluate([str(timed_folder(tmp_path))], Options(ks=[1]), exact_grader())
    page = write_report(ev, tmp_path / "report.html", plots=()).read_text(encoding="utf-8")
    index, records = P.read_page_data(page)
    by_pid = {row["pid"]: records[row["i"]] for row in index["rows"]}
    assert by_pid[1]["timeline"] is None
    tl = by_pid[0]["timeline"]
    lanes = {lane["engine"]: lane["bars"] for lane in tl["lanes"]}
    assert {k: len(v) for k, v in lanes.items()} == {"target": 4, "draft": 7}
    assert [(b["ph"], b["p"], b.get("c", 0)) for b in lanes["draft"] if b.get("w")] == [
        ("predraft", 1, 0),
        ("draft", 0, 1),
    ]
    assert not any(b.get("w") for b in lanes["target"])
    assert tl["wall"] == 11.0 and tl["busy"] == {"target": 6.0, "draft": 7.5}


@pytest.mark.slow
def test_browser_draws_a_records_timeline_and_none_for_an_older_record(browser, tmp_path):
    ev = evaluate([str(timed_folder(tmp_path))], Options(ks=[1]), exact_grader())
    report = write_report(ev, tmp_path / "report.html", plots=())
    index, _ = P.read_page_data(report.read_text(encoding="utf-8"))
    for pid in (0, 1):
        browser.open(report.as_uri() + f"#open={pid}/0&view=record")
        i = browser.wait_for("document.documentElement.getAttribute('data-opened')")
        assert index["rows"][int(i)]["pid"] == pid
        rec = f'[data-record="{i}"]'
        assert browser.js(f"document.querySelectorAll({json.dumps(rec + ' .path')}).length") == 2  # drawn whole
        count = lambda sel: browser.js(f"document.querySelectorAll({json.dumps(rec + ' ' + sel)}).length")  # noqa: E731
        if pid == 1:
            assert count(".timeline-box") == 0 and count("svg.timeline") == 0
            continue
        assert count("svg.timeline") == 1
        assert count('g.tl-lane[data-engine="target"] rect.tl-bar') == 4
        assert count('g.tl-lane[data-engine="draft"] rect.tl-bar') == 7
        assert count("rect.tl-bar.wasted") == 2 and count("rect.tl-bar.cancelled") == 1 and count("rect.tl-hatch") == 1
        titles = texts(browser, f'{rec} g.tl-lane[data-engine="draft"] rect.tl-bar.cancelled title')
        assert titles == [
            "draft · draft · path 0 · step 3 · 7.00–7.50 s (0.50 s) · cancelled in the engine · "
            "wasted: not in the record"
        ]
        # one time axis, 900 px for the 11 s: target scores [3,5], [4,6], [6,7] and the rewrite [6,9]
        widths = browser.js(
            f"Array.from(document.querySelectorAll({json.dumps(rec + ' g.tl-lane[data-engine=target] rect.tl-bar')}),"
            " n => +n.getAttribute('width'))"
        )
        assert sorted(widths) == pytest.approx(sorted([2 * 900 / 11, 2 * 900 / 11, 3 * 900 / 11, 900 / 11]), abs=0.1)
        box = browser.js(f"document.querySelector({json.dumps(rec + ' .timeline-box')}).textContent")
        assert "pre-drafts used 1 of 2" in box and "target busy 6.00 s (55%)" in box
