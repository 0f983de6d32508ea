#!/usr/bin/env python
"""Step-level speculative decoding over N role-prompted paths (N=1 without roles: sequential spec-reason).

Example: python spec_scale_reason.py --dataset_name math --problem_id 0-9 --repeat_id 6 --preset tiny
"""

import sys

from ssr.cli import main

if __name__ == "__main__":
    sys.exit(main("spec", __doc__.splitlines()[0], use_role_prompts=True))
