#!/usr/bin/env python
"""The GPU smoke run's checks on output folders of generation runs (see ssr/smoke/cli.py; --help for options)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssr.smoke.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
