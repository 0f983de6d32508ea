"""Asyncio HTTP to one role's OpenAI-compatible server(s): replicas, routing, waiting, retries.

One ``httpx.AsyncClient`` per engine, on a private event loop (``LoopThread``) that synchronous callers
submit coroutines to. At most ``max_inflight`` requests are on the wire at once (an ``asyncio.Semaphore``).

Routing: several base URLs are replicas of one model. Every request of one path (its session key,
"dataset/problem/repeat/path") goes to the same replica, chosen by rendezvous hashing of the key
(``pick_replica``: stable across processes, and when a replica is dropped only its paths move), so
that replica's prefix cache serves the path; requests without a key go round-robin. With a
``session_header`` each request also carries its key in that header, so a router in front of many
instances (vLLM production-stack routes sessions by a header its operator names) can do the same.

Waiting: at start every replica is polled (``/health``, else ``/v1/models``) until it answers, up to
``wait_for_server`` seconds, with a line on the terminal every ``PROGRESS_EVERY_S``. During a run a
request that cannot reach its replica (connection error, timeout, 429, 502-504, or another 5xx while
the health check fails too) waits with backoff and retries; a replica that stays unreachable for more
than ``wait_for_server`` seconds is dropped (its paths move to the others), and with none left
``EngineGone`` names the URL and how long it waited. A 5xx while the server's health check passes is
the request's own failure: retried ``max_retries`` times, then an ``EngineError`` for that request.
A 4xx other than 429 is ``RequestRejected`` at once (the caller decides).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import httpx

from ssr.engines.base import EngineError, EngineGone
from ssr.logs import terminal

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BACKOFF_S = 5.0  # a restarted server is found within this long of answering again
PROGRESS_EVERY_S = 15.0
HEALTH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
# statuses a router or proxy answers when the instance behind it is down or busy: wait for it
UNREACHABLE_STATUSES = frozenset({429, 502, 503, 504})


def api_root(base_url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` or ``http://host:8000/v1`` -> ``http://host:8000/v1``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url if url.endswith("/v1") else url + "/v1"


def server_root(api_url: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000``, where vLLM serves ``/health`` and ``/metrics``."""
    return api_url[: -len("/v1")] if api_url.endswith("/v1") else api_url


def pick_replica(key: str, urls: Sequence[str]) -> str:
    """The replica of session ``key``: rendezvous (highest-random-weight) hashing over ``urls``."""
    return max(urls, key=lambda url: hashlib.sha256(f"{url}\n{key}".encode()).digest())


def error_message(resp: httpx.Response) -> str:
    """The server's own words for an error answer (OpenAI and vLLM put them in different places)."""
    try:
        err = resp.json()
    except ValueError:
        return resp.text[:1000]
    if isinstance(err, dict):
        inner = err.get("error")
        msg = err.get("message") or (inner.get("message") if isinstance(inner, dict) else inner) or err.get("detail")
        if msg:
            return str(msg)[:1000]
    return resp.text[:1000]


class RequestRejected(EngineError):
    """The server refused one request (an HTTP 4xx other than 429): retrying it unchanged cannot help."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(f"{url} rejected the request: HTTP {status}: {message}")
        self.url = url
        self.status = status
        self.message = message


class LoopThread:
    """A private asyncio loop on a daemon thread, so synchronous code can drive async HTTP.

    ``run(coro)`` blocks the calling thread until ``coro`` (run on this loop) is done. ``await
    run_async(coro)`` does the same from any other event loop without blocking it: the coroutine still
    runs here, so the engine's one client and one semaphore serve every caller.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop: await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the caller: stop the requests too
            raise

    async def run_async(self, coro: Awaitable[T]) -> T:
        """Cancelled, it cancels ``coro`` on this loop and returns only once ``coro`` has ended, so an
        engine's requests are aborted (not still running) when the caller's cancellation completes."""
        caller = asyncio.get_running_loop()
        if caller is self.loop:
            return await coro
        done = asyncio.Event()
        holder: list[asyncio.Future] = []

        def wake(_: Any) -> None:
            try:
                caller.call_soon_threadsafe(done.set)
            except RuntimeError:  # the caller's loop closed meanwhile
                pass

        def start() -> None:
            task = asyncio.ensure_future(coro, loop=self.loop)
            task.add_done_callback(wake)
            holder.append(task)

        self.loop.call_soon_threadsafe(start)
        try:
            await done.wait()
        except asyncio.CancelledError:
            self.loop.call_soon_threadsafe(lambda: holder[0].cancel())  # runs after ``start``: callbacks keep order
            await done.wait()
            raise
        return holder[0].result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class Replica:
    url: str  # the API root, ``.../v1``
    down_since: float | None = None  # when it stopped answering (None: answering)
    last_progress: float = 0.0  # when the last waiting line was shown
    gone: str = ""  # why no more requests go there (unreachable for longer than the wait); "" while in use
    health_path: str | None = None  # "/health" on vLLM; None until probed; "" when only /v1/models answers


