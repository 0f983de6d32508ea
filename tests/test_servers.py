"""The server backend at scale: replicas and routing, the session header, waiting, explicit sampling
fields, and one failure costing one problem.

Unit tests (fast) drive ``ssr.engines.http_client`` and the OpenAI engine through ``httpx.MockTransport``
and a fake clock. The slow tests run real local vLLM servers on the tiny models: the session's server
(``vllm_server``, tiny target) and this module's ``farm`` server, a replica of it whose model folder is
a symlink farm of the tiny target with a ``generation_config.json`` that sets ``top_k``. Recording
pass-through proxies (``RecordingProxy``) show which server saw which request with which headers.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import TINY_KV_CACHE_BYTES, TINY_MAX_MODEL_LEN, VLLMServer, free_port, start_vllm_server, vllm_installed
from ssr.engines.base import EngineError, EngineGone, SamplingParams
from ssr.engines.http_client import RequestRejected, ServerPool, pick_replica
from ssr.engines.openai_engine import NEUTRAL_SAMPLING, OpenAIEngine, generation_body

REPO = Path(__file__).resolve().parents[1]
URLS = ["http://a:8000/v1", "http://b:8000/v1", "http://c:8000/v1"]
MODELS = {"object": "list", "data": [{"id": "m", "max_model_len": 64}]}


def completion(text: str = "ok", top: dict | None = None) -> dict:
    return {
        "choices": [{"text": text, "finish_reason": "length", "logprobs": {"top_logprobs": [top or {}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


# ---------------------------------------------------------------- routing
def test_pick_replica_is_stable_spreads_keys_and_moves_only_a_dropped_replicas_keys():
    keys = [f"math/{p}/{r}/{k}" for p in range(30) for r in range(2) for k in range(3)]
    placed = {key: pick_replica(key, URLS) for key in keys}
    # a fixed answer: the same in every process (no salted hash), so a resumed run finds its caches
    assert pick_replica("math/0/0/1", URLS) == "http://c:8000/v1"
    for url in URLS:
        assert 0.2 < sum(v == url for v in placed.values()) / len(keys) < 0.47
    survivors = [u for u in URLS if u != URLS[0]]
    for key, url in placed.items():
        moved = pick_replica(key, survivors)
        assert moved == url or url == URLS[0]


def test_route_keeps_a_session_on_one_replica_and_round_robins_the_rest():
    async def main():
        pool = ServerPool(URLS[:2], transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
        urls = [r.url for r in pool.replicas]
        assert {pool.route("math/1/0/2").url for _ in range(5)} == {pick_replica("math/1/0/2", urls)}
        assert [pool.route(None).url for _ in range(4)] == URLS[:2] * 2
        pool.replicas[0].gone = "dropped"
        assert {pool.route(f"k{i}").url for i in range(10)} == {URLS[1]}
        await pool.aclose()

    asyncio.run(main())


# ---------------------------------------------------------------- retries and giving up
class FakeClock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused")


def run_pool(handler, urls=URLS[:1], session="math/0/0/0", **kw):
    """``await pool.request(POST /completions)`` on a pool over ``handler``; returns (result or error, calls)."""
    calls: list[httpx.Request] = []

    def recording(request: httpx.Request):
        calls.append(request)
        return handler(request)

    async def main():
        pool = ServerPool(urls, transport=httpx.MockTransport(recording), retry_backoff=0.001, **kw)
        try:
            return await pool.request("POST", "/completions", {"prompt": "x"}, session=session)
        except EngineError as exc:
            return exc
        finally:
            await pool.aclose()

    return asyncio.run(main()), calls


def test_a_server_that_comes_back_within_the_wait_is_waited_for(capsys):
    state = {"down": 3}

    def handler(request):
        if request.url.path.endswith("/completions") and state["down"] > 0:
            state["down"] -= 1
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=completion())

    result, calls = run_pool(handler, wait_for_server=60)
    assert result == completion()
    assert [c.url.path for c in calls] == ["/v1/completions"] * 4
    err = capsys.readouterr().err
    assert "the target server at http://a:8000/v1 stopped answering (ConnectError: refused)" in err
    assert "answers again" in err


def test_a_server_silent_past_the_wait_is_gone_with_its_url_and_the_time_waited():
    result, calls = run_pool(refuse, wait_for_server=30, clock=FakeClock(step=4.0))
    assert isinstance(result, EngineGone)
    assert "http://a:8000/v1 has not answered for" in str(result) and "--wait_for_server 30" in str(result)
    assert 4 <= len(calls) <= 10  # it waited (retried) and then stopped


def test_every_request_waiting_on_a_gone_server_says_which_and_why():
    async def main():
        pool = ServerPool(URLS[:1], transport=httpx.MockTransport(refuse), wait_for_server=30,
                          retry_backoff=0.001, clock=FakeClock(step=4.0))
        errors = await asyncio.gather(*(pool.request("POST", "/completions", {}, f"k{i}") for i in range(4)),
                                      return_exceptions=True)
        await pool.aclose()
        return errors

    for err in asyncio.run(main()):
        assert isinstance(err, EngineGone) and "http://a:8000/v1 has not answered for" in str(err)


def test_a_dropped_replica_moves_its_paths_to_the_others():
    def handler(request):
        if request.url.host == "b":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=completion(request.url.host))

    urls = ["http://a:8000/v1", "http://b:8000/v1"]
    assert pick_replica("math/0/0/2", urls) == "http://b:8000/v1"
    result, calls = run_pool(handler, urls=urls, session="math/0/0/2", wait_for_server=10, clock=FakeClock(step=4.0))
    assert result["choices"][0]["text"] == "a"
    assert calls[0].url.host == "b" and calls[-1].url.host == "a"


def test_a_request_a_healthy_server_keeps_failing_is_an_engine_error_not_gone():
    def handler(request):
        if request.url.path == "/health":
            return httpx.Response(200)
        return httpx.Response(500, json={"message": "boom on this prompt"})

    result, calls = run_pool(handler, max_retries=2, wait_for_server=600)
    assert type(result) is EngineError and "boom on this prompt" in str(result) and "3 times" in str(result)
    assert [c.url.path for c in calls].count("/v1/completions") == 3
    assert "/health" in [c.url.path for c in calls]  # the server's health decided it was the request's fault


def test_a_503_from_a_router_waits_and_a_400_is_rejected_at_once():
    state = {"busy": 2}

    def handler(request):
        if request.url.path == "/health":
            return httpx.Response(200)  # the router itself is fine; the instance behind it is not
        if state["busy"]:
            state["busy"] -= 1
            return httpx.Response(503, json={"message": "no healthy backend"})
        return httpx.Response(200, json=completion())

    assert run_pool(handler, max_retries=0)[0] == completion()  # 503s are waited out, not request failures
    result, calls = run_pool(lambda r: httpx.Response(400, json={"error": {"message": "bad"}}))
    assert isinstance(result, RequestRejected) and (result.status, result.message) == (400, "bad")
    assert len(calls) == 1


def test_session_header_carries_the_key_and_is_off_when_empty():
    for header, expected in (("x-user-id", "math/0/0/0"), ("", None)):
        _, calls = run_pool(lambda r: httpx.Response(200, json=completion()), session_header=header)
        assert calls[0].headers.get("x-user-id") == expected


# ---------------------------------------------------------------- the engine over a mock server
class MockServer:
    """A scripted OpenAI-compatible server: records request bodies; ``reject`` maps a prompt to a 400 message."""

    def __init__(self, reject_fields: bool = False) -> None:
        self.bodies: list[dict] = []
        self.reject_fields = reject_fields
        self.inflight = self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        body = json.loads(request.content)
        self.bodies.append(body)
        if body["prompt"] == "too long":
            return httpx.Response(400, json={"message": "This model's maximum context length is 64 tokens"})
        if self.reject_fields and "allowed_token_ids" in body:
            return httpx.Response(400, json={"message": "Unrecognized request argument: allowed_token_ids"})
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        await asyncio.sleep(0.02)
        self.inflight -= 1
        return httpx.Response(200, json=completion(top={"3": -1.0, "7": -1.0}))


def mock_engine(tiny_models, server: MockServer, **kw) -> OpenAIEngine:
    return OpenAIEngine("http://mock:8000", "m", tokenizer=str(tiny_models[1]), transport=httpx.MockTransport(server),
                        retry_backoff=0.001, **kw)


def test_only_a_400_naming_the_digit_fields_turns_the_restriction_off(tiny_models):
    server = MockServer()
    e = mock_engine(tiny_models, server)
    with pytest.raises(EngineError, match="maximum context length"):
        e.score_digits(["fine", "too long"])
    assert e.score_digits(["fine"])[0].probs[3] == pytest.approx(0.5)
    assert all("allowed_token_ids" in b for b in server.bodies)  # an over-long prompt left it on
    e.close()

    server = MockServer(reject_fields=True)
    e = mock_engine(tiny_models, server)
    assert e.score_digits(["fine"])[0].probs[7] == pytest.approx(0.5)
    e.score_digits(["again"])
    assert ["allowed_token_ids" in b for b in server.bodies] == [True, False, False]
    e.close()


def test_max_inflight_and_async_callers_on_another_loop(tiny_models):
    server = MockServer()
    e = mock_engine(tiny_models, server, max_inflight=2)
    p = SamplingParams(max_tokens=1)
    assert len(e.generate([f"p{i}" for i in range(6)], p)) == 6
    assert server.peak == 2

    async def caller():  # the caller's own loop runs on while the engine's loop serves both batches
        return await asyncio.gather(e.agenerate(["a", "b"], p, sessions=["s/0/0/0", "s/0/0/1"]),
                                    e.ascore_digits(["c"]))

    gen, score = asyncio.run(caller())
    assert [r.text for r in gen] == ["ok", "ok"] and score[0].probs[3] == pytest.approx(0.5)
    assert server.peak == 2
    e.close()


def test_every_sampling_field_is_in_the_body():
    body = generation_body("m", "x", SamplingParams(temperature=0.7, top_p=0.9, max_tokens=5, stop=("a",), seed=3))
    assert {k: body[k] for k in ("temperature", "top_p", "max_tokens", "stop", "seed")} == {
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 5, "stop": ["a"], "seed": 3}
    assert {k: body[k] for k in NEUTRAL_SAMPLING} == NEUTRAL_SAMPLING


def test_no_server_within_a_short_wait_is_a_clear_error_naming_the_url(tiny_models, capsys):
    port = free_port()  # nothing listens there
    with pytest.raises(EngineGone, match=rf"no draft server answered at http://127.0.0.1:{port}/v1 within \d+ s"):
        OpenAIEngine(f"http://127.0.0.1:{port}", "m", tokenizer=str(tiny_models[1]), role="draft",
                     wait_for_server=1.0)
    assert f"waiting for the draft server at http://127.0.0.1:{port}/v1 (0 s of 1) ..." in capsys.readouterr().err


# ---------------------------------------------------------------- real servers
class RecordingProxy:
    """A pass-through HTTP proxy in front of one server that records every request it forwards."""

    def __init__(self, upstream_root: str) -> None:
        self.seen: list[dict] = []
        client = httpx.Client(timeout=120)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.seen.append({"method": self.command, "path": self.path,
                                   "body": json.loads(body) if body else None,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
                try:
                    r = client.request(self.command, upstream_root + self.path, content=body or None,
                                       headers={"content-type": "application/json"})
                    code, data = r.status_code, r.content
                except httpx.HTTPError as exc:
                    code, data = 502, json.dumps({"message": str(exc)}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = forward

        self._client = client
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def completions(self) -> list[dict]:
        return [s for s in self.seen if s["path"] == "/v1/completions"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


def make_farm(model: Path, folder: Path) -> Path:
    """A copy of ``model`` (symlinks) whose generation_config.json asks for top_k 3 and a repetition penalty."""
    for f in model.iterdir():
        if f.name != "generation_config.json":
            (folder / f.name).symlink_to(f)
    config = json.loads((model / "generation_config.json").read_text())
    config.update(top_k=3, temperature=1.0, repetition_penalty=1.3)
    (folder / "generation_config.json").write_text(json.dumps(config))
    return folder


def answering(server: VLLMServer) -> bool:
    try:
        return httpx.get(server.root + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def farm(tiny_models, tmp_path_factory):
    """A second server of the tiny target (served under the same name, so a replica of the session's),
    from a folder whose generation_config.json sets top_k. Started, not waited for: the waiting test
    builds an engine while it boots. The session's server boots alongside."""
    if not vllm_installed():
        pytest.skip("vLLM is not installed")
    start_vllm_server(tiny_models[1])
    folder = make_farm(tiny_models[1], tmp_path_factory.mktemp("farm"))
    server = VLLMServer(folder, served_model_name=str(tiny_models[1]))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxies(vllm_server, farm):
    farm.wait_ready()
    pair = [RecordingProxy(vllm_server.root), RecordingProxy(farm.root)]
    yield pair
    for p in pair:
        p.close()


@pytest.mark.slow
def test_an_engine_built_before_its_server_answers_waits_for_it(farm, tiny_models, capsys):
    if answering(farm):  # keep the test honest: the engine must meet a server that does not answer yet
        farm.stop()
        farm.start()
    assert not answering(farm)
    e = OpenAIEngine(farm.url, str(tiny_models[1]), tokenizer=str(tiny_models[1]), wait_for_server=300)
    err = capsys.readouterr().err
    assert f"waiting for the target server at {farm.url} (0 s of 300) ..." in err
    assert f"the target server at {farm.url} is up after" in err
    assert e.generate(["Hello"], SamplingParams(temperature=0.0, max_tokens=3))[0].completion_tokens == 3
    assert e.max_model_len == TINY_MAX_MODEL_LEN
    e.close()


def key_of(request: dict) -> str:
    return request["body"]["prompt"].split(" ")[1]  # "Path <key> ..."


@pytest.mark.slow
def test_replicas_keep_each_path_on_one_server_and_share_the_paths(proxies, tiny_models):
    target = str(tiny_models[1])
    e = OpenAIEngine([p.url for p in proxies], target, tokenizer=target)
    keys = [f"math/{problem}/0/{path}" for problem in range(6) for path in range(2)]
    prompts = [f"Path {key} starts here" for key in keys]
    e.generate(prompts, SamplingParams(temperature=0.0, max_tokens=2), sessions=keys)
    e.score_digits(prompts[::-1], sessions=keys[::-1])  # another order: a key's place in a batch does not matter
    servers_of = {key: {i for i, p in enumerate(proxies) for r in p.completions() if key_of(r) == key} for key in keys}
    assert all(len(s) == 1 for s in servers_of.values()), servers_of
    assert set().union(*servers_of.values()) == {0, 1}  # both replicas serve paths
    assert sum(len(p.completions()) for p in proxies) == 2 * len(keys)
    for p in proxies:
        p.seen.clear()
    e.generate(["a", "b", "c", "d"], SamplingParams(max_tokens=1))  # no session keys: round-robin
    assert [len(p.completions()) for p in proxies] == [2, 2]
    e.close()


@pytest.mark.slow
def test_every_request_carries_its_path_key_in_the_session_header(proxies, tiny_models):
    target, proxy = str(tiny_models[1]), proxies[0]
    keys = ["math/3/1/0", "math/3/1/1", "aime/60/2/0"]
    prompts = [f"Path {key} goes on" for key in keys]
    for header in ("x-ssr-session", ""):  # the default, x-user-id, in test_session_header_carries_the_key...
        proxy.seen.clear()
        e = OpenAIEngine(proxy.url, target, tokenizer=target, session_header=header)
        e.generate(prompts, SamplingParams(max_tokens=1), sessions=keys)
        e.score_digits(prompts, sessions=keys)
        e.close()
        sent = proxy.completions()
        assert len(sent) == 6
        for r in sent:
            if header:
                assert r["headers"][header] == key_of(r)
            assert not {"x-user-id", "x-ssr-session"} - {header} & set(r["headers"])


@pytest.mark.slow
def test_http_and_in_process_sample_alike_whatever_the_models_generation_config(farm, tiny_models):
    from vllm import SamplingParams as VLLMSamplingParams
    from vllm.entrypoints.openai.completion.protocol import CompletionRequest

    from ssr.engines.conventions import request_params
    from ssr.engines.vllm_engine import VLLMEngine

    # every field the server would fill from generation_config.json is sent, with the in-process default
    server_filled = CompletionRequest.__private_attributes__["_DEFAULT_SAMPLING_PARAMS"].default
    assert set(server_filled) <= set(NEUTRAL_SAMPLING) | {"temperature", "top_p"}
    assert {k: getattr(VLLMSamplingParams(), k) for k in NEUTRAL_SAMPLING} == NEUTRAL_SAMPLING
    farm.wait_ready()
    target = str(tiny_models[1])
    remote = OpenAIEngine(farm.url, target, tokenizer=target)
    local = VLLMEngine(target, dtype="auto", enforce_eager=True, max_model_len=TINY_MAX_MODEL_LEN,
                       kv_cache_memory_bytes=TINY_KV_CACHE_BYTES)
    try:
        prompts = ["Once upon a time", "The answer is", "Let x be"]
        p = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=16, seed=5)
        want = [r.text for r in local.generate(prompts, p)]
        assert [r.text for r in remote.generate(prompts, p)] == want
        for mine, ref in zip(remote.score_digits(prompts), local.score_digits(prompts)):
            assert mine.probs == pytest.approx(ref.probs, abs=1e-4)
        # the control: the same requests without the explicit fields sample with the folder's top_k
        bodies = [{k: v for k, v in generation_body(remote.model, t, q).items() if k not in NEUTRAL_SAMPLING}
                  for t, q in zip(prompts, request_params(prompts, p))]
        bare = [httpx.post(farm.url + "/completions", json=b, timeout=120).json()["choices"][0]["text"] for b in bodies]
        assert bare != want
    finally:
        remote.close()
        local.close()


