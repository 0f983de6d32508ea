"""``python -m ssr.analysis RESULTS_DIR ... [--baseline_dir DIR] [--out FILE]``: the HTML report of result folders."""

import sys

from ssr.analysis.cli import main

sys.exit(main(sys.argv[1:], kind="report"))
