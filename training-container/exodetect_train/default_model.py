"""Trains the bundled default model on synthetic data and copies it to models/default/.

    python -m exodetect_train.default_model --out ../models/default

Data: synthetic micrographs (exodetect_train.synth) at several magnifications
(1.2-4.0 nm/px, resampled to the 2.0 nm/px training scale) and sizes, 8- and 16-bit;
validation: fresh synthetic images; test: the bundled demo batch (samples/demo-batch, as
demo_batch.py draws it). The whole run goes through the normal SageMaker entry point in a
temporary base dir. How the recipe was chosen: training-container/README.md.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import tempfile
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .demo_batch import DEMO_IMAGES, DEMO_NM_PER_PX, write_demo_batch
from .synth import SynthConfig, render, save_image, truth_document
from .train import main as train_main

#: The grids the bundled model learns from: exosome preps and the rest of the size range (to 500 nm),
#: from a single vesicle in an empty field to crowded ones, with every kind of debris and burned-in text.
TRAIN_CONFIG = replace(SynthConfig(), max_diameter_nm=500.0, median_diameter_nm=(50.0, 250.0), coverage=(0.003, 0.12),
                       info_labels=(0, 3))
#: (count, edge px, nm/px, bit depth, extension) of the synthetic training set: magnifications of 1.2-4 nm/px.
TRAIN_SET: Tuple[Tuple[int, int, float, int, str], ...] = (
    (60, 512, 1.2, 16, ".tif"),
    (80, 512, 1.6, 8, ".png"),
    (80, 640, 2.0, 8, ".png"),
    (80, 640, 2.5, 8, ".jpg"),
    (80, 640, 3.0, 8, ".png"),
    (60, 512, 4.0, 8, ".png"),
)
VAL_SET: Tuple[Tuple[int, int, float, int, str], ...] = (
    (8, 512, 1.5, 8, ".png"),
    (8, 640, 2.2, 8, ".png"),
    (8, 640, 2.8, 16, ".tif"),
    (6, 512, 3.5, 8, ".jpg"),
)

RECIPE: Dict[str, str] = {
    "epochs": "12", "batch_size": "8", "lr": "0.002", "nm_per_px": "2.0", "crop_size": "256",
    "tile_size": "512", "crops_per_image": "3", "seed": "0", "width": "24", "max_detections": "300",
    "model_version": "default", "val_fraction": "0.2", "half_scale_pass": "true",
}


def _render_and_save(job: Tuple[str, str, int, SynthConfig, int]) -> Tuple:
    root, name, seed, cfg, depth = job
    m = render(seed, cfg)
    save_image(os.path.join(root, name), m.image, cfg.nm_per_px, depth)
    return (name, cfg.width, cfg.height, m.boxes, cfg.nm_per_px, m.outlines)


def write_synthetic_channel(root: str, spec: Sequence[Tuple[int, int, float, int, str]], seed_base: int,
                            config: SynthConfig = TRAIN_CONFIG, jobs: int = 1, repeat: int = 1) -> Dict:
    """Generated images and their truth.json: a channel as the trainer reads it. `repeat` draws each group of the
    spec that many times over (more images, same mix); `jobs` processes render them (the same images for any count)."""
    os.makedirs(root, exist_ok=True)
    work: List[Tuple[str, str, int, SynthConfig, int]] = []
    for count, edge, nm, depth, ext in spec:
        cfg = replace(config, width=edge, height=edge, nm_per_px=nm)
        for _ in range(count * repeat):
            i = len(work)
            work.append((root, f"synth_{i:04d}{ext}", seed_base + i, cfg, depth))
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            entries = pool.map(_render_and_save, work, chunksize=4)
    else:
        entries = [_render_and_save(w) for w in work]
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


def with_overrides(config: SynthConfig, overrides: Dict) -> SynthConfig:
    """SynthConfig with fields replaced from JSON (lists become tuples; "look" is merged field by field)."""
    def plain(v):
        return tuple(v) if isinstance(v, list) else v
    fields = {k: plain(v) for k, v in overrides.items() if k != "look"}
    if "look" in overrides:
        fields["look"] = replace(config.look, **{k: plain(v) for k, v in overrides["look"].items()})
    return replace(config, **fields)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exodetect_train.default_model")
    p.add_argument("--out", required=True, help="where model.onnx, model.pt, metrics.json and card.md go")
    p.add_argument("--work", default=None, help="working base dir (default: a temporary one, removed afterwards)")
    p.add_argument("--epochs", default=RECIPE["epochs"])
    p.add_argument("--threads", default="0")
    p.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="processes that render the synthetic images")
    p.add_argument("--repeat", type=int, default=1, help="draw the training mix this many times over (experiments)")
    p.add_argument("--synth", type=json.loads, default=None,
                   help='experiments: JSON overrides of the generator\'s settings (synth.SynthConfig; "look": synth_objects.VesicleLook), '
                        'e.g. \'{"box_margin": 1.05, "look": {"halo": [0.5, 2.0]}}\'')
    p.add_argument("--hyperparameter", action="append", default=[], metavar="KEY=VALUE", help="experiments: override the recipe")
    a = p.parse_args(argv)
    config = with_overrides(TRAIN_CONFIG, a.synth or {})
    overrides = dict(kv.split("=", 1) for kv in a.hyperparameter)
    work = a.work or tempfile.mkdtemp(prefix="exodetect-default-")
    try:
        data = os.path.join(work, "input", "data")
        tr = write_synthetic_channel(os.path.join(data, "train"), TRAIN_SET, 10_000, config, a.jobs, a.repeat)
        va = write_synthetic_channel(os.path.join(data, "validation"), VAL_SET, 20_000, config, a.jobs)
        demo = write_demo_batch(os.path.join(data, "test"))
        os.remove(os.path.join(data, "test", "ground-truth.coco.json"))
        with open(os.path.join(data, "test", "truth.json"), "w") as f:
            json.dump(truth_document(coco_entries(demo, DEMO_NM_PER_PX), "test"), f)
        hp = dict(RECIPE, epochs=str(a.epochs), threads=str(a.threads), **overrides)
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
