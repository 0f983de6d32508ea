"""vLLM's ``AsyncLLM`` in this process: the engine for ``--schedule async``.

Prompts, seeds, digit scoring and results are ``VLLMEngine``'s (this class is one, starting an ``AsyncLLM``
instead of a ``vllm.LLM``). The ``AsyncLLM`` lives on a private event loop (``LoopThread``); every request
is one ``AsyncLLM.generate`` with its own request id, so requests of many paths, submitted whenever they are
ready, meet in the engine's continuous batching. ``agenerate``/``ascore_digits`` are awaitable from any
loop; the synchronous ``generate``/``score_digits`` submit a whole batch at once and wait for it.

Cancelling: cancelling the task that awaits ``agenerate`` cancels the requests' tasks on the engine's loop;
``AsyncLLM.generate`` (vLLM 0.32) answers a ``CancelledError`` by aborting its request in the output
processor and the engine core. The awaiting task returns only after that abort, so
``requests_in_flight()`` (the output processor's unfinished requests) reads 0 once nothing runs.

In vLLM 0.32 the ``AsyncLLM``'s engine core always runs in its own process, and on CPU that process starts
one worker process that does the math. ``cpus`` confines both to the given cores: they are created while
the starting thread is pinned to them (children inherit the thread's affinity) and with one OpenMP thread
per core, ``VLLM_CPU_OMP_THREADS_BIND`` naming the same cores (so vLLM's own binding does not widen it, as
its ``auto`` binding would to the whole machine's node). Affinity and environment are restored once the
engine runs; ``VLLM_CPU_OMP_THREADS_BIND`` alone was measured not to confine an engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from typing import Any, Awaitable, Iterator, Sequence, TypeVar

from ssr.engines.base import (
    EngineError,
    EngineGone,
    GenerationResult,
    Prompt,
    SamplingParams,
    ScoreResult,
)
from ssr.engines.conventions import request_params
from ssr.engines.http_client import LoopThread
from ssr.engines.vllm_engine import VLLMEngine

T = TypeVar("T")

#: one engine starts at a time while the process's affinity and environment are bent for it
_START_LOCK = threading.Lock()


def pin_env(cpus: Sequence[int], ranks: int = 1) -> dict[str, str]:
    """The environment an engine confined to ``cpus`` starts with: one OpenMP thread per core, and vLLM's
    CPU thread binding on exactly those cores (split evenly between tensor-parallel ranks)."""
    cpus = list(cpus)
    if ranks < 1 or len(cpus) < ranks:
        raise EngineError(f"{len(cpus)} cores cannot hold {ranks} tensor-parallel ranks")
    per = len(cpus) // ranks
    chunks = [cpus[i * per : (i + 1) * per] if i < ranks - 1 else cpus[i * per :] for i in range(ranks)]
    return {
        "OMP_NUM_THREADS": str(len(cpus)),
        "VLLM_CPU_OMP_THREADS_BIND": "|".join(",".join(map(str, c)) for c in chunks),
    }


@contextlib.contextmanager
def pinned(cpus: Sequence[int] | None, ranks: int = 1) -> Iterator[None]:
    """Pin the calling thread to ``cpus`` and set ``pin_env``, restoring both on exit: processes started
    inside (vLLM's engine core and its worker) stay on those cores. ``None``: no change."""
    if not cpus:
        yield
        return
    env = pin_env(cpus, ranks)
    with _START_LOCK:
        saved_affinity = os.sched_getaffinity(0)
        saved_env = {k: os.environ.get(k) for k in env}
        envs = _vllm_envs()
        cached = envs is not None and envs._is_envs_cache_enabled()
        if cached:  # an engine core that ran in this process froze vLLM's environment; forked children inherit it
            envs.disable_envs_cache()
        try:
            os.sched_setaffinity(0, set(cpus))
            os.environ.update(env)
            yield
        finally:
            os.sched_setaffinity(0, saved_affinity)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            if cached:
                envs.enable_envs_cache()


def _vllm_envs() -> Any:
    try:
        import vllm.envs as envs
    except ImportError:  # pragma: no cover
        return None
    return envs if hasattr(envs, "_is_envs_cache_enabled") else None


class VLLMAsyncEngine(VLLMEngine):
    """One ``AsyncLLM``. Takes ``VLLMEngine``'s arguments (``engine_args`` from the plan, ``env``, ``role``,
    ``where``) and ``cpus``: the cores its processes are confined to (None: no pinning)."""

    supports_async = True

    def __init__(self, model: str | None = None, *, cpus: Sequence[int] | None = None, **kwargs: Any) -> None:
        self.cpus = sorted(set(cpus)) if cpus else None
        self._loop: LoopThread | None = None
        self._ids = itertools.count()
        super().__init__(model, **kwargs)

    def _load(self, LLM: Any, engine_args: dict[str, Any]) -> Any:  # noqa: N803
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = dict(engine_args)
        args.setdefault("disable_log_stats", True)  # as vllm.LLM does
        ranks = int(args.get("tensor_parallel_size") or 1)

        async def start() -> Any:
            # built on its loop, so its output handler runs there
            with pinned(self.cpus, ranks):
                return AsyncLLM.from_engine_args(AsyncEngineArgs(**args))

        self._loop = LoopThread(f"ssr-{self.role}-vllm")
        try:
            return self._loop.run(start())
        except BaseException:
            self._loop.close()
            raise

    def _model_config(self) -> Any:
        return self.llm.model_config

    def engine_pids(self) -> list[int]:
        """The engine core's process ids (its worker processes are their children)."""
        procs = getattr(getattr(getattr(self.llm, "engine_core", None), "resources", None), "engine_manager", None)
        return [p.pid for p in getattr(procs, "processes", []) if p.pid is not None]

    # ------------------------------------------------------------ requests (on the engine's loop)
    async def _request(self, prompt: Any, vparams: Any) -> Any:
        """One request to its end; its final ``RequestOutput``."""
        from vllm.sampling_params import RequestOutputKind

        llm = self.llm
        if llm is None:
            raise EngineGone(f"the vLLM engine of {self.model!r} is closed")
        vparams.output_kind = RequestOutputKind.FINAL_ONLY
        final = None
        try:
            async for out in llm.generate(prompt, vparams, f"ssr-{self.role}-{next(self._ids)}"):
                final = out
        except (asyncio.CancelledError, EngineError):
            raise
        except Exception as exc:  # noqa: BLE001
            if self._gone(exc):
                raise EngineGone(f"vLLM's engine core for {self.model!r} is gone: {exc}") from exc
            raise EngineError(f"vLLM generate failed on {self.model!r}: {exc}") from exc
        if final is None or not final.finished:
            raise EngineError(f"vLLM ended a request on {self.model!r} without a result")
        return final

    def _gone(self, exc: BaseException) -> bool:
        from vllm.v1.engine.exceptions import EngineDeadError

        return isinstance(exc, EngineDeadError) or bool(getattr(self.llm, "errored", False))

    async def _batch(self, token_prompts: list[Any], vparams: list[Any]) -> list[Any]:
        """All requests at once; on the first failure (or a cancel) the others are cancelled, and so
        aborted in the engine, before this returns."""
        tasks = [asyncio.ensure_future(self._request(p, v)) for p, v in zip(token_prompts, vparams)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _on_engine_loop(self, coro: Awaitable[T]) -> T:
        """Await ``coro`` on the engine's loop from any loop; cancelled, it returns once ``coro`` has ended
        there (its requests aborted in the engine): ``LoopThread.run_async``."""
        assert self._loop is not None
        return await self._loop.run_async(coro)

    def _engine_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.loop.is_closed() or self.llm is None:
            raise EngineGone(f"the vLLM engine of {self.model!r} is closed")
        return self._loop.loop

    def _run_sync(self, coro: Awaitable[T]) -> T:
        assert self._loop is not None
        return self._loop.run(coro)

    # ------------------------------------------------------------ Engine API
    def _generation_batch(self, prompts: Sequence[Prompt], params: Any) -> Any:
        self._engine_loop()
        plist = request_params(prompts, params)
        return self._batch(self._token_prompts(prompts), self._generation_params(plist))

    async def _generations(self, prompts: Sequence[Prompt], params: Any) -> list[GenerationResult]:
        outs = await self._on_engine_loop(self._generation_batch(prompts, params))
        return [self._generation_result(out) for out in outs]

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        request_params(prompts, params)
        if not prompts:
            return []
        return [self._generation_result(out) for out in self._run_sync(self._generation_batch(prompts, params))]

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        request_params(prompts, params)
        if not prompts:
            return []
        return await self._generations(prompts, params)

    def _score_batch(self, prompts: Sequence[Prompt]) -> Any:
        self._engine_loop()
        token_prompts = self._token_prompts(prompts)
        return self._batch(token_prompts, [self.digit_sampling_params() for _ in token_prompts])

    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        if not prompts:
            return []
        return [self._score_result(out) for out in self._run_sync(self._score_batch(prompts))]

    async def ascore_digits(
        self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None
    ) -> list[ScoreResult]:
        if not prompts:
            return []
        return [self._score_result(out) for out in await self._on_engine_loop(self._score_batch(prompts))]

    def requests_in_flight(self) -> int | None:
        llm = self.llm
        return 0 if llm is None else int(llm.get_num_unfinished_requests())

    def reset_cache(self) -> None:
        if self.llm is not None and not self._run_sync(self.llm.reset_prefix_cache()):  # a coroutine in AsyncLLM
            raise EngineError(f"vLLM could not reset the prefix cache of {self.model!r} (requests still running?)")

    def close(self) -> None:
        self._restore_env()
        llm, loop = self.llm, self._loop
        self.llm = None
        if loop is None or loop.loop.is_closed():
            return
        if llm is not None:
            with contextlib.suppress(Exception):  # best effort at shutdown
                loop.run(_shutdown(llm))
        loop.close()


async def _shutdown(llm: Any) -> None:
    """Stop the engine core, then let the ``AsyncLLM``'s own tasks on this loop end before it closes."""
    llm.shutdown()
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)
