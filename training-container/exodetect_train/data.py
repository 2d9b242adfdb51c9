"""Training crops and evaluation images at the training scale, and CenterNet targets (with the
outline head's ray targets when the model has one)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .annotations import LabelledImage
from .outline import draw_ray_targets, object_rays
from .transforms import flip_rotate, photometric, random_crop, read_image, resample_to_scale

STRIDE = 4
#: Gaussian width relative to the box (TTFNet's alpha): the heatmap peak covers the object's core.
GAUSSIAN_ALPHA = 0.54


@dataclass
class ScaledImage:
    """An image resampled to the training scale, with its boxes in the resampled px."""

    source: LabelledImage
    image: np.ndarray
    factor: float  # resampled px per original px
    boxes: np.ndarray
    classes: np.ndarray
    #: [M, R + 1] outline ray distances (resampled px) and target weights, when the model has an outline head.
    rays: Optional[np.ndarray] = None


def load_scaled(images: Sequence[LabelledImage], nm_per_px: float, outline_rays: int = 0,
                outline_box_weight: float = 0.1) -> List[ScaledImage]:
    out = []
    for li in images:
        img, factor = resample_to_scale(read_image(li.path), li.nm_per_px, nm_per_px)
        boxes = li.boxes * factor
        rays = None
        if outline_rays:
            polygons = [p * factor if p is not None else None for p in li.polygons]
            rays = object_rays(boxes, polygons, outline_rays, outline_box_weight)
        out.append(ScaledImage(li, img, factor, boxes, li.classes, rays))
    return out


def draw_targets(boxes: np.ndarray, classes: np.ndarray, num_classes: int, size: int) -> Dict[str, np.ndarray]:
    """Heatmap [C, S, S], log-size [2, S, S], offset [2, S, S] and mask [S, S] at stride 4."""
    s = size // STRIDE
    heat = np.zeros((num_classes, s, s), np.float32)
    wh = np.zeros((2, s, s), np.float32)
    off = np.zeros((2, s, s), np.float32)
    mask = np.zeros((s, s), np.float32)
    ys, xs = np.arange(s, dtype=np.float32)[:, None], np.arange(s, dtype=np.float32)[None, :]
    # Larger objects first so that a small one's centre is never overwritten by a big neighbour's.
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])) if len(boxes) else []
    for i in order:
        x1, y1, x2, y2 = boxes[i] / STRIDE
        bw, bh = x2 - x1, y2 - y1
        if bw <= 0 or bh <= 0:
            continue
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ix, iy = min(s - 1, max(0, int(cx))), min(s - 1, max(0, int(cy)))
        sx, sy = max(GAUSSIAN_ALPHA * bw / 6, 0.35), max(GAUSSIAN_ALPHA * bh / 6, 0.35)
        g = np.exp(-((xs - ix) ** 2 / (2 * sx * sx) + (ys - iy) ** 2 / (2 * sy * sy)))
        c = int(classes[i])
        np.maximum(heat[c], g, out=heat[c])
        wh[:, iy, ix] = (math.log(bw), math.log(bh))
        off[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return {"heatmap": heat, "wh": wh, "offset": off, "mask": mask}


class CropDataset(Dataset):
    """`crops_per_image` random crops per image per epoch. Item i of epoch e always draws from
    the same seed (seed, epoch, i), so the data is the same with any number of workers and
    after a resume."""

    def __init__(self, images: Sequence[ScaledImage], num_classes: int, crop: int, crops_per_image: int,
                 seed: int, augment: bool = True, scale_jitter: float = 0.15):
        self.images = list(images)
        self.num_classes = num_classes
        self.crop = crop
        self.crops_per_image = crops_per_image
        self.seed = seed
        self.augment = augment
        self.scale_jitter = scale_jitter
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_image

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, i]))
        si = self.images[i // self.crops_per_image]
        jitter = self.scale_jitter if self.augment else 0.0
        rays = None
        if si.rays is None:
            img, boxes, classes = random_crop(rng, si.image, si.boxes, si.classes, self.crop, jitter)
        else:
            img, boxes, classes, rays = random_crop(rng, si.image, si.boxes, si.classes, self.crop, jitter, rays=si.rays)
        if self.augment:
            if rays is None:
                img, boxes = flip_rotate(rng, img, boxes)
            else:
                img, boxes, rays = flip_rotate(rng, img, boxes, rays=rays)
            img = photometric(rng, img)
        t = draw_targets(boxes, classes, self.num_classes, self.crop)
        if rays is not None:
            t.update(draw_ray_targets(boxes, rays, self.crop))
        return torch.from_numpy(np.ascontiguousarray(img)[None]), {k: torch.from_numpy(v) for k, v in t.items()}
