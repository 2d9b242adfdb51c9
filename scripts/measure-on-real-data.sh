#!/usr/bin/env bash
# Measures the trainer on the real VISN micrographs in ../shared/datasets/visn-train (never part of the
# project; no test uses this). Fine-tunes the bundled default model, 40 epochs, ~14 s an epoch on 2 idle cores.
#   bash scripts/measure-on-real-data.sh [OUT_DIR] [extra trainer options, e.g. --epochs 10]
# Metrics: OUT_DIR/model/metrics.json (validation = 56 held-out images).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-/tmp/exodetect-real}"; shift || true
/usr/bin/python3 "$root/training-container/tools/prepare_real_dataset.py" --out "$out"
cd "$root/training-container"
exec nice /usr/bin/python3 -m exodetect_train --base-dir "$out" --epochs 40 --batch-size 8 --lr 0.003 \
  --nm-per-px 3.0 --crop-size 256 --crops-per-image 3 --seed 0 --width 24 --threads 2 --class-names particle \
  --model-version visn-measure --init-from "$root/models/default/model.pt" "$@"
