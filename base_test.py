#!/usr/bin/env python
"""Baseline: the target model alone, one path per repeat.

Example: python base_test.py --dataset_name math --problem_id 0-9 --repeat_id 6 --preset tiny
"""

import sys

from ssr.cli import main

if __name__ == "__main__":
    sys.exit(main("base", __doc__.splitlines()[0]))
