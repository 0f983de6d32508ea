#!/usr/bin/env bash
# The README's test command: installs what the tests need (the real CPU vLLM engine and headless Chromium
# included) and runs every test, the slow real-engine ones too. Plain `pytest` is the fast loop instead: it
# deselects the tests marked `slow` (pyproject.toml). Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_cpu.sh
python -m pip install -q -e ".[test]"
# The HTML report's only real-browser tests need it: a failed install stops here rather than skip them.
bash scripts/install_browser.sh
# The benchmark data: ../shared/data beside the checkout unless SSR_DATA_DIR says otherwise.
export SSR_DATA_DIR="${SSR_DATA_DIR:-$(cd .. && pwd)/shared/data}"
if [[ ! -f "$SSR_DATA_DIR/math500.jsonl" ]]; then
    echo "test.sh: no benchmark data in SSR_DATA_DIR=$SSR_DATA_DIR (set SSR_DATA_DIR to the folder of *.jsonl)" >&2
    exit 1
fi
# Here a skipped test is a check that did not run: tests/conftest.py fails it unless its reason holds everywhere.
export SSR_TEST_NO_SKIPS=1
exec python -m pytest -q -rs -m "slow or not slow" "$@"
