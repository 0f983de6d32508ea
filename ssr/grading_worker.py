"""The math-verify (sympy) worker process that ``ssr.grading`` sends the answers it cannot settle.

The worker is a plain ``python`` subprocess that loads this file by path and talks JSON lines over
its stdin/stdout. Unlike ``multiprocessing`` it does not re-import the caller's ``__main__`` (so
scripts without a ``__main__`` guard are safe) and it may be started from daemonic processes or
any thread. Nothing here uses ``signal``, so every function works off the main thread. This file
imports nothing from ``ssr``: the worker loads it alone.

A request is ``{"gold", "pred", "timeout"}``; the reply is ``{"ok": bool}``, with ``"error"`` when
math-verify raised (logged as a warning: the verdict came from a failure, not from mathematics)
or ``"unparsed"`` naming the side math-verify could not read (logged at debug level).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

# Starting Python and importing sympy + math-verify is slow on a loaded machine; it must not eat
# into the first comparison's time limit.
_STARTUP_TIMEOUT = 120.0
# Pathological powers make sympy allocate without bound; cap the worker, not the caller.
_MEMORY_BYTES = 4 * 1024**3
_RETRY_DELAY = 60.0
# Extra CPU seconds the worker allows itself beyond a request's timeout before the kernel ends it.
_CPU_GRACE = 10.0

logger = logging.getLogger(__name__)


def _math_verify(gold: str, pred: str) -> dict[str, Any]:
    """math-verify's verdict as a reply (runs inside the worker; its signal-based timeouts are disabled)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=None)
    pred_parsed = parse(f"${pred}$", extraction_config=config, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return {"ok": False, "unparsed": "gold" if not gold_parsed else "prediction"}
    return {"ok": bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))}


def _answer(line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
        _limit_cpu(float(request["timeout"]) + _CPU_GRACE)
        return _math_verify(request["gold"], request["pred"])
    except BaseException as e:  # noqa: BLE001 - MemoryError, RecursionError...: reported, never fatal
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:500]}


def _worker_main() -> None:
    """Serve requests on stdin with one reply line each on stdout, until stdin ends."""
    protocol = sys.stdout
    sys.stdout = sys.stderr  # a stray print from a library must not corrupt the protocol
    logging.disable(logging.WARNING)  # math-verify warns on every call with timeouts disabled
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGXCPU end must not dump core
    except (ImportError, ValueError, OSError):
        pass
    import math_verify  # noqa: F401 - import before announcing readiness

    protocol.write('{"ready": true}\n')
    protocol.flush()
    for line in sys.stdin:  # EOF when the parent exits
        protocol.write(json.dumps(_answer(line)) + "\n")
        protocol.flush()


def _limit_cpu(seconds: float) -> None:
    """Let the kernel end the worker after ``seconds`` more CPU time (SIGXCPU).

    The parent kills an overrunning worker itself; this is for when the parent has died mid-request
    (stdin EOF is only seen between requests), and unlike a watchdog thread it also works while
    sympy is inside a C call that holds the GIL.
    """
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    except (ImportError, ValueError, OSError):
        pass


_BOOT = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_ssr_grading_worker', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "module._worker_main()\n"
)


class SympyWorker:
    """One lazily started worker process; a comparison that overruns its limit kills it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._owner_pid = os.getpid()
        self._failed_at: float | None = None

    def _start(self) -> bool:
        # Loading this file by path (not `import ssr.grading_worker`) keeps the package's heavier
        # modules, and whatever `ssr/` would shadow on sys.path, out of the worker.
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump_lines, args=(proc.stdout, replies), daemon=True).start()
        self._proc, self._replies = proc, replies
        try:
            ready = replies.get(timeout=_STARTUP_TIMEOUT)
        except queue.Empty:
            ready = None
        if ready is None:
            self._kill()
            self._failed_at = time.monotonic()
            logger.warning("ssr.grading: the math-verify worker did not start; sympy checks are skipped")
            return False
        self._failed_at = None
        return True

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.kill()
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - already gone
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001
                pass

    def compare(self, gold: str, pred: str, timeout: float) -> tuple[bool | None, float]:
        """``(verdict, seconds)``: math-verify's verdict, or ``None`` when none came within ``timeout``
        seconds (or no worker could start); ``seconds`` is the request's time, without a worker start."""
        with self._lock:
            if self._owner_pid != os.getpid():  # a forked child must not share the parent's pipes
                self._proc, self._owner_pid = None, os.getpid()
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                # A worker that cannot start (math-verify missing?) must not cost a start per call.
                if self._failed_at is not None and time.monotonic() - self._failed_at < _RETRY_DELAY:
                    return None, 0.0
                if not self._start():
                    return None, 0.0
            assert self._proc is not None and self._proc.stdin is not None
            sent = time.monotonic()
            try:
                self._proc.stdin.write(json.dumps({"gold": gold, "pred": pred, "timeout": timeout}) + "\n")
                self._proc.stdin.flush()
                line = self._replies.get(timeout=max(timeout, 0.01))
            except (OSError, ValueError, queue.Empty):
                line = None
            seconds = time.monotonic() - sent
            if line is None:
                self._kill()
                logger.info("math-verify gave no verdict within %.2f s on %r against %r", timeout, pred, gold)
                return None, seconds
        return _verdict(line, gold, pred), seconds

    def close(self) -> None:
        with self._lock:
            self._kill()


def _verdict(line: str, gold: str, pred: str) -> bool:
    """The verdict in a reply line; a failure or an unreadable answer is logged, since its "not equal"
    comes from no comparison."""
    reply = json.loads(line)
    if "error" in reply:
        logger.warning("math-verify failed on %r against %r (%s); counted as not equal", pred, gold, reply["error"])
    elif "unparsed" in reply:
        logger.debug("math-verify could not read the %s in %r against %r", reply["unparsed"], pred, gold)
    return bool(reply.get("ok", False))


def _pump_lines(stream: Any, replies: queue.Queue[str | None]) -> None:
    """Move the worker's reply lines into a queue, so the caller can wait with a timeout."""
    try:
        for line in stream:
            replies.put(line)
    except (OSError, ValueError):
        pass
    replies.put(None)
