#!/usr/bin/env bash
# Installs what the tests need (the real CPU vLLM engine included) and runs the whole suite,
# slow real-engine tests too. Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_cpu.sh
python -m pip install -q -e ".[test]"
# headless Chromium for the HTML report's browser test; without it that test is skipped, saying why
bash scripts/install_browser.sh || echo "test.sh: chromium could not be installed; the browser test will be skipped" >&2
# The benchmark data: ../shared/data beside the checkout unless SSR_DATA_DIR says otherwise.
export SSR_DATA_DIR="${SSR_DATA_DIR:-$(cd .. && pwd)/shared/data}"
exec python -m pytest -q -rs "$@"
