"""Trains the bundled default model on synthetic data and copies it to models/default/.

    python -m exodetect_train.default_model --out ../models/default

Data: synthetic micrographs (exodetect_train.synth) at several magnifications
(1.2-3.0 nm/px, resampled to the 2.0 nm/px training scale) and sizes, 8- and 16-bit;
validation: fresh synthetic images; test: the bundled demo batch (samples/demo-batch).
The whole run goes through the normal SageMaker entry point in a temporary base dir.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .demo_batch import DEMO_IMAGES, DEMO_NM_PER_PX, write_demo_batch
from .synth import SynthConfig, render, save_image, truth_document
from .train import main as train_main

#: (count, edge px, nm/px, bit depth, extension) of the synthetic training set.
TRAIN_SET: Tuple[Tuple[int, int, float, int, str], ...] = (
    (40, 384, 1.5, 8, ".png"),
    (30, 384, 2.0, 8, ".png"),
    (20, 512, 2.5, 8, ".jpg"),
    (15, 384, 1.2, 16, ".tif"),
    (15, 320, 3.0, 8, ".png"),
)
VAL_SET: Tuple[Tuple[int, int, float, int, str], ...] = (
    (10, 384, 1.5, 8, ".png"),
    (10, 384, 2.0, 8, ".png"),
    (5, 384, 2.5, 16, ".tif"),
    (5, 384, 1.2, 8, ".jpg"),
)

RECIPE: Dict[str, str] = {
    "epochs": "8", "batch_size": "8", "lr": "0.002", "nm_per_px": "2.0", "crop_size": "256",
    "tile_size": "512", "crops_per_image": "3", "seed": "0", "width": "24", "max_detections": "300",
    "model_version": "default", "val_fraction": "0.2",
}


def write_synthetic_channel(root: str, spec: Sequence[Tuple[int, int, float, int, str]], seed_base: int) -> Dict:
    """Generated images and their truth.json: a channel as the trainer reads it."""
    os.makedirs(root, exist_ok=True)
    entries: List = []
    i = 0
    for count, edge, nm, depth, ext in spec:
        cfg = replace(SynthConfig(), width=edge, height=edge, nm_per_px=nm)
        for _ in range(count):
            m = render(seed_base + i, cfg)
            name = f"synth_{i:04d}{ext}"
            save_image(os.path.join(root, name), m.image, nm, depth)
            entries.append((name, edge, edge, m.boxes, nm, m.outlines))
            i += 1
    doc = truth_document(entries, os.path.basename(root))
    with open(os.path.join(root, "truth.json"), "w") as f:
        json.dump(doc, f)
    return {"images": doc["images"], "annotations": [o for im in doc["images"] for o in im["objects"]]}


def coco_entries(doc: Dict, nm_per_px: float) -> List:
    """A COCO document the generator wrote, as truth_document entries (file, width, height, boxes x1y1x2y2, nm/px,
    outlines from the segmentation where there is one)."""
    boxes: Dict[int, List] = {im["id"]: [] for im in doc["images"]}
    outlines: Dict[int, List] = {im["id"]: [] for im in doc["images"]}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        boxes[a["image_id"]].append((x, y, x + w, y + h))
        seg = a.get("segmentation")
        outlines[a["image_id"]].append(np.asarray(seg[0], np.float32).reshape(-1, 2) if seg else None)
    return [(im["file_name"], im["width"], im["height"], np.asarray(boxes[im["id"]], np.float32).reshape(-1, 4), nm_per_px,
             outlines[im["id"]]) for im in doc["images"]]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exodetect_train.default_model")
    p.add_argument("--out", required=True, help="where model.onnx, model.pt, metrics.json and card.md go")
    p.add_argument("--work", default=None, help="working base dir (default: a temporary one, removed afterwards)")
    p.add_argument("--epochs", default=RECIPE["epochs"])
    p.add_argument("--threads", default="0")
    a = p.parse_args(argv)
    work = a.work or tempfile.mkdtemp(prefix="exodetect-default-")
    try:
        data = os.path.join(work, "input", "data")
        tr = write_synthetic_channel(os.path.join(data, "train"), TRAIN_SET, 10_000)
        va = write_synthetic_channel(os.path.join(data, "validation"), VAL_SET, 20_000)
        demo = write_demo_batch(os.path.join(data, "test"))
        os.remove(os.path.join(data, "test", "ground-truth.coco.json"))
        with open(os.path.join(data, "test", "truth.json"), "w") as f:
            json.dump(truth_document(coco_entries(demo, DEMO_NM_PER_PX), "test"), f)
        hp = dict(RECIPE, epochs=str(a.epochs), threads=str(a.threads))
        os.makedirs(os.path.join(work, "input", "config"), exist_ok=True)
        with open(os.path.join(work, "input", "config", "hyperparameters.json"), "w") as f:
            json.dump(hp, f, indent=1)
        sizes = ", ".join(f"{c} x {e}px @ {n} nm/px {d}-bit {x}" for c, e, n, d, x in TRAIN_SET)
        os.environ["EXODETECT_DATA_NOTE"] = (
            f"- synthetic negative-stain micrographs from `exodetect_train.synth` (no real data): train "
            f"{len(tr['images'])} images / {len(tr['annotations'])} vesicles ({sizes}); validation "
            f"{len(va['images'])} fresh synthetic images; test = the bundled demo batch samples/demo-batch "
            f"({len(DEMO_IMAGES)} images at {DEMO_NM_PER_PX} nm/px)\n"
            "- reproduce: `bash scripts/train-default-model.sh` (deterministic on CPU for the seed)")
        rc = train_main(["--base-dir", work])
        if rc != 0:
            with open(os.path.join(work, "output", "failure")) as f:
                print(f.read())
            return rc
        os.makedirs(a.out, exist_ok=True)
        for name in ("model.onnx", "model.pt", "metrics.json", "card.md"):
            shutil.copyfile(os.path.join(work, "model", name), os.path.join(a.out, name))
        print(f"default model written to {a.out}")
        return 0
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
