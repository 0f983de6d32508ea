"""Where engine chatter goes: a log file in the run folder, not the terminal.

vLLM, torch and their C++ code print pages of INFO and WARNING lines at start-up
(to file descriptors 1 and 2, from this process and from any engine process it
spawns, including the progress bars they draw on ``sys.stderr``). A researcher
should see our progress bar, our tables and errors. While
``engine_output_to(path)`` is active, descriptors 1 and 2 and Python's
``sys.stdout`` / ``sys.stderr`` all lead to ``path``; what this package shows the
user during that time (the progress bar) is written to ``terminal()``, the
terminal's stderr saved on entry. ``--verbose`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

# vLLM's log handler writes to this stream; sys.__stdout__ is bound to descriptor 1 (the log while active)
_VLLM_STREAM = "ext://sys.__stdout__"
_terminal: list = []


def terminal():
    """Where to show the user something now: the real terminal's stderr, even while engine output is redirected."""
    return _terminal[-1] if _terminal else sys.stderr


@contextlib.contextmanager
def engine_output_to(path: str | os.PathLike[str] | None) -> Iterator[Path | None]:
    if path is None:
        yield None
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    log = open(path, "ab", buffering=0)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    had_env = "VLLM_LOGGING_STREAM" in os.environ
    try:
        _terminal.append(os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding="utf-8", errors="replace"))
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.environ.setdefault("VLLM_LOGGING_STREAM", _VLLM_STREAM)
        yield path
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        if _terminal:
            with contextlib.suppress(Exception):
                _terminal.pop().close()
        log.close()
        if not had_env:
            os.environ.pop("VLLM_LOGGING_STREAM", None)
