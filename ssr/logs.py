"""Where engine chatter goes: a log file in the run folder, not the terminal.

vLLM, torch and their C++ code print pages of INFO and WARNING lines at start-up
(to file descriptors 1 and 2, from this process and from any engine process it
spawns). A researcher should see our progress bar, our tables and errors. While
``engine_output_to(path)`` is active, descriptors 1 and 2 point at ``path`` and
Python's ``sys.stdout`` / ``sys.stderr`` are rebound to the terminal, so
everything this package prints still reaches the user and everything else lands
in the log. ``--verbose`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator

# vLLM's log handler writes to this stream; sys.__stdout__ is bound to descriptor 1 (the log while active)
_VLLM_STREAM = "ext://sys.__stdout__"


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
    old_streams = sys.stdout, sys.stderr
    old_showwarning = warnings.showwarning
    had_env = "VLLM_LOGGING_STREAM" in os.environ
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8", errors="replace")
        sys.stderr = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")
        os.environ.setdefault("VLLM_LOGGING_STREAM", _VLLM_STREAM)

        def to_log(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            log.write(warnings.formatwarning(message, category, filename, lineno, line).encode("utf-8", "replace"))

        warnings.showwarning = to_log
        yield path
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        ours = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = old_streams
        for stream in ours:
            with contextlib.suppress(Exception):
                stream.close()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        log.close()
        warnings.showwarning = old_showwarning
        if not had_env:
            os.environ.pop("VLLM_LOGGING_STREAM", None)
