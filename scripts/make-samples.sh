#!/usr/bin/env bash
# Regenerates samples/demo-batch/ (synthetic TEM micrographs + ground truth) deterministically.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/training-container"
exec /usr/bin/python3 -m exodetect_train.demo_batch --out "$root/samples/demo-batch"
