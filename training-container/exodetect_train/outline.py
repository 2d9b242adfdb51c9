"""The outline head: a star-convex outline at each detected centre (StarDist's rays, Schmidt et al. 2018).

At every stride-4 cell the head predicts the distance from the object's centre to its boundary along
`rays` fixed directions (ray k points at angle 2 pi k / rays in image px: x right, y down), relative to
the ellipse inscribed in the object's box: log(distance / ellipse radius along that ray). Zero is the
box's inscribed ellipse, so an untrained head starts from what the box alone says and learns the
difference (the annotators' margin, the shape), which it does in far fewer steps than absolute
distances. Decoding gathers the rays at each detection's peak, the same cell its box comes from,
scales them by the detected box's ellipse and turns them into a closed polygon around the detected
centre: the `outlines` output [N, K, 2 * rays] beside `detections` in the ONNX graph (model format 2).

Targets come from an object's polygon where the truth has one (COCO segmentation, YOLO-seg, CVAT and
Label Studio polygons, the synthetic generator's outlines) and from the ellipse inscribed in its box
where it has only a box; the loss weighs the latter by `outline_box_weight` (a box says little about
the outline: annotators draw boxes with a margin). Objects cut by a training crop get no outline target
(their box centre is not their centre).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4
#: log(distance / inscribed-ellipse radius) is clamped to this range before exp(): 0.14 .. 3 times the ellipse.
LOG_RAY_RANGE = (-2.0, 1.1)
OUTLINE_WEIGHT = 1.0
#: Ray targets go to the centre cell and this many cells around it.
NEIGHBOURHOOD = 1


def check_rays(rays: int) -> int:
    """Flips and quarter turns permute the rays only when their count is a multiple of 4."""
    if rays < 8 or rays % 4:
        raise ValueError(f"outline rays must be a multiple of 4 and at least 8, got {rays}")
    return rays


class OutlineHead(nn.Module):
    """Pyramid features at stride 4 -> [N, rays, H/4, W/4] log(distance / box ellipse radius) along each ray."""

    def __init__(self, channels: int, rays: int):
        super().__init__()
        self.rays = check_rays(rays)
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, rays, 1),
        )
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.kaiming_normal_(self.body[0].weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(last.weight, std=0.01)
        nn.init.zeros_(last.bias)  # the box's inscribed ellipse to start from

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(features)


def ray_angles(rays: int) -> np.ndarray:
    return 2 * np.pi * np.arange(rays) / rays


def star_distances(polygon: np.ndarray, cx: float, cy: float, rays: int) -> np.ndarray:
    """Distance from (cx, cy) to the polygon ([V, 2]) along each ray: its farthest crossing (0 where none)."""
    a = ray_angles(rays)
    dx, dy = np.cos(a)[:, None], np.sin(a)[:, None]
    p = np.asarray(polygon, np.float64).reshape(-1, 2) - (cx, cy)
    q = np.roll(p, -1, axis=0)
    ex, ey = (q - p)[:, 0][None], (q - p)[:, 1][None]
    px, py = p[:, 0][None], p[:, 1][None]
    denom = dx * ey - dy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (px * ey - py * ex) / denom
        s = (px * dy - py * dx) / denom
    hit = (np.abs(denom) > 1e-12) & (t > 0) & (s >= 0) & (s <= 1)
    return np.where(hit, t, 0.0).max(axis=1).astype(np.float32)


def ellipse_distances(box: Sequence[float], rays: int) -> np.ndarray:
    """Distance from the box centre to the ellipse inscribed in the box, along each ray."""
    a = ray_angles(rays)
    rx, ry = max((box[2] - box[0]) / 2, 1e-6), max((box[3] - box[1]) / 2, 1e-6)
    return (1.0 / np.sqrt((np.cos(a) / rx) ** 2 + (np.sin(a) / ry) ** 2)).astype(np.float32)


def object_rays(boxes: np.ndarray, polygons: Sequence[Optional[np.ndarray]], rays: int, box_weight: float) -> np.ndarray:
    """[M, rays + 1]: each object's ray distances (px, from its box centre) and the weight of that target."""
    out = np.zeros((len(boxes), rays + 1), np.float32)
    for i, box in enumerate(boxes):
        polygon = polygons[i] if i < len(polygons) else None
        d = star_distances(polygon, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, rays) if polygon is not None else None
        if d is not None and (d > 0).all():
            out[i, :rays], out[i, rays] = d, 1.0
        else:  # no polygon (or one the centre is not inside): the box's inscribed ellipse, weighted down
            out[i, :rays], out[i, rays] = ellipse_distances(box, rays), box_weight
    return out


