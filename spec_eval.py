#!/usr/bin/env python
"""Score speculative / SSR / parallel result folders against a target-alone baseline.

    python spec_eval.py --result_dir results/ssr/math/threshold7 [more dirs] \
        --baseline_dir results/base/math/default [--alpha 0.05] [--k 1 3] [--out DIR]

Adds to baseline_eval's statistics the paper's normalised FLOPs
gamma = N * beta * (R + (1 - R) * alpha) (beta and R measured, alpha from the
models' configurations unless --alpha is given) and the ratio of processed-token
FLOPs to the baseline's. Definitions: the docstring of ssr/analysis/stats.py.
Exit code 2 when a folder is missing or holds no result records.
"""

import sys

from ssr.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], kind="spec"))
