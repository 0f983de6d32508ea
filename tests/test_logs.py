"""Engine chatter goes to the log file; what this package shows the user still reaches the terminal."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_engine_output_goes_to_the_log_and_ours_to_the_terminal(tmp_path):
    log = tmp_path / "run" / "engine.log"
    code = textwrap.dedent(f"""
        import os, sys, warnings, logging
        sys.path.insert(0, {str(REPO)!r})
        from ssr.logs import engine_output_to, terminal
        early = logging.StreamHandler(sys.stderr)  # a handler made before, like an engine's at import
        print("BEFORE")
        with engine_output_to({str(log)!r}):
            os.write(1, b"C-LEVEL STDOUT\\n")
            os.write(2, b"C-LEVEL STDERR\\n")
            early.handle(logging.makeLogRecord({{"msg": "ENGINE INFO"}}))
            warnings.warn("ENGINE WARNING")
            print("ENGINE PRINT")
            print("ENGINE PROGRESS BAR", file=sys.stderr)
            print("OUR PROGRESS", file=terminal(), flush=True)
            subprocess_run = __import__("subprocess").run
            subprocess_run([sys.executable, "-c", "print('CHILD PROCESS')"])
        print("AFTER")
        print("AFTER ERR", file=terminal())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["BEFORE", "AFTER"]
    assert proc.stderr.splitlines() == ["OUR PROGRESS", "AFTER ERR"]
    text = log.read_text()
    for line in (
        "C-LEVEL STDOUT",
        "C-LEVEL STDERR",
        "ENGINE INFO",
        "ENGINE WARNING",
        "ENGINE PRINT",
        "ENGINE PROGRESS BAR",
        "CHILD PROCESS",
    ):
        assert line in text, line


def test_no_path_means_verbose(capfd):
    from ssr.logs import engine_output_to, terminal

    with engine_output_to(None) as where:
        print("shown")
    assert where is None and terminal() is __import__("sys").stderr and capfd.readouterr().out == "shown\n"