def mirrored_ray_order(rays: int, mirror_x: bool, mirror_y: bool) -> List[int]:
    """Ray k of an image is ray order[k] of its mirror image: x -> W - x maps angle t to pi - t, y -> H - y to -t."""
    order = list(range(rays))
    if mirror_x:
        order = [(rays // 2 - k) % rays for k in order]
    if mirror_y:
        order = [(-k) % rays for k in order]
    return order


def flip_rays(rays: np.ndarray, horizontal: bool) -> np.ndarray:
    """Rays ([M, R + 1], weight last) of the mirrored image."""
    r = rays.shape[1] - 1
    src = mirrored_ray_order(r, horizontal, not horizontal)
    return np.concatenate([rays[:, src], rays[:, r:]], axis=1)


def rotate_rays(rays: np.ndarray) -> np.ndarray:
    """Rays after np.rot90 (a quarter turn counter-clockwise on screen: (x, y) -> (y, W - x), angle t -> t - pi/2)."""
    r = rays.shape[1] - 1
    src = (np.arange(r) + r // 4) % r
    return np.concatenate([rays[:, src], rays[:, r:]], axis=1)


def draw_ray_targets(boxes: np.ndarray, rays: np.ndarray, size: int) -> Dict[str, np.ndarray]:
    """log(distance / box ellipse radius) [R, S, S] and weight [S, S] at the centre cells draw_targets uses and their
    neighbours (same order: larger objects first, so a small object's centre keeps its own target)."""
    s = size // STRIDE
    r = rays.shape[1] - 1
    target = np.zeros((r, s, s), np.float32)
    weight = np.zeros((s, s), np.float32)
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])) if len(boxes) else []
    for i in order:
        x1, y1, x2, y2 = boxes[i] / STRIDE
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        ix, iy = min(s - 1, max(0, int((x1 + x2) / 2))), min(s - 1, max(0, int((y1 + y2) / 2)))
        d, w = rays[i, :r], float(rays[i, r])
        # The centre cell and its 8 neighbours (the peak may land one cell off; nine cells learn faster than one).
        ys, xs = slice(max(0, iy - NEIGHBOURHOOD), iy + NEIGHBOURHOOD + 1), slice(max(0, ix - NEIGHBOURHOOD), ix + NEIGHBOURHOOD + 1)
        if w > 0 and np.all(d > 0):
            target[:, ys, xs] = np.clip(np.log(d / ellipse_distances(boxes[i], r)), *LOG_RAY_RANGE)[:, None, None]
            weight[ys, xs] = w
        else:
            weight[ys, xs] = 0.0  # a cut object's cells: no outline target, whatever a bigger neighbour wrote
    return {"rays": target, "ray_weight": weight}


def outline_loss(log_rays: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted L1 on log distances (a relative error, the same for small and large vesicles), per target cell."""
    w = weight.unsqueeze(1)
    per_cell = F.l1_loss(log_rays.float(), target, reduction="none").mean(dim=1, keepdim=True)
    return (per_cell * w).sum() / (w > 0).to(w.dtype).sum().clamp(min=1.0)


def decode_outlines(log_rays: torch.Tensor, pix: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Rays at each detection's peak cell `pix` [N, K], scaled by its box's inscribed ellipse (`size` [N, 2, K]: w, h
    in px), around its centre (cx, cy) [N, K] -> [N, K, 2R] x0, y0, ...

    ONNX-exportable with dynamic H and W, like model.decode."""
    n, r = log_rays.shape[0], log_rays.shape[1]
    flat = log_rays.float().reshape(n, r, -1)
    gathered = torch.gather(flat, 2, pix.unsqueeze(1).expand(-1, r, -1))  # [N, R, K]
    angles = torch.arange(r, dtype=gathered.dtype, device=gathered.device) * (2 * math.pi / r)
    cos, sin = torch.cos(angles)[None, :, None], torch.sin(angles)[None, :, None]
    rx, ry = size[:, 0:1] / 2, size[:, 1:2] / 2  # [N, 1, K]
    ellipse = rx * ry / torch.sqrt((ry * cos) ** 2 + (rx * sin) ** 2)  # radius of the inscribed ellipse along each ray
    dist = torch.exp(gathered.clamp(LOG_RAY_RANGE[0], LOG_RAY_RANGE[1])) * ellipse
    xs = cx.unsqueeze(1) + dist * cos
    ys = cy.unsqueeze(1) + dist * sin
    return torch.stack([xs, ys], dim=2).permute(0, 3, 1, 2).reshape(n, -1, 2 * r)  # [N, K, R, 2] -> [N, K, 2R]


def polygon_area(polygon: np.ndarray) -> float:
    p = np.asarray(polygon, np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def area_equivalent_diameter(polygon: Optional[np.ndarray]) -> float:
    """sqrt(4 area / pi) of a polygon ([V, 2] or flat), NaN for None (an object with a box only)."""
    if polygon is None or len(np.asarray(polygon).reshape(-1)) < 6:
        return math.nan
    return math.sqrt(4 * polygon_area(polygon) / math.pi)


def outline_diameters(outlines: np.ndarray) -> np.ndarray:
    """[K, 2R] polygons -> [K] area-equivalent diameters."""
    return np.asarray([area_equivalent_diameter(o) for o in outlines], np.float64)


def describe(rays: int) -> str:
    """The model metadata's `exodetect.outline` value."""
    return f"star-convex {rays} rays"


def split_outputs(out) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """ExportModel's output: detections alone, or (detections, outlines)."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)
