#!/usr/bin/env python
"""Parallel reasoning: N target paths (plain, role prompts, or SPM strategy prompts), majority vote.

Example: python scale_reason.py --dataset_name math --problem_id 0-9 --repeat_id 6 --preset tiny
"""

import sys

from ssr.cli import main

if __name__ == "__main__":
    sys.exit(main("parallel", __doc__.splitlines()[0]))
