#!/usr/bin/env python3
"""PyTorch eager peer for `npm run bench` (bench/inference.bench.ts).

Two jobs:
  make-model OUT_DIR    a randomly initialised ExoNet (engineer A's architecture) exported
                        exactly as the trainer exports it (model.onnx + model.pt), for
                        benchmarking before a trained default model exists.
  run MODEL_PT TENSOR   times ExportModel (network + in-graph decoding, the same
                        computation as model.onnx) in eager mode on a raw float32 tensor
                        file, and prints one JSON line: {"median_ms", "runs", "threads"}.

Needs /usr/bin/python3 with torch and the trainer package in training-container/.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "training-container"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from exodetect_train.export import export_onnx, model_metadata, save_torch_model  # noqa: E402
from exodetect_train.model import ExoNet, ExportModel  # noqa: E402


def make_model(out_dir: str, width: int, k: int, nm_per_px: float, tile: int) -> None:
    torch.manual_seed(0)
    net = ExoNet(1, width).eval()
    os.makedirs(out_dir, exist_ok=True)
    meta = model_metadata(["exosome"], nm_per_px, 0.3, tile, "bench-random-init", "none")
    export_onnx(net, os.path.join(out_dir, "model.onnx"), k, meta)
    save_torch_model(net, os.path.join(out_dir, "model.pt"), ["exosome"], nm_per_px, {"max_detections": k})
    print(json.dumps({"written": out_dir}))


def load_net(model_pt: str) -> ExoNet:
    state = torch.load(model_pt, map_location="cpu")
    arch = state["arch"]
    net = ExoNet(int(arch["num_classes"]), int(arch["width"]), int(arch.get("outline_rays", 0)))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["state_dict"].items()})
    return net.eval()


def run(model_pt: str, tensor_path: str, shape: list[int], k: int, threads: int, runs: int, warmup: int) -> None:
    torch.set_num_threads(threads)
    data = np.fromfile(tensor_path, dtype=np.float32).reshape(shape)
    x = torch.from_numpy(data)
    model = ExportModel(load_net(model_pt), k).eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            out = model(x)
            dt = (time.perf_counter() - t0) * 1000
            if i >= warmup:
                times.append(dt)
    print(json.dumps({"median_ms": statistics.median(times), "runs": runs, "threads": threads, "out_shape": list((out[0] if isinstance(out, tuple) else out).shape),
                      "torch": torch.__version__}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-model")
    m.add_argument("out_dir")
    m.add_argument("--width", type=int, default=24)
    m.add_argument("--k", type=int, default=300)
    m.add_argument("--nm-per-px", type=float, default=2.0)
    m.add_argument("--tile", type=int, default=512)
    r = sub.add_parser("run")
    r.add_argument("model_pt")
    r.add_argument("tensor")
    r.add_argument("--shape", required=True, help="N,C,H,W")
    r.add_argument("--k", type=int, default=300)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    if a.cmd == "make-model":
        make_model(a.out_dir, a.width, a.k, a.nm_per_px, a.tile)
    else:
        run(a.model_pt, a.tensor, [int(v) for v in a.shape.split(",")], a.k, a.threads, a.runs, a.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
