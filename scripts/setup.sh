#!/usr/bin/env bash
# Set sam2nb up in this Python; skip whatever is already done.
#   bash scripts/setup.sh          the workbench (sam2nb, sam2, JupyterLab, widgets, ...)
#   bash scripts/setup.sh --test   the same plus the test tools and Debian's chromium
# A torch that is already installed (a GPU image's own) is pinned and never replaced.
# Use another interpreter with PYTHON=/path/to/python.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
test_flag=""; extras=""
if [ "${1:-}" = "--test" ]; then test_flag="--test"; extras="[test]"; fi

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "setup: sam2nb needs Python 3.10 or newer; $("$PY" --version 2>&1) found. Set PYTHON=..." >&2
  exit 1
}

if "$PY" scripts/check_env.py $test_flag >/dev/null 2>&1; then
  echo "setup: Python packages already in place ($("$PY" --version 2>&1))"
else
  "$PY" scripts/check_env.py $test_flag || true
  # Pin a torch/torchvision that is already there, so pip never swaps a GPU image's build.
  pins=$(mktemp)
  "$PY" - >"$pins" <<'PYEOF'
from importlib import metadata
for name in ("torch", "torchvision"):
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
PYEOF
  [ -s "$pins" ] && echo "setup: keeping the installed $(tr '\n' ' ' <"$pins")"
  if ! "$PY" -m pip install -c "$pins" -e ".$extras"; then
    if [ -s "$pins" ]; then
      echo "setup: pip could not install sam2nb next to the installed $(tr '\n' ' ' <"$pins")." >&2
      echo "       sam2 needs torch>=2.5.1 with a matching torchvision. Use a newer GPU image, or" >&2
      echo "       upgrade both yourself: pip install -U torch torchvision --index-url https://download.pytorch.org/whl/cu124" >&2
    fi
    rm -f "$pins"; exit 1
  fi
  rm -f "$pins"
fi

# torch and torchvision must load together (a CPU-only torch next to a CUDA torchvision fails here).
"$PY" - <<'PYEOF'
import sys
try:
    import torch, torchvision
    torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
except Exception as exc:
    print(f"setup: torch/torchvision do not work together: {exc}", file=sys.stderr)
    print("setup: run `python -m sam2nb info` for the exact fix.", file=sys.stderr)
    sys.exit(1)
PYEOF

if [ -n "$test_flag" ]; then
  if command -v chromium >/dev/null 2>&1; then
    echo "setup: chromium already installed ($(command -v chromium))"
  else
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
      echo "setup: chromium is missing and this user cannot install it (no root, no sudo);" >&2
      echo "       the browser tests will be skipped. As root: apt-get install -y chromium" >&2
    else
      echo "setup: installing Debian's chromium for the browser tests"
      export DEBIAN_FRONTEND=noninteractive
      $SUDO apt-get update -qq
      $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
  fi
fi
echo "setup: done"
