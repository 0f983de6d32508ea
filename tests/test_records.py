"""The result record: every committed record reads, the writer is atomic, the schema document matches the code."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from pathlib import Path

import pytest

from ssr import records as R

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DOC = ROOT / "docs" / "results-schema.md"
COMMITTED = sorted(ROOT.glob("bench/results/**/problem_*_repeat_*.json"))
STEP_DEFAULTS = {f.name: f.default for f in dataclasses.fields(R.Step)}


def test_the_committed_records_cover_the_three_v1_shapes():
    shapes = set()
    for f in COMMITTED:
        raw = json.loads(f.read_text())
        steps = [s for p in raw["paths"] for s in p["steps"]]
        shapes.add(
            (raw["schema_version"], "prompt_format" in raw["config"], all("score_prompt_tokens" in s for s in steps))
        )
    assert len(COMMITTED) >= 48
    # the oldest (no prompt_format, no score_prompt_tokens) and the later v1 shape are both there
    assert {(1, False, False), (1, True, True)} <= shapes


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT / "bench" / "results")))
def test_every_committed_record_reads_and_agrees_with_its_file(path):
    raw = json.loads(path.read_text())
    rec = R.read_record(path)
    assert rec.source == path and rec.schema_version == raw["schema_version"]
    assert R.is_complete(path)  # a rerun keeps it
    assert R.to_json(rec)["stats"] == raw["stats"]  # derived from the steps, as the loop counted them
    for p, raw_p in zip(rec.paths, raw["paths"], strict=True):
        assert p.text == raw_p["text"]
        if p.steps:
            assert R.path_text(p.steps) == p.text  # the one rule rebuilds every recorded path
            assert p.tokens.final == sum(s.final_tokens for s in p.steps)
    # everything the file holds survives a round trip, apart from what the reader adds
    back = R.to_json(rec)
    for p, raw_p in zip(back["paths"], raw["paths"]):
        if "final" not in raw_p["tokens"]:
            del p["tokens"]["final"]
        for s, raw_s in zip(p["steps"], raw_p["steps"]):
            for k in set(s) - set(raw_s):  # a field the file's shape lacks: its default, or (the blank line) inferred
                assert k == "ended_on_blank" or s[k] == STEP_DEFAULTS[k], k
                del s[k]
    assert back == raw


def _step(text, accepted=True, rewrite=None, blank=True):
    return R.Step(text, 8.0 if accepted else 2.0, [0.1] * 10, accepted, rewrite, 3, 4 if rewrite else 0, 10, 2, blank)


def sample_record(**over) -> R.Record:
    steps = [_step("Let x = 1."), _step("no", False, "Then x + 1 = 2."), _step("So \\boxed{2}", blank=False)]
    path = R.Path(0, "method", None, "Algebra", R.path_text(steps), "2", "answer", 9.0, steps, R.PathTokens(6, 4, 10))
    fields = dict(
        method="ssr",
        dataset="math",
        problem_id=7,
        repeat=1,
        gold_answer="2",
        final_answer="2",
        paths=[path],
        config={"method": "ssr", "token_budget": 100},
        problem="1 + 1?",
        answer_reason="single_path",
        votes={"2": 1},
        selection=R.Selection(" 3", [3], [3], 0, 12, ["Algebra"]),
        usage={"target": R.Usage(1, 10, 0, 4, True, 2, 3, 30, 6), "draft": R.Usage(3, 30, 10, 6, True, 3)},
        timing=R.Timing(1.5, {"draft": 0.5}, "2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z"),
        models={"target": {"name": "t", "n_params": 10}, "draft": None},
    )
    return R.Record(**(fields | over))


def test_a_written_record_reads_back_equal(tmp_path):
    rec = sample_record()
    path = tmp_path / R.result_filename(rec.problem_id, rec.repeat)
    R.write_record(path, rec)
    back = R.read_record(path)
    assert back.source == path
    assert dataclasses.replace(back, source=None) == rec
    assert json.loads(path.read_text())["schema_version"] == R.SCHEMA_VERSION == 2
    assert R.is_complete(path)
    assert rec.stats == R.Stats(3, 1, 1 / 3)


def test_path_text_keeps_the_blank_line_only_after_a_step_that_ended_on_it_and_one_think_close():
    steps = [_step("a</think>"), _step("b", blank=False), _step("c</think>d")]
    assert R.path_text(steps) == "a</think>\n\nbcd\n\n"


def test_v1_records_infer_where_a_step_ended_from_the_path_text(tmp_path):
    raw = R.to_json(sample_record())
    raw["schema_version"] = 1
    for s in raw["paths"][0]["steps"]:
        del s["ended_on_blank"]
    # the first step was cut at its token limit: no blank line after it in the recorded text
    raw["paths"][0]["text"] = "Let x = 1.Then x + 1 = 2.\n\nSo \\boxed{2}"
    (tmp_path / "problem_7_repeat_1.json").write_text(json.dumps(raw))
    rec = R.read_record(tmp_path / "problem_7_repeat_1.json")
    assert [s.ended_on_blank for s in rec.paths[0].steps] == [False, True, False]
    assert R.path_text(rec.paths[0].steps) == raw["paths"][0]["text"]


@pytest.mark.parametrize(
    "content,reason",
    [
        ('{"schema_version": 2, "complete": tr', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"method": "base"}', "missing keys: dataset, problem_id"),
        (json.dumps(R.to_json(sample_record(schema_version=99))), "schema_version 99"),
        (json.dumps(R.to_json(sample_record()) | {"paths": [{"text": "no index"}]}), "paths[0]"),
    ],
)
def test_a_file_that_is_not_a_record_is_refused_with_its_reason(tmp_path, content, reason):
    path = tmp_path / "problem_1_repeat_0.json"
    path.write_text(content)
    with pytest.raises(R.RecordError, match=re.escape(reason)):
        R.read_record(path)
    assert not R.is_complete(path)
    loaded = R.load_records(tmp_path)
    assert loaded.records == [] and len(loaded.skipped) == 1 and reason in loaded.skipped[0].reason


def test_load_records_reads_record_files_only_and_reports_incomplete_ones(tmp_path):
    R.write_record(tmp_path / "a" / "problem_1_repeat_0.json", sample_record(problem_id=1))
    R.write_record(tmp_path / "a" / "problem_2_repeat_0.json", sample_record(problem_id=2, complete=False))
    (tmp_path / "summary.json").write_text("{}")
    loaded = R.load_records(tmp_path)
    assert [r.problem_id for r in loaded.records] == [1]
    assert [(s.path.name, s.reason) for s in loaded.skipped] == [("problem_2_repeat_0.json", "marked incomplete")]
    assert not R.is_complete(tmp_path / "a" / "problem_2_repeat_0.json")


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "problem_7_repeat_1.json"
    R.write_record(path, sample_record())
    before = path.read_bytes()

    def half_then_die(obj, fh, **kw):
        fh.write(json.dumps(obj, **kw)[:40])
        fh.flush()
        raise KeyboardInterrupt  # as a kill would stop it: after part of the file is out

    monkeypatch.setattr(R.json, "dump", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        R.write_record(path, sample_record(final_answer="3"))
    assert path.read_bytes() == before and R.is_complete(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_record_that_cannot_be_serialised_leaves_the_old_file(tmp_path):
    path = tmp_path / "problem_7_repeat_1.json"
    R.write_record(path, sample_record())
    before = path.read_bytes()
    with pytest.raises(TypeError):  # config comes last: most of the file is out when json meets the object
        R.write_record(path, sample_record(config={"method": "ssr", "note": object()}))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# --------------------------------------------------------------------------- the schema document

DOC_CLASSES = (R.Record, R.Path, R.Step, R.PathTokens, R.Selection, R.Usage, R.Timing, R.Stats)
BEGIN, END = "<!-- fields: generated by `python tests/test_records.py` -->", "<!-- end of fields -->"


def _type_name(tp: typing.Any) -> str:
    name = str(tp) if not isinstance(tp, type) else tp.__name__
    # a "|" would end the table cell
    return re.sub(r"\bssr\.records\.|\bpathlib\.|typing\.", "", name).replace(" | ", " or ")


def fields_table() -> str:
    """The field list of every record class, as the schema document holds it."""
    hints = {cls: typing.get_type_hints(cls) for cls in DOC_CLASSES}
    out = [BEGIN, f"schema_version {R.SCHEMA_VERSION}"]
    for cls in DOC_CLASSES:
        out += ["", f"`{cls.__name__}`", "", "| field | type | default |", "| --- | --- | --- |"]
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f"`{f.default!r}`"
            elif f.default_factory is not dataclasses.MISSING:
                default = f"`{f.default_factory()!r}`"
            else:
                default = "required"
            out.append(f"| `{f.name}` | `{_type_name(hints[cls][f.name])}` | {default} |")
        props = [n for n, v in vars(cls).items() if isinstance(v, property)]
        if props:
            out.append(f"\nderived (not stored, or stored from these): {', '.join(f'`{p}`' for p in props)}")
    out.append(END)
    return "\n".join(out)


def test_the_schema_document_lists_the_fields_of_the_code():
    doc = SCHEMA_DOC.read_text()
    assert BEGIN in doc and END in doc, f"{SCHEMA_DOC} lacks its generated field list"
    current = doc[doc.index(BEGIN) : doc.index(END) + len(END)]
    assert current == fields_table(), f"{SCHEMA_DOC} is out of date: run python tests/test_records.py"


if __name__ == "__main__":  # rewrite the generated part of the schema document
    doc = SCHEMA_DOC.read_text()
    if BEGIN in doc:
        doc = doc[: doc.index(BEGIN)] + fields_table() + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n## Fields\n\n" + fields_table() + "\n"
    SCHEMA_DOC.write_text(doc)
    print(f"wrote {SCHEMA_DOC}", file=sys.stderr)