class ServerPool:
    """One role's replicas behind one async client. Create and use it on one event loop."""

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        role: str = "target",
        api_key: str | None = None,
        timeout: float = 600.0,
        max_inflight: int = 64,
        wait_for_server: float = 600.0,
        session_header: str | None = "x-user-id",
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_urls:
            raise EngineError(f"no server URL for the {role} (--{role}_base_url)")
        self.replicas = [Replica(api_root(u)) for u in base_urls]
        self.role = role
        self.wait_for_server = max(0.0, float(wait_for_server))
        self.session_header = session_header or ""
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = float(retry_backoff)
        self.max_inflight = max(1, int(max_inflight))
        self._clock = clock
        self._rr = itertools.count()
        self._semaphore = asyncio.Semaphore(self.max_inflight)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_S, timeout)),
            limits=httpx.Limits(max_connections=self.max_inflight + 2 * len(self.replicas)),
            transport=transport,
        )

    # ------------------------------------------------------------ routing
    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if not r.gone]

    def route(self, session: str | None) -> Replica:
        alive = self.alive()
        if not alive:
            raise EngineGone("; ".join(r.gone for r in self.replicas))
        if session is None:
            return alive[next(self._rr) % len(alive)]
        url = pick_replica(session, [r.url for r in alive])
        return next(r for r in alive if r.url == url)

    def headers(self, session: str | None) -> dict[str, str]:
        return {self.session_header: session} if self.session_header and session else {}

    # ------------------------------------------------------------ health
    def _say(self, text: str) -> None:
        print(text, file=terminal(), flush=True)

    async def probe(self, replica: Replica) -> str | None:
        """None when the server answers its health check, else what went wrong."""
        root = server_root(replica.url)
        paths = [replica.health_path] if replica.health_path is not None else ["/health", ""]
        problem = "no answer"
        for path in paths:
            url = root + path if path else replica.url + "/models"
            try:
                resp = await self._client.get(url, timeout=HEALTH_TIMEOUT_S)
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__}: {exc}"
            if resp.status_code == 200:
                replica.health_path = path
                return None
            problem = f"{url} answered HTTP {resp.status_code}"
            if resp.status_code not in (404, 405):
                return problem  # it has a health check, and it fails
        return problem

    async def wait_until_up(self) -> None:
        """Poll every replica until it answers, up to ``wait_for_server`` seconds each (all at once)."""
        await asyncio.gather(*(self._wait_one(r) for r in self.replicas))

    async def _wait_one(self, replica: Replica) -> None:
        start = self._clock()
        shown = False
        while True:
            problem = await self.probe(replica)
            waited = self._clock() - start
            if problem is None:
                if shown:
                    self._say(f"the {self.role} server at {replica.url} is up after {waited:.0f} s")
                return
            if waited >= self.wait_for_server:
                raise EngineGone(
                    f"no {self.role} server answered at {replica.url} within {waited:.0f} s "
                    f"(--wait_for_server {self.wait_for_server:.0f}); is it running? Last: {problem}"
                )
            if not shown or self._clock() - replica.last_progress >= PROGRESS_EVERY_S:
                self._say(
                    f"waiting for the {self.role} server at {replica.url} "
                    f"({waited:.0f} s of {self.wait_for_server:.0f}) ..."
                )
                shown, replica.last_progress = True, self._clock()
            await asyncio.sleep(min(1.0, max(0.05, self.wait_for_server - waited)))

    def _answering(self, replica: Replica) -> None:
        if replica.down_since is not None:
            self._say(f"the {self.role} server at {replica.url} answers again after "
                      f"{self._clock() - replica.down_since:.0f} s")
            replica.down_since = None

    def _unreachable(self, replica: Replica, problem: str) -> None:
        """Note that ``replica`` did not answer; drop it once it has been silent past the wait."""
        now = self._clock()
        if replica.gone:
            return
        if replica.down_since is None:
            replica.down_since = replica.last_progress = now
            self._say(f"the {self.role} server at {replica.url} stopped answering ({problem}); "
                      f"requests wait up to {self.wait_for_server:.0f} s (--wait_for_server) for it")
            return
        waited = now - replica.down_since
        if waited > self.wait_for_server:
            replica.gone = (f"the {self.role} server at {replica.url} has not answered for {waited:.0f} s "
                            f"(--wait_for_server {self.wait_for_server:.0f}); last: {problem}")
            others = self.alive()
            self._say(replica.gone + (f"; its paths move to {', '.join(r.url for r in others)}" if others else ""))
            if not others:
                raise EngineGone(replica.gone)
        elif now - replica.last_progress >= PROGRESS_EVERY_S:
            replica.last_progress = now
            self._say(f"waiting for the {self.role} server at {replica.url} "
                      f"({waited:.0f} s of {self.wait_for_server:.0f}) ...")

    # ------------------------------------------------------------ requests
    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_S, self.retry_backoff * 2**attempt)

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, session: str | None = None,
        replica: Replica | None = None,
    ) -> dict[str, Any]:
        """Send one request (to ``replica``, else the session's) until it is answered; see the module doc."""
        failures = 0
        for attempt in itertools.count():
            target = replica or self.route(session)
            url = target.url + path
            try:
                async with self._semaphore:
                    resp = await self._client.request(method, url, json=body, headers=self.headers(session))
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                own_fault = isinstance(exc, httpx.TimeoutException) and await self.probe(target) is None
            else:
                if resp.status_code < 400:
                    self._answering(target)
                    try:
                        return resp.json()
                    except ValueError as exc:
                        raise EngineError(f"{url} answered with something that is not JSON: {resp.text[:200]!r}") \
                            from exc
                message = error_message(resp)
                if resp.status_code < 500 and resp.status_code not in UNREACHABLE_STATUSES:
                    self._answering(target)
                    raise RequestRejected(url, resp.status_code, message)
                problem = f"HTTP {resp.status_code}: {message}"
                own_fault = resp.status_code not in UNREACHABLE_STATUSES and await self.probe(target) is None
            if own_fault:
                failures += 1
                if failures > self.max_retries:
                    raise EngineError(f"{url} failed the request {failures} times while the server stays "
                                      f"healthy: {problem}")
            else:
                self._unreachable(target, problem)
                if replica is not None and replica.gone:
                    raise EngineGone(replica.gone)
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._client.aclose()


async def gather_all(coros: Sequence[Awaitable[T]]) -> list[T]:
    """Run every request of a batch to its end; then raise if any failed (``EngineGone`` first).

    The others are not cancelled: the scheduler retries the batch one problem at a time, and the
    answers that came back have warmed the servers' prefix caches for that.
    """
    results = await asyncio.gather(*coros, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if not errors:
        return results  # type: ignore[return-value]
    for err in errors:
        if not isinstance(err, Exception) or isinstance(err, EngineGone):
            raise err
    for err in errors:
        if not isinstance(err, EngineError):
            raise err  # a bug, not a server's answer
    if len(results) == 1:
        raise errors[0]
    raise EngineError(f"{len(errors)} of {len(results)} requests failed; the first: {errors[0]}") from errors[0]
