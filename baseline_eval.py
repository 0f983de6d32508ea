#!/usr/bin/env python
"""Score result folders: pass@k, majority vote, G-Pass@k, latency, tokens, finish reasons.

    python baseline_eval.py --result_dir results/base/math/default [more dirs] [--k 1 3] [--out DIR]

Writes summary.json, summary.csv and the plots whose data exists into --out
(default: the first result folder). Exit code 2 when a folder is missing or
holds no result records. The logic lives in ssr/analysis/.
"""

import sys

from ssr.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], kind="baseline"))
