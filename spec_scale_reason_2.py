#!/usr/bin/env python
"""Full SSR: SPM strategy selection + step-level speculative decoding on every path, with fast modes.

Example: python spec_scale_reason_2.py --dataset_name math --problem_id 0-9 --repeat_id 6 --preset tiny
"""

import sys

from ssr.cli import main

if __name__ == "__main__":
    sys.exit(main("ssr", __doc__.splitlines()[0]))
