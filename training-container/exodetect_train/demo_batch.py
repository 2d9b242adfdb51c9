"""Writes the bundled sample batch (samples/demo-batch/) deterministically.

    python -m exodetect_train.demo_batch --out ../samples/demo-batch
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from typing import Optional, Sequence

from .synth import SynthConfig, coco_document, render, save_image

#: All sample images are rendered at this scale; the 16-bit TIFF carries it in its resolution tags.
DEMO_NM_PER_PX = 1.5

#: A well-loaded exosome grid: enough vesicles per image for the demo's statistics to mean something.
DEMO_CONFIG = replace(SynthConfig(), coverage=(0.08, 0.15))
#: (file name, edge px, bit depth, seed): small PNGs, one large JPEG, one 16-bit TIFF.
DEMO_IMAGES = (
    ("exo-demo-01.png", 512, 8, 101),
    ("exo-demo-02.png", 512, 8, 102),
    ("exo-demo-03.png", 512, 8, 103),
    ("exo-demo-04.png", 512, 8, 104),
    ("exo-demo-05-large.jpg", 1024, 8, 105),
    ("exo-demo-06-16bit.tif", 768, 16, 106),
)


def write_demo_batch(out_dir: str) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for name, edge, depth, seed in DEMO_IMAGES:
        cfg = replace(DEMO_CONFIG, width=edge, height=edge, nm_per_px=DEMO_NM_PER_PX)
        m = render(seed, cfg)
        save_image(os.path.join(out_dir, name), m.image, DEMO_NM_PER_PX, depth, jpeg_quality=85)
        entries.append((name, edge, edge, m.boxes, m.outlines))
    doc = coco_document(entries, info={
        "description": "exodetect demo batch: synthetic negative-stain TEM micrographs (ground truth)",
        "nm_per_px": DEMO_NM_PER_PX,
        "generator": "python -m exodetect_train.demo_batch",
    })
    with open(os.path.join(out_dir, "ground-truth.coco.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return doc


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exodetect_train.demo_batch")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    doc = write_demo_batch(a.out)
    print(f"wrote {len(doc['images'])} images with {len(doc['annotations'])} vesicles to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