# ---------------------------------------------------------------- one failure costs one problem, end to end
def start_run(target_url: str, draft_url: str, model: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``spec_scale_reason.py`` on the tiny preset over servers (the draft is the tiny target too: one model
    per server keeps these tests to the servers they already have)."""
    args = ["spec_scale_reason.py", "--preset", "tiny", "--backend", "openai", "--no_progress",
            "--target_base_url", target_url, "--draft_base_url", draft_url, "--target_model", str(model),
            "--draft_model", str(model), "--output_dir", str(out), "--token_budget", "48", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def wait_for_result(out: Path, name: str, proc: subprocess.Popen) -> Path:
    """The first result file called ``name`` under ``out``, once the run has written it."""
    while True:
        found = list(out.rglob(name))
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before writing {name}:\n{proc.stderr.read()}")
        time.sleep(0.1)


def result_files(out: Path) -> list[str]:
    return sorted(f.name for f in out.rglob("problem_*"))


@pytest.mark.slow
def test_one_poisoned_request_fails_only_its_problem(vllm_server, tiny_models, tmp_path):
    from ssr.records import is_complete

    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"problem": "What is 1 + 1?", "answer": "2"},
        {"problem": "Add them all: " + "1 + " * 700 + "1", "answer": "701"},  # over the server's max_model_len
        {"problem": "What is 2 + 2?", "answer": "4"},
    ]
    (data / "math500.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    code, err = finish(start_run(vllm_server.url, vllm_server.url, tiny_models[1], out, "--data_dir", str(data),
                                 "--problem_id", "0-2"))
    assert code == 1, err
    assert result_files(out) == ["problem_0_repeat_0.json", "problem_2_repeat_0.json"]
    assert all(is_complete(f) for f in out.rglob("problem_*"))
    assert "failed: problem 1 repeat 0" in err and "max_model_len is 1024" in err
    assert "1 problem(s) failed" in err


@pytest.mark.slow
def test_a_server_killed_and_restarted_within_the_wait_costs_nothing(vllm_server, farm, tiny_models, tmp_path):
    from ssr.records import is_complete

    farm.wait_ready()
    out = tmp_path / "out"
    proc = start_run(farm.url, vllm_server.url, tiny_models[1], out, "--problem_id", "0-1",
                     "--max_concurrent_problems", "1", "--wait_for_server", "300")
    try:
        wait_for_result(out, "problem_0_repeat_0.json", proc)
        farm.stop(signal.SIGKILL)  # problem 1 is under way
        farm.start()
        code, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, err
    assert result_files(out) == ["problem_0_repeat_0.json", "problem_1_repeat_0.json"]
    assert all(is_complete(f) for f in out.rglob("problem_*"))
    assert f"the target server at {farm.url} stopped answering" in err
    assert f"the target server at {farm.url} answers again after" in err


@pytest.mark.slow
def test_a_server_gone_past_the_wait_stops_the_run_and_keeps_finished_files(vllm_server, farm, tiny_models,
                                                                            tmp_path):
    from ssr.records import is_complete

    farm.wait_ready()
    out = tmp_path / "out"
    proc = start_run(farm.url, vllm_server.url, tiny_models[1], out, "--problem_id", "0-1",
                     "--max_concurrent_problems", "1", "--wait_for_server", "5")
    try:
        first = wait_for_result(out, "problem_0_repeat_0.json", proc)
        kept = first.read_bytes()
        farm.stop(signal.SIGKILL)  # for good: the module's last use of the farm
        code, err = finish(proc)
    finally:
        proc.kill()
    assert code == 1, err
    assert f"the target server at {farm.url} has not answered for" in err and "--wait_for_server 5" in err
    assert "finished problems are saved" in err
    assert result_files(out) == ["problem_0_repeat_0.json"]  # no partial file of the problem under way
    assert first.read_bytes() == kept and is_complete(first)
