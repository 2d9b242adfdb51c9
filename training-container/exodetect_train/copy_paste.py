"""Copy-paste augmentation: labelled particles pasted into other training crops.

After Ghiasi et al. 2021 ("Simple Copy-Paste is a Strong Data Augmentation Method"). A
few-shot set holds a few dozen particles, most grids one or two; pasting them into other
crops shows each particle on other backgrounds and beside others. A particle is cut with a
feathered ellipse a little wider than its box (the box already carries the annotator's
margin, so the stain halo comes along), and its background level is matched to where it
lands. Nothing is rescaled or turned here: the particle keeps its size in nm and its outline
targets, and the crop's flips and turns come after.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage

#: The patch reaches this share of the box's longer side beyond the box; the cut ellipse is this much wider than the box.
PATCH_MARGIN = 0.15
ELLIPSE_SCALE = 1.1
#: Where the mask is below this, the patch counts as background (for the level match).
BACKGROUND_MASK = 0.05


@dataclass(frozen=True)
class Particle:
    patch: np.ndarray  # float32 [h, w], the image around the particle
    mask: np.ndarray  # float32 [h, w] in 0..1, the feathered cut
    box: np.ndarray  # float32 [4], the particle's box in patch px
    cls: int
    rays: Optional[np.ndarray]  # [R + 1] outline targets (outline.py), or None without an outline head


def particle_bank(images: Sequence, max_edge: int) -> List[Particle]:
    """Every labelled particle whose patch lies inside its image, fits in `max_edge` and holds no other box's centre."""
    bank: List[Particle] = []
    for si in images:
        h, w = si.image.shape
        centres = (si.boxes[:, :2] + si.boxes[:, 2:]) / 2 if len(si.boxes) else np.zeros((0, 2))
        for i, b in enumerate(si.boxes):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            if bw < 2 or bh < 2:
                continue
            m = PATCH_MARGIN * max(bw, bh)
            x0, y0 = int(math.floor(b[0] - m)), int(math.floor(b[1] - m))
            x1, y1 = int(math.ceil(b[2] + m)), int(math.ceil(b[3] + m))
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h or max(x1 - x0, y1 - y0) > max_edge:
                continue
            others = np.delete(centres, i, axis=0)
            if len(others) and ((others[:, 0] >= x0) & (others[:, 0] < x1) & (others[:, 1] >= y0) & (others[:, 1] < y1)).any():
                continue  # a neighbour would come along unlabelled
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            inside = ((xx - cx) / (ELLIPSE_SCALE * bw / 2)) ** 2 + ((yy - cy) / (ELLIPSE_SCALE * bh / 2)) ** 2 <= 1.0
            mask = ndimage.gaussian_filter(inside.astype(np.float32), max(1.0, 0.04 * max(bw, bh)))
            rays = si.rays[i].copy() if si.rays is not None else None
            bank.append(Particle(si.image[y0:y1, x0:x1].astype(np.float32), mask,
                                 (b - np.array([x0, y0, x0, y0], np.float32)).astype(np.float32), int(si.classes[i]), rays))
    return bank


def paste_particles(rng: np.random.Generator, img: np.ndarray, boxes: np.ndarray, classes: np.ndarray,
                    rays: Optional[np.ndarray], bank: Sequence[Particle], count: int,
                    tries: int = 10) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Pastes up to `count` particles from the bank where their patch overlaps no labelled box of the crop."""
    out = img.copy()
    boxes, classes = list(boxes), list(classes)
    ray_rows = list(rays) if rays is not None else None
    h, w = out.shape
    for _ in range(count):
        p = bank[int(rng.integers(0, len(bank)))]
        ph, pw = p.patch.shape
        if ph > h or pw > w:
            continue
        for _ in range(tries):
            x0, y0 = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
            if not any(b[0] < x0 + pw and b[2] > x0 and b[1] < y0 + ph and b[3] > y0 for b in boxes):
                break
        else:
            continue
        region = out[y0:y0 + ph, x0:x0 + pw]
        background = p.mask < BACKGROUND_MASK
        shift = float(np.median(region[background]) - np.median(p.patch[background])) if background.any() else 0.0
        out[y0:y0 + ph, x0:x0 + pw] = region * (1 - p.mask) + np.clip(p.patch + shift, 0.0, 1.0) * p.mask
        boxes.append(p.box + np.array([x0, y0, x0, y0], np.float32))
        classes.append(p.cls)
        if ray_rows is not None:
            ray_rows.append(p.rays)
    new_boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    new_classes = np.asarray(classes, np.int64)
    new_rays = np.stack(ray_rows).astype(np.float32) if ray_rows else rays
    return out.astype(np.float32), new_boxes, new_classes, new_rays
