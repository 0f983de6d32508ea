#!/usr/bin/env python
"""Replay the scoring passes of real speculative paths under several KV-cache block sizes.

The prefix cache works in whole blocks, so a scoring pass re-prefills the tail of
the path that does not fill a block, besides the new step and the judging note.
This replays, for every path of the given result records and in order, each
step's scoring pass (the path's prompt, the step, the note: exactly what the loop
sends) on a fresh target engine per block size, and reports prompt tokens
prefilled vs served from the cache and the time per pass.

    python bench/block_size.py --preset cpu-demo --records bench/results/X/runs/ssr --block_sizes 128,64,32
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssr.command_line import add_run_args, config_from_args  # noqa: E402
from ssr.config import RunConfig  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser, RunConfig())
    parser.add_argument("--records", required=True, help="folder of spec/ssr result records whose paths are replayed")
    parser.add_argument("--block_sizes", default="128,64,32")
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    argv = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(argv)
    cfg = config_from_args("ssr", parser, argv)

    import dataclasses

    from bench.replay import ReplayError, paths_to_replay, scoring_passes
    from ssr.plan import build_engine

    try:
        paths = paths_to_replay([args.records])
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = {}
    for bs in [int(x) for x in args.block_sizes.split(",")]:
        c = dataclasses.replace(cfg, block_size=bs)
        engine = build_engine("target", c)
        prefilled = cached = total = passes = 0
        seconds = 0.0
        try:
            for _, prompt in scoring_passes(c, engine, paths):
                t0 = time.perf_counter()
                (res,) = engine.score_digits([prompt])
                seconds += time.perf_counter() - t0
                passes += 1
                total += res.prompt_tokens
                cached += res.cached_prompt_tokens or 0
                prefilled += res.prompt_tokens - (res.cached_prompt_tokens or 0)
        finally:
            engine.close()
        out[bs] = {"passes": passes, "prompt_tokens": total / passes, "prefilled": prefilled / passes,
                   "cached": cached / passes, "seconds_per_pass": seconds / passes}
        print(f"block {bs}: {passes} passes, prompt {total / passes:.0f} tok, prefilled {prefilled / passes:.0f}, "
              f"cached {cached / passes:.0f}, {seconds / passes:.2f} s/pass", flush=True)
    if args.out:
        Path(args.out).write_text(
            json.dumps({"command": " ".join(["bench/block_size.py", *argv]), "block_sizes": out}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
