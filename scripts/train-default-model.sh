#!/usr/bin/env bash
# Trains the bundled default model (models/default/) on synthetic data with the fixed recipe in
# training-container/exodetect_train/default_model.py. CPU, ~10 minutes on 2 cores (12 epochs, 440 synthetic images);
# a CUDA GPU is used when PyTorch sees one.
#   bash scripts/train-default-model.sh [--epochs N] [--threads N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/training-container"
exec nice /usr/bin/python3 -m exodetect_train.default_model --out "$root/models/default" "$@"
