#!/usr/bin/env bash
# The trainer's Python tests, on CPU with Debian's PyTorch (only /usr/bin/python3 sees it).
set -euo pipefail
cd "$(dirname "$0")"
if ! /usr/bin/python3 -c 'import torch, numpy, PIL, onnx, pytest' 2>/dev/null; then
  bash ../scripts/install-system-deps.sh
fi
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests "$@"
