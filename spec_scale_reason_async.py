#!/usr/bin/env python
"""SSR under the async schedule: each path advances on its own, draft and target work at the same time.

The script the authors' README names (theirs was never finished). The same method as spec_scale_reason_2.py,
with --schedule async: the same records, another folder (tag "_async"). See README "Schedules".

Example: python spec_scale_reason_async.py --dataset_name math --problem_id 0-9 --repeat_id 6 --preset tiny
"""

import sys

from ssr.cli import main

if __name__ == "__main__":
    sys.exit(main("ssr", __doc__.splitlines()[0], schedule="async"))
