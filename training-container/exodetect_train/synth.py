"""Deterministic TEM-like micrographs with ground-truth boxes.

Negative-stain look: a light-grey stained background with uneven stain, vesicles
(30-150 nm at a chosen nm/px) drawn as lighter interiors inside a dark stain rim,
some collapsed into cup shapes, some with a bright halo; touching pairs and small
aggregates; unlabelled debris (stain crystals, small protein specks, fibres);
blur, grain and a burned-in scale bar. The same seed gives the same image on any
machine (numpy's PCG64 plus deterministic float maths).

    python -m exodetect_train.synth --out DIR --count 20 --size 512 --nm-per-px 1.5

writes DIR/images/*.png and one annotation set: COCO (DIR/annotations.coco.json and
DIR/dataset.json), YOLO (DIR/labels/*.txt, DIR/classes.txt, DIR/dataset.json), or
`--labels truth`: DIR/truth.json, the canonical channel document the trainer reads
(as exodetect's dataset ingestion writes it; schema lambdas/training/ingest/truth.ts).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from fractions import Fraction
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.TiffImagePlugin import IFDRational
from scipy import ndimage

CLASS_NAME = "exosome"


@dataclass(frozen=True)
class SynthConfig:
    """What one synthetic micrograph looks like. Defaults give a typical exosome prep."""

    width: int = 512
    height: int = 512
    nm_per_px: float = 1.5
    min_diameter_nm: float = 30.0
    max_diameter_nm: float = 150.0
    #: Independent vesicles per square micrometre (min, max), before pairs and aggregates.
    vesicles_per_um2: Tuple[float, float] = (8.0, 30.0)
    #: Probability that a vesicle gets a touching partner.
    touching_probability: float = 0.2
    #: Aggregates (3-6 small touching vesicles) per square micrometre (min, max).
    aggregates_per_um2: Tuple[float, float] = (0.0, 2.0)
    #: Unlabelled debris objects per square micrometre (min, max).
    debris_per_um2: Tuple[float, float] = (5.0, 30.0)
    scale_bar: bool = True


@dataclass
class Micrograph:
    """A rendered image in linear 0..1 intensity and its labelled vesicles."""

    image: np.ndarray  # float32 [H, W], 0..1
    boxes: np.ndarray  # float32 [M, 4] x1, y1, x2, y2 in px
    nm_per_px: float
    diameters_nm: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    #: Per box, the vesicle's true outline: float32 [V, 2] x, y px (the edge of its light body, see _Vesicle.outline).
    outlines: List[np.ndarray] = field(default_factory=list)


def _smooth_noise(rng: np.random.Generator, shape: Tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-sd low-frequency noise."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    sd = float(n.std())
    return (n - float(n.mean())) / (sd if sd > 0 else 1.0)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    level = rng.uniform(0.55, 0.72)
    img = np.full((h, w), level, np.float32)
    img += rng.uniform(0.02, 0.07) * _smooth_noise(rng, (h, w), max(h, w) / rng.uniform(4, 10))
    img += rng.uniform(0.01, 0.03) * _smooth_noise(rng, (h, w), rng.uniform(6, 20))
    # A stain gradient across the grid square.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    grad = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
    img += rng.uniform(-0.06, 0.06) * (grad - float(grad.mean()))
    return img


@dataclass
class _Vesicle:
    cx: float
    cy: float
    a: float  # semi-axis along u, px (to the middle of the rim)
    b: float
    theta: float
    harmonics: List[Tuple[int, float, float]]
    rim_rel: float  # rim half-width relative to the radius
    interior: float
    rim: float
    cup: float
    cup_dx: float
    cup_dy: float
    halo: float

    @property
    def radius(self) -> float:
        return max(self.a, self.b)

    def boundary_factor(self, phi: np.ndarray) -> np.ndarray:
        f = np.ones_like(phi)
        for k, amp, phase in self.harmonics:
            f = f + amp * np.cos(k * phi + phase)
        return f

    def box(self) -> Tuple[float, float, float, float]:
        """Extent of the outer edge of the dark rim."""
        t = np.linspace(0, 2 * math.pi, 360, endpoint=False)
        r = (1.0 + self.rim_rel) * self.boundary_factor(t)
        u = self.a * r * np.cos(t)
        v = self.b * r * np.sin(t)
        c, s = math.cos(self.theta), math.sin(self.theta)
        x = self.cx + u * c - v * s
        y = self.cy + u * s + v * c
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())

    def outline(self, vertices: int = 64) -> np.ndarray:
        """The vesicle's edge: where its light body ends (r = 1, the middle of the dark stain rim), [V, 2] x, y px.
        This, not the box (the rim's outer edge), is what a size from an outline should recover."""
        t = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
        r = (1.0 - self.rim_rel / math.sqrt(2.0)) * self.boundary_factor(t)
        u = self.a * r * np.cos(t)
        v = self.b * r * np.sin(t)
        c, s = math.cos(self.theta), math.sin(self.theta)
        return np.stack([self.cx + u * c - v * s, self.cy + u * s + v * c], axis=1).astype(np.float32)

    def render(self, img: np.ndarray) -> None:
        h, w = img.shape
        reach = self.radius * 1.6 + 4
        x0, x1 = max(0, int(self.cx - reach)), min(w, int(self.cx + reach) + 1)
        y0, y1 = max(0, int(self.cy - reach)), min(h, int(self.cy + reach) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xx + 0.5 - self.cx, yy + 0.5 - self.cy
        c, s = math.cos(self.theta), math.sin(self.theta)
        u = (dx * c + dy * s) / self.a
        v = (-dx * s + dy * c) / self.b
        rr = np.sqrt(u * u + v * v)
        phi = np.arctan2(v, u)
        r = rr / self.boundary_factor(phi)
        inside = 0.5 * (1.0 - np.tanh((r - 1.0) / 0.06))  # logistic step, overflow-free
        patch = self.interior * inside
        if self.cup:
            cu = u - self.cup_dx
            cv = v - self.cup_dy
            patch -= self.cup * np.exp(-(cu * cu + cv * cv) / (2 * 0.3 ** 2)) * inside
        patch -= self.rim * np.exp(-((r - 1.0) / self.rim_rel) ** 2)
        if self.halo:
            patch += self.halo * np.exp(-((r - 1.0 - 2.5 * self.rim_rel) / (2 * self.rim_rel)) ** 2) * (r > 1.0)
        img[y0:y1, x0:x1] += patch.astype(np.float32)


def _make_vesicle(rng: np.random.Generator, cx: float, cy: float, d_nm: float, nm_per_px: float) -> _Vesicle:
    radius = d_nm / nm_per_px / 2.0
    ecc = rng.uniform(0.8, 1.0)
    n_harm = int(rng.integers(0, 3))
    harmonics = [(int(rng.integers(2, 5)), float(rng.uniform(0.0, 0.05)), float(rng.uniform(0, 2 * math.pi))) for _ in range(n_harm)]
    rim_px = rng.uniform(1.5, 3.5) * (1.5 / nm_per_px) ** 0.5
    cup = rng.uniform(0.04, 0.14) if rng.random() < 0.5 else 0.0
    ang = rng.uniform(0, 2 * math.pi)
    off = rng.uniform(0.0, 0.35)
    # The rim sits at the vesicle edge: shrink the inner radius so that the box (outer rim edge) is d_nm.
    rim_rel = float(np.clip(rim_px / radius, 0.04, 0.25))
    inner = radius / (1.0 + rim_rel)
    return _Vesicle(
        cx=cx, cy=cy, a=inner, b=inner * ecc, theta=float(rng.uniform(0, math.pi)),
        harmonics=harmonics, rim_rel=rim_rel,
        interior=float(rng.uniform(0.04, 0.16)), rim=float(rng.uniform(0.12, 0.32)),
        cup=float(cup), cup_dx=off * math.cos(ang), cup_dy=off * math.sin(ang),
        halo=float(rng.uniform(0.02, 0.08)) if rng.random() < 0.4 else 0.0,
    )


def _diameter_nm(rng: np.random.Generator, cfg: SynthConfig) -> float:
    # Log-normal-ish around 80 nm, clipped to the configured range.
    d = math.exp(rng.normal(math.log(80.0), 0.35))
    return float(np.clip(d, cfg.min_diameter_nm, cfg.max_diameter_nm))


def _render_debris(rng: np.random.Generator, img: np.ndarray, n: int, nm_per_px: float, forbidden: np.ndarray) -> None:
    h, w = img.shape
    for _ in range(n):
        kind = rng.random()
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if kind < 0.45:  # dark stain crystal / speck, 3-20 nm
            rad = rng.uniform(1.5, 10.0) / nm_per_px
            sign = -1.0
            strength = rng.uniform(0.08, 0.3)
        elif kind < 0.7:  # small bright protein blob, below the vesicle size range
            rad = rng.uniform(4.0, 12.0) / nm_per_px
            sign = 1.0
            strength = rng.uniform(0.03, 0.1)
        elif kind < 0.85:  # irregular stain puddle
            rad = rng.uniform(15.0, 60.0) / nm_per_px
            sign = -1.0
            strength = rng.uniform(0.04, 0.12)
        else:  # fibre
            length = rng.uniform(40.0, 250.0) / nm_per_px
            ang = rng.uniform(0, math.pi)
            bend = rng.uniform(-0.5, 0.5)
            t = np.linspace(-0.5, 0.5, max(8, int(length)))
            angles = ang + bend * t
            xs = cx + np.cumsum(np.cos(angles)) * (length / len(t))
            ys = cy + np.cumsum(np.sin(angles)) * (length / len(t))
            width = rng.uniform(1.0, 3.0) / nm_per_px * 1.5
            layer = np.zeros_like(img)
            xi = np.clip(xs.astype(int), 0, w - 1)
            yi = np.clip(ys.astype(int), 0, h - 1)
            layer[yi, xi] = 1.0
            layer = ndimage.gaussian_filter(layer, max(0.7, width))
            peak = float(layer.max())
            if peak > 0:
                img -= rng.uniform(0.05, 0.15) * layer / peak
            continue
        r = int(rad * 2.5) + 2
        x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
        y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
        if x0 >= x1 or y0 >= y1 or forbidden[min(h - 1, int(cy)), min(w - 1, int(cx))]:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        wob = 1.0 + 0.25 * np.sin(3 * np.arctan2(yy - cy, xx - cx) + rng.uniform(0, 6.3))
        d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (rad * wob) ** 2
        img[y0:y1, x0:x1] += (sign * strength * np.exp(-d2)).astype(np.float32)


def _scale_bar(img: np.ndarray, nm_per_px: float) -> Tuple[int, int, int, int]:
    """Burns in a dark bar with its length in nm at the bottom right; returns its keep-out box."""
    h, w = img.shape
    target_nm = 0.2 * w * nm_per_px
    candidates = [50, 100, 200, 250, 500, 1000, 2000, 5000]
    length_nm = min(candidates, key=lambda c: abs(c - target_nm))
    length_px = int(round(length_nm / nm_per_px))
    thick = max(3, h // 100)
    margin = max(8, w // 40)
    x1, y1 = w - margin, h - margin
    x0, y0 = x1 - length_px, y1 - thick
    img[y0:y1, x0:x1] = 0.03
    label = f"{length_nm} nm"
    font = ImageFont.load_default()
    small = Image.new("L", (8 * len(label) + 4, 14), 0)
    ImageDraw.Draw(small).text((2, 1), label, fill=255, font=font)
    scale = max(1, h // 220)
    big = np.asarray(small.resize((small.width * scale, small.height * scale), Image.NEAREST), np.float32) / 255.0
    th, tw = big.shape
    tx = max(0, x0 + (length_px - tw) // 2)
    ty = max(0, y0 - th - 2)
    region = img[ty:ty + th, tx:tx + tw]
    mask = big[: region.shape[0], : region.shape[1]]
    region[...] = region * (1 - mask) + 0.03 * mask
    return max(0, min(tx, x0) - 4), max(0, ty - 4), w, h


def render(seed: int, cfg: SynthConfig = SynthConfig()) -> Micrograph:
    """One micrograph; the same (seed, cfg) always gives the same pixels and boxes."""
    rng = np.random.default_rng(np.random.SeedSequence([20261125, int(seed)]))
    h, w = cfg.height, cfg.width
    px_area_um2 = (h * cfg.nm_per_px / 1000.0) * (w * cfg.nm_per_px / 1000.0)
    img = _background(rng, h, w)

    keep_out = np.zeros((h, w), bool)
    bar_box: Optional[Tuple[int, int, int, int]] = None
    if cfg.scale_bar:
        # Reserve the bar region before placing vesicles; the bar is drawn last (on top).
        target_nm = 0.2 * w * cfg.nm_per_px
        length_px = int(round(min([50, 100, 200, 250, 500, 1000, 2000, 5000], key=lambda c: abs(c - target_nm)) / cfg.nm_per_px))
        margin = max(8, w // 40)
        bar_box = (max(0, w - margin - length_px - 8), max(0, h - margin - max(3, h // 100) - 14 * max(1, h // 220) - 10), w, h)
        keep_out[bar_box[1]:, bar_box[0]:] = True

    placed: List[_Vesicle] = []

    def fits(cx: float, cy: float, rad: float, allow_touch: Sequence[_Vesicle] = ()) -> bool:
        # At least ~60% of the vesicle inside the frame, clear of the scale bar, no real overlap.
        if cx < -0.2 * rad or cy < -0.2 * rad or cx > w + 0.2 * rad or cy > h + 0.2 * rad:
            return False
        if bar_box is not None and cx + rad > bar_box[0] and cy + rad > bar_box[1]:
            return False
        for v in placed:
            dist = math.hypot(v.cx - cx, v.cy - cy)
            limit = 0.92 * (v.radius + rad) if v in allow_touch else 1.15 * (v.radius + rad)
            if dist < limit:
                return False
        return True

    n_single = int(round(rng.uniform(*cfg.vesicles_per_um2) * px_area_um2))
    for _ in range(n_single):
        for _attempt in range(30):
            d = _diameter_nm(rng, cfg)
            rad = d / cfg.nm_per_px / 2
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            if fits(cx, cy, rad):
                v = _make_vesicle(rng, cx, cy, d, cfg.nm_per_px)
                placed.append(v)
                if rng.random() < cfg.touching_probability:
                    d2 = _diameter_nm(rng, cfg)
                    rad2 = d2 / cfg.nm_per_px / 2
                    ang = rng.uniform(0, 2 * math.pi)
                    dist = (rad + rad2) * rng.uniform(0.95, 1.02)
                    cx2, cy2 = cx + dist * math.cos(ang), cy + dist * math.sin(ang)
                    if fits(cx2, cy2, rad2, allow_touch=[v]):
                        placed.append(_make_vesicle(rng, cx2, cy2, d2, cfg.nm_per_px))
                break

    n_agg = int(round(rng.uniform(*cfg.aggregates_per_um2) * px_area_um2))
    for _ in range(n_agg):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        members: List[_Vesicle] = []
        for _k in range(int(rng.integers(3, 7))):
            d = float(np.clip(rng.uniform(30, 60), cfg.min_diameter_nm, cfg.max_diameter_nm))
            rad = d / cfg.nm_per_px / 2
            for _attempt in range(12):
                if members:
                    anchor = members[int(rng.integers(0, len(members)))]
                    ang = rng.uniform(0, 2 * math.pi)
                    dist = (anchor.radius + rad) * rng.uniform(0.95, 1.02)
                    x, y = anchor.cx + dist * math.cos(ang), anchor.cy + dist * math.sin(ang)
                else:
                    x, y = cx, cy
                if fits(x, y, rad, allow_touch=members):
                    m = _make_vesicle(rng, x, y, d, cfg.nm_per_px)
                    members.append(m)
                    placed.append(m)
                    break

    for v in placed:
        v.render(img)

    n_debris = int(round(rng.uniform(*cfg.debris_per_um2) * px_area_um2))
    vesicle_mask = np.zeros((h, w), bool)
    for v in placed:
        x0, y0, x1, y1 = v.box()
        vesicle_mask[max(0, int(y0)):max(0, int(y1) + 1), max(0, int(x0)):max(0, int(x1) + 1)] = True
    _render_debris(rng, img, n_debris, cfg.nm_per_px, vesicle_mask | keep_out)

    img = ndimage.gaussian_filter(img, rng.uniform(0.5, 1.1))
    grain = rng.uniform(0.015, 0.045)
    img += grain * rng.standard_normal((h, w)).astype(np.float32)
    img += 0.5 * grain * ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), 1.0) * 2.0
    if cfg.scale_bar:
        _scale_bar(img, cfg.nm_per_px)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)

    boxes: List[Tuple[float, float, float, float]] = []
    diam: List[float] = []
    outlines: List[np.ndarray] = []
    for v in placed:
        x0, y0, x1, y1 = v.box()
        full_w, full_h = x1 - x0, y1 - y0
        cx0, cy0, cx1, cy1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
        if (cx1 - cx0) < 0.5 * full_w or (cy1 - cy0) < 0.5 * full_h:
            continue  # mostly outside the frame: an annotator would not box it either
        boxes.append((cx0, cy0, cx1, cy1))
        diam.append(math.sqrt(full_w * full_h) * cfg.nm_per_px)
        outline = v.outline()
        outline[:, 0] = np.clip(outline[:, 0], 0.0, float(w))
        outline[:, 1] = np.clip(outline[:, 1], 0.0, float(h))
        outlines.append(outline)
    arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Micrograph(image=img, boxes=arr, nm_per_px=cfg.nm_per_px, diameters_nm=np.asarray(diam, np.float32),
                      outlines=outlines)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def to_uint16(img: np.ndarray) -> np.ndarray:
    """A camera-like 16-bit range (not the full 0..65535): exercises per-image normalisation."""
    return np.clip(np.round(6000.0 + img * 46000.0), 0, 65535).astype(np.uint16)


def save_image(path: str, img: np.ndarray, nm_per_px: float, bit_depth: int = 8, jpeg_quality: int = 90) -> None:
    """PNG / JPEG (8-bit) or TIFF (8/16-bit, with resolution tags in pixels per centimetre)."""
    ext = os.path.splitext(path)[1].lower()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if bit_depth == 16:
        if ext not in (".tif", ".tiff", ".png"):
            raise ValueError(f"{path}: 16-bit output needs .tif or .png")
        pil = Image.fromarray(to_uint16(img), mode="I;16")
    elif bit_depth == 8:
        pil = Image.fromarray(to_uint8(img), mode="L")
    else:
        raise ValueError(f"{path}: bit depth {bit_depth} is not 8 or 16")
    if ext in (".tif", ".tiff"):
        # Uncompressed on purpose: PIL's own writer stores the rational exactly (20000000/3 for
        # 1.5 nm/px); libtiff (used for compressed output) rounds it through a float.
        px_per_cm = Fraction(1e7 / nm_per_px).limit_denominator(1000)
        pil.save(path, resolution=IFDRational(px_per_cm.numerator, px_per_cm.denominator), resolution_unit="cm")
    elif ext in (".jpg", ".jpeg"):
        pil.save(path, quality=jpeg_quality)
    elif ext == ".png":
        pil.save(path, optimize=True)
    else:
        raise ValueError(f"{path}: unsupported extension {ext}")


def flat_polygon(outline: Optional[np.ndarray]) -> Optional[List[float]]:
    """[V, 2] -> [x0, y0, x1, y1, ...] on a 1/100 px grid (COCO segmentation, truth.json polygon)."""
    return None if outline is None else [float(round(float(v), 2)) for v in np.asarray(outline).reshape(-1)]


def coco_document(entries: Sequence[Tuple], class_name: str = CLASS_NAME, info: Optional[Dict] = None) -> Dict:
    """entries: (file_name, width, height, boxes[M,4] x1y1x2y2[, outlines: M arrays [V, 2]]); outlines become segmentation."""
    images, anns = [], []
    for i, (name, w, h, boxes, *rest) in enumerate(entries, start=1):
        images.append({"id": i, "file_name": name, "width": int(w), "height": int(h)})
        outlines = rest[0] if rest else [None] * len(boxes)
        for b, outline in zip(boxes, outlines):
            x0, y0, x1, y1 = (float(round(float(v), 2)) for v in b)
            polygon = flat_polygon(outline)
            anns.append({
                "id": len(anns) + 1, "image_id": i, "category_id": 1,
                "bbox": [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)],
                "area": round((x1 - x0) * (y1 - y0), 2), "iscrowd": 0,
                **({"segmentation": [polygon]} if polygon else {}),
            })
    doc = {"info": info or {"description": "exodetect synthetic micrographs"}, "images": images,
           "annotations": anns, "categories": [{"id": 1, "name": class_name, "supercategory": "vesicle"}]}
    return doc


#: Where the generator's objects come from, in a truth document (there is no annotation file to point at).
TRUTH_SOURCE = "exodetect_train.synth"


def truth_document(entries: Sequence[Tuple], channel: str, dataset: str = "synthetic",
                   class_name: str = CLASS_NAME) -> Dict:
    """The canonical channel document (truth.json) for generated images: entries (file, width, height, boxes[M,4], nm/px
    [, outlines: M arrays [V, 2] or None]); an outline is the object's polygon."""
    from .annotations import TRUTH_FORMAT, TRUTH_VERSION
    images = []
    for name, w, h, boxes, nm, *rest in entries:
        outlines = rest[0] if rest else [None] * len(boxes)
        images.append({
            "file": name, "width": int(w), "height": int(h), "nm_per_px": float(nm), "nm_per_px_source": "dataset",
            "nm_per_px_detail": f"{TRUTH_SOURCE} (rendered at this scale)", "labelled_by": TRUTH_SOURCE, "source_image_id": None,
            "objects": [{"box": [float(round(float(v), 2)) for v in b], "class_name": class_name, "polygon": flat_polygon(outline),
                         "source": {"file": TRUTH_SOURCE, "line": None}} for b, outline in zip(boxes, outlines)],
        })
    return {"format": TRUTH_FORMAT, "version": TRUTH_VERSION, "dataset": dataset, "channel": channel,
            "class_names": [class_name], "declared_classes": [class_name], "images": images, "problems": [],
            "missing_images": []}


def yolo_lines(boxes: np.ndarray, w: int, h: int) -> str:
    out = []
    for x0, y0, x1, y1 in boxes:
        out.append(f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
    return "\n".join(out) + ("\n" if out else "")


def write_dataset(out_dir: str, count: int, cfg: SynthConfig = SynthConfig(), seed: int = 0,
                  ext: str = ".png", bit_depth: int = 8, labels: str = "coco", first_index: int = 0) -> Dict:
    """A labelled folder: images/ and one annotation set, so no box counts twice: labels="coco" writes
    annotations.coco.json + dataset.json, labels="yolo" labels/*.txt + classes.txt + dataset.json (both as a
    user's export, for exodetect's ingestion), labels="truth" a channel's truth.json (for the trainer directly)."""
    if labels not in ("coco", "yolo", "truth"):
        raise ValueError(f"labels must be 'coco', 'yolo' or 'truth', got {labels!r}")
    entries = []
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    for i in range(first_index, first_index + count):
        m = render(seed * 1_000_003 + i, cfg)
        name = f"images/synth_{i:05d}{ext}"
        save_image(os.path.join(out_dir, name), m.image, cfg.nm_per_px, bit_depth)
        entries.append((name, cfg.width, cfg.height, m.boxes, m.outlines))
        if labels == "yolo":
            os.makedirs(os.path.join(out_dir, "labels"), exist_ok=True)
            with open(os.path.join(out_dir, "labels", f"synth_{i:05d}.txt"), "w") as f:
                f.write(yolo_lines(m.boxes, cfg.width, cfg.height))
    doc = coco_document(entries)
    if labels == "truth":
        truth = truth_document([(n, w, h, b, cfg.nm_per_px, o) for n, w, h, b, o in entries], os.path.basename(os.path.normpath(out_dir)))
        with open(os.path.join(out_dir, "truth.json"), "w") as f:
            json.dump(truth, f)
        return doc
    if labels == "coco":
        with open(os.path.join(out_dir, "annotations.coco.json"), "w") as f:
            json.dump(doc, f)
    else:
        with open(os.path.join(out_dir, "classes.txt"), "w") as f:
            f.write(CLASS_NAME + "\n")
    with open(os.path.join(out_dir, "dataset.json"), "w") as f:
        json.dump({"nm_per_px": cfg.nm_per_px, "classes": [CLASS_NAME]}, f)
    return doc


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exodetect_train.synth", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--nm-per-px", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=["png", "jpg", "tif"], default="png")
    p.add_argument("--bit-depth", type=int, choices=[8, 16], default=8)
    p.add_argument("--labels", choices=["coco", "yolo", "truth"], default="coco",
                   help="annotation format to write (one, so that boxes are not counted twice); truth: a trainer channel")
    a = p.parse_args(argv)
    cfg = replace(SynthConfig(), width=a.size, height=a.size, nm_per_px=a.nm_per_px)
    doc = write_dataset(a.out, a.count, cfg, a.seed, "." + a.format, a.bit_depth, labels=a.labels)
    print(f"wrote {len(doc['images'])} images, {len(doc['annotations'])} boxes to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
