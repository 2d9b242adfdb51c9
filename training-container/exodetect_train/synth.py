"""Deterministic negative-stain TEM micrographs with ground-truth boxes.

A grid is drawn as a map of stain thickness (optical density, synth_objects.py) and then imaged:
carbon-film and stain grain, stain pools and gradients across the grid square, vesicles of the whole
size range (bright bodies with dark meniscus halos, cups, folds, stain-filled ones of the other
polarity, touching pairs and packed clusters, some on top of debris), and many things that are not
vesicles and are never labelled (protein specks and clumps, lipoprotein-like particles and lipid
droplets, stain crystals, membrane sheets, tubules and broken arcs, fibres). Then the microscope:
uneven illumination, blur, shot noise, the camera's offset, gain and gamma; last, burned-in scale bars
and text labels in several fonts (synth_overlays.py). Nothing here is copied or traced from a real image: every shape and every level is
drawn from the ranges below. The same seed gives the same image on any machine (numpy's PCG64 and
deterministic float maths; text glyphs come from the installed fonts).

Labels: one box per vesicle, around its membrane's outer edge widened by `box_margin` (annotators box
a vesicle with a margin: the stain halo included), clipped to the frame. Not labelled, as an annotator
would not box them: vesicles cut by the frame to less than half their width or height, and vesicles
that do not stand out from their surroundings (drowned in a stain pool, lost in noise).

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
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from scipy import ndimage

from .synth_objects import (Vesicle, VesicleLook, make_vesicle, render_arc, render_blob, render_clump, render_crystal, render_fibre, render_pool,
                            render_sheet, render_specks, render_tubule)
from .synth_overlays import BITMAP_FONT, TextStyle, available_fonts, burn_in, plan_overlays

CLASS_NAME = "exosome"


@dataclass(frozen=True)
class SynthConfig:
    """What one synthetic micrograph looks like. Defaults give a typical exosome prep."""

    width: int = 512
    height: int = 512
    nm_per_px: float = 1.5
    min_diameter_nm: float = 30.0
    max_diameter_nm: float = 150.0
    #: Each image draws its median vesicle diameter from this range (log-uniform), then vesicles around it.
    median_diameter_nm: Tuple[float, float] = (60.0, 100.0)
    #: Share of the field covered by vesicles (min, max; log-uniform per image).
    coverage: Tuple[float, float] = (0.02, 0.15)
    min_vesicles: int = 1
    #: Probability that a vesicle gets a touching partner.
    touching_probability: float = 0.2
    #: Packed clusters (3-12 vesicles) per square micrometre (min, max).
    clusters_per_um2: Tuple[float, float] = (0.0, 1.0)
    #: Multiplies the amount of everything that is not a vesicle (specks, clumps, lipoproteins, sheets, ...).
    debris: float = 1.0
    #: Label box = the membrane's outer edge widened by this factor about its centre.
    box_margin: float = 1.2
    scale_bar: bool = True
    #: Burned-in text lines besides the scale bar's label (min, max).
    info_labels: Tuple[int, int] = (0, 2)
    #: Draw all burned-in text in this style (default: a random font and style per element).
    text_style: Optional[TextStyle] = None
    #: The ranges each vesicle's stain features (halo, fringe) are drawn from.
    look: VesicleLook = VesicleLook()


@dataclass
class Micrograph:
    """A rendered image in linear 0..1 intensity and its labelled vesicles."""

    image: np.ndarray  # float32 [H, W], 0..1
    boxes: np.ndarray  # float32 [M, 4] x1, y1, x2, y2 in px
    nm_per_px: float
    diameters_nm: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # of the membranes
    #: Per box, the vesicle's true outline: float32 [V, 2] x, y px (its membrane's outer edge, clipped to the frame).
    outlines: List[np.ndarray] = field(default_factory=list)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def _smooth_noise(rng: np.random.Generator, shape: Tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-sd noise with features of ~sigma px (drawn coarse and enlarged when sigma is large)."""
    h, w = shape
    step = max(1, int(sigma // 4))
    coarse = rng.standard_normal((h // step + 2, w // step + 2)).astype(np.float32)
    n = ndimage.gaussian_filter(coarse, sigma / step, mode="wrap")
    if step > 1:
        n = ndimage.zoom(n, step, order=1)
    n = n[:h, :w]
    sd = float(n.std())
    return (n - float(n.mean())) / (sd if sd > 0 else 1.0)


def _background(rng: np.random.Generator, h: int, w: int, nm_per_px: float) -> Tuple[np.ndarray, np.ndarray]:
    """Stain density of the empty grid, and the fine grain field (objects reuse it for their texture)."""
    density = np.full((h, w), rng.uniform(0.3, 1.2), np.float32)
    # Stain pools: a smooth field pushed through a soft threshold, so pools have edges and thin areas stay thin.
    pools = _smooth_noise(rng, (h, w), _loguniform(rng, 100.0, 600.0) / nm_per_px)
    density += rng.uniform(0.0, 0.9) * np.logaddexp(0.0, (pools - rng.uniform(-0.5, 1.5)) / rng.uniform(0.2, 0.8)) / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    grad = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
    density += rng.uniform(-0.4, 0.4) * (grad - float(grad.mean()))
    density += rng.uniform(0.0, 0.12) * _smooth_noise(rng, (h, w), max(1.0, rng.uniform(8.0, 40.0) / nm_per_px))
    # Carbon film and stain grain: a few nm, i.e. one to a few px.
    grain = 0.6 * _smooth_noise(rng, (h, w), max(0.5, rng.uniform(1.0, 2.5) / nm_per_px))
    grain += 0.4 * _smooth_noise(rng, (h, w), max(0.7, rng.uniform(3.0, 8.0) / nm_per_px))
    density += rng.uniform(0.02, 0.2) * grain
    return density, grain


def _image(rng: np.random.Generator, density: np.ndarray) -> np.ndarray:
    """The microscope and camera: illumination, blur, shot noise, offset, gain and gamma -> 0..1."""
    h, w = density.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    vignette = 1.0 - rng.uniform(0.0, 0.25) * (((xx - cx) ** 2 + (yy - cy) ** 2) / float(h * h + w * w))
    img = vignette * np.exp(-density)
    sy = rng.uniform(0.4, 1.4)
    sx = sy * (rng.uniform(0.7, 1.4) if rng.random() < 0.25 else 1.0)
    img = ndimage.gaussian_filter(img, (sy, sx))
    dose = _loguniform(rng, 20.0, 500.0)  # electrons per pixel at full brightness
    img = img + np.sqrt(np.maximum(img, 0.0) / dose) * rng.standard_normal((h, w)).astype(np.float32)
    if rng.random() < 0.4:  # the camera's own blur correlates neighbouring pixels' noise
        img = ndimage.gaussian_filter(img, rng.uniform(0.3, 0.7))
    lo, hi = (float(v) for v in np.percentile(img, [0.5, 99.5]))
    out_lo, out_hi = rng.uniform(0.0, 0.3), rng.uniform(0.6, 1.02)
    img = out_lo + (img - lo) * (out_hi - out_lo) / max(hi - lo, 1e-6)
    img = np.clip(img, 0.0, 1.0) ** _loguniform(rng, 0.75, 1.35)
    return img.astype(np.float32)


def _diameter_nm(rng: np.random.Generator, cfg: SynthConfig, median: float, spread: float) -> float:
    # No vesicle wider than 40% of the field: an operator picks a magnification that shows it whole.
    largest = min(cfg.max_diameter_nm, max(cfg.min_diameter_nm, 0.4 * min(cfg.width, cfg.height) * cfg.nm_per_px))
    return float(np.clip(math.exp(rng.normal(math.log(median), spread)), cfg.min_diameter_nm, largest))


class _Placer:
    """Puts vesicles where they fit: mostly inside the frame, clear of burned-in text, no real overlap."""

    def __init__(self, w: int, h: int, keep_out: Sequence[Tuple[int, int, int, int]]):
        self.w, self.h, self.keep_out = w, h, list(keep_out)
        self.placed: List[Vesicle] = []

    def fits(self, cx: float, cy: float, rad: float, touching: Sequence[Vesicle] = ()) -> bool:
        if cx < -0.2 * rad or cy < -0.2 * rad or cx > self.w + 0.2 * rad or cy > self.h + 0.2 * rad:
            return False
        for x0, y0, x1, y1 in self.keep_out:
            if cx + rad > x0 and cx - rad < x1 and cy + rad > y0 and cy - rad < y1:
                return False
        for v in self.placed:
            limit = (0.9 if any(v is t for t in touching) else 1.08) * (v.radius + rad)
            if math.hypot(v.cx - cx, v.cy - cy) < limit:
                return False
        return True

    def add(self, v: Vesicle) -> Vesicle:
        self.placed.append(v)
        return v


def _place_vesicles(rng: np.random.Generator, cfg: SynthConfig, placer: _Placer, density: np.ndarray) -> None:
    w, h, nm = cfg.width, cfg.height, cfg.nm_per_px
    area_um2 = (w * nm / 1000.0) * (h * nm / 1000.0)
    median = _loguniform(rng, *cfg.median_diameter_nm)
    spread = rng.uniform(0.12, 0.45)
    mean_area = math.pi / 4 * (median / nm) ** 2 * math.exp(2 * spread ** 2)
    n_single = max(cfg.min_vesicles, int(round(_loguniform(rng, *cfg.coverage) * w * h / mean_area)))
    pool_chance = rng.uniform(0.0, 0.8)

    def pool_under(cx: float, cy: float, rad: float) -> None:
        if rng.random() < pool_chance:
            render_pool(density, cx, cy, rad * rng.uniform(1.3, 4.0), rng.uniform(0.1, 0.8), rng.uniform(0.5, 1.0), rng.uniform(0, math.pi))

    for i in range(n_single):
        for _attempt in range(40):
            d = _diameter_nm(rng, cfg, median, spread)
            rad = d / nm / 2
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            if not placer.fits(cx, cy, rad):
                continue
            v = placer.add(make_vesicle(rng, cx, cy, d, nm, cfg.look))
            pool_under(cx, cy, rad)
            if rng.random() < cfg.touching_probability:
                d2 = _diameter_nm(rng, cfg, median, spread)
                rad2 = d2 / nm / 2
                ang = rng.uniform(0, 2 * math.pi)
                dist = (rad + rad2) * rng.uniform(0.92, 1.02)
                x2, y2 = cx + dist * math.cos(ang), cy + dist * math.sin(ang)
                if placer.fits(x2, y2, rad2, touching=[v]):
                    placer.add(make_vesicle(rng, x2, y2, d2, nm, cfg.look))
            break

    for _ in range(int(round(rng.uniform(*cfg.clusters_per_um2) * area_um2))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        members: List[Vesicle] = []
        for _k in range(int(rng.integers(3, 13))):
            d = _diameter_nm(rng, cfg, median * rng.uniform(0.6, 1.0), spread)
            rad = d / nm / 2
            for _attempt in range(15):
                if members:
                    anchor = members[int(rng.integers(0, len(members)))]
                    ang = rng.uniform(0, 2 * math.pi)
                    dist = (anchor.radius + rad) * rng.uniform(0.9, 1.0)
                    x, y = anchor.cx + dist * math.cos(ang), anchor.cy + dist * math.sin(ang)
                else:
                    x, y = cx, cy
                if placer.fits(x, y, rad, touching=members):
                    members.append(placer.add(make_vesicle(rng, x, y, d, nm, cfg.look)))
                    break
        if members:
            xs = [m.cx for m in members]
            ys = [m.cy for m in members]
            spread_px = max(max(xs) - min(xs), max(ys) - min(ys)) / 2 + members[0].radius
            pool_under(float(np.mean(xs)), float(np.mean(ys)), spread_px / 1.5)


def _render_debris(rng: np.random.Generator, cfg: SynthConfig, density: np.ndarray, vesicles: Sequence[Vesicle]) -> None:
    """Everything that is not a vesicle. Sheets, fibres and specks may lie under or over vesicles;
    lipoprotein-like particles and protein clumps keep off them (they would change what a vesicle looks like)."""
    w, h, nm = cfg.width, cfg.height, cfg.nm_per_px
    area_um2 = (w * nm / 1000.0) * (h * nm / 1000.0)

    def count(lo: float, hi: float) -> int:
        return int(rng.poisson(cfg.debris * _loguniform(rng, lo, hi) * area_um2))

    def clear(x: float, y: float, r: float) -> bool:
        return all(math.hypot(v.cx - x, v.cy - y) > v.radius + r + 2 for v in vesicles)

    for _ in range(count(0.05, 1.5)):
        render_sheet(rng, density, nm)
    for _ in range(count(0.1, 3.0)):
        render_fibre(rng, density, nm)
    for _ in range(count(0.1, 3.0)):
        render_arc(rng, density, nm)
    for _ in range(count(0.05, 1.5)):
        render_tubule(rng, density, nm)
    for _ in range(count(0.5, 40.0)):
        render_crystal(rng, density, nm)
    render_specks(rng, density, count(5.0, 400.0), nm)
    for _ in range(count(0.1, 4.0)):  # protein aggregates (loose specks), often in a pool of stain
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(15.0, 120.0) / nm
        if clear(x, y, r):
            if rng.random() < 0.6:
                render_pool(density, x, y, r * rng.uniform(1.0, 2.5), rng.uniform(0.1, 0.6), rng.uniform(0.5, 1.0), rng.uniform(0, math.pi))
            render_specks(rng, density, int(rng.integers(8, 60)), nm, centre=(x, y), spread_px=r / 2)
    def blobs(n: int, r_nm: Tuple[float, float], amount: Tuple[float, float], soft: Tuple[float, float], min_soft: float,
              halo: Tuple[float, float], halo_soft: Tuple[float, float], min_aspect: float) -> None:
        """n homogeneous round particles (no membrane line, no cup) of radius r_nm, clear of the vesicles; soft and
        halo_soft are the edge and halo widths as fractions of the radius."""
        for _ in range(n):
            r = rng.uniform(*r_nm) / nm
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            if clear(x, y, r):
                render_blob(density, x, y, r, rng.uniform(*amount), max(min_soft, rng.uniform(*soft) * r),
                            halo=rng.uniform(*halo), halo_px=max(0.8, rng.uniform(*halo_soft) * r),
                            aspect=rng.uniform(min_aspect, 1.0), theta=rng.uniform(0, math.pi))

    # Lipoprotein-like particles: small, bright, often with a halo.
    blobs(count(1.0, 30.0), (10.0, 60.0), (0.1, 0.6), (0.05, 0.25), 0.6, (0.0, 0.5), (0.05, 0.3), 0.8)
    for _ in range(count(0.5, 20.0)):  # protein clumps: bright, granular
        r = rng.uniform(15.0, 75.0) / nm
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        if clear(x, y, r):
            render_clump(rng, density, x, y, r)
    # Lipid droplets: pale, soft-edged, 90-300 nm.
    blobs(count(0.1, 3.0), (45.0, 150.0), (0.05, 0.35), (0.03, 0.15), 0.8, (0.0, 0.15), (0.03, 0.1), 0.7)

def _label(v: Vesicle, w: int, h: int, margin: float) -> Optional[Tuple[Tuple[float, float, float, float], float]]:
    """The vesicle's box (widened by the margin, clipped to the frame) and membrane diameter in px; None when mostly outside."""
    x0, y0, x1, y1 = v.extent()
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * margin, (y1 - y0) / 2 * margin
    bx0, by0, bx1, by1 = cx - hw, cy - hh, cx + hw, cy + hh
    vis_w = min(float(w), x1) - max(0.0, x0)
    vis_h = min(float(h), y1) - max(0.0, y0)
    if vis_w < 0.5 * (x1 - x0) or vis_h < 0.5 * (y1 - y0):
        return None  # an annotator would not box it either
    box = (max(0.0, bx0), max(0.0, by0), min(float(w), bx1), min(float(h), by1))
    return box, math.sqrt((x1 - x0) * (y1 - y0))


def render(seed: int, cfg: SynthConfig = SynthConfig()) -> Micrograph:
    """One micrograph; the same (seed, cfg) always gives the same pixels and boxes."""
    rng = np.random.default_rng(np.random.SeedSequence([20261201, int(seed)]))
    h, w = cfg.height, cfg.width
    stamps = plan_overlays(rng, w, h, cfg.nm_per_px, cfg.scale_bar, int(rng.integers(cfg.info_labels[0], cfg.info_labels[1] + 1)),
                           cfg.text_style)
    density, grain = _background(rng, h, w, cfg.nm_per_px)
    placer = _Placer(w, h, [s.box for s in stamps])
    _place_vesicles(rng, cfg, placer, density)
    _render_debris(rng, cfg, density, placer.placed)
    for v in placer.placed:
        v.render(density, grain)
    img = _image(rng, density)
    seen = [v for v in placer.placed if v.visible(img)]
    burn_in(img, stamps)
    boxes: List[Tuple[float, float, float, float]] = []
    diam: List[float] = []
    outlines: List[np.ndarray] = []
    for v in seen:
        lab = _label(v, w, h, cfg.box_margin)
        if lab is not None:
            boxes.append(lab[0])
            diam.append(lab[1] * cfg.nm_per_px)
            outline = v.outline(64)
            outline[:, 0] = np.clip(outline[:, 0], 0.0, float(w))
            outline[:, 1] = np.clip(outline[:, 1], 0.0, float(h))
            outlines.append(outline)
    arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Micrograph(image=np.clip(img, 0.0, 1.0).astype(np.float32), boxes=arr, nm_per_px=cfg.nm_per_px,
                      diameters_nm=np.asarray(diam, np.float32), outlines=outlines)


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


#: An empty grid: background, grain, pools and gradients, burned-in text, nothing else.
EMPTY_GRID = SynthConfig(coverage=(0.0, 0.0), min_vesicles=0, clusters_per_um2=(0.0, 0.0), debris=0.0, info_labels=(1, 3))


def write_text_only_images(out_dir: str, fonts: Sequence[str], per_font: int = 2, size: int = 512, nm_per_px: float = 2.0,
                           seed: int = 0) -> List[Dict]:
    """Empty grids with only a scale bar and text labels, all in one font each (upright, then slanted): images
    on which a detector must find nothing. Writes out_dir/<n>.png and text-only.json (file, font, slant)."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for f, font in enumerate(fonts):
        for k in range(per_font):
            style = TextStyle(font=font, slant=0.2 if k % 2 else 0.0)
            cfg = replace(EMPTY_GRID, width=size, height=size, nm_per_px=nm_per_px, text_style=style)
            m = render(seed * 1_000_003 + f * 100 + k, cfg)
            name = f"text-only-{f:02d}-{k}.png"
            save_image(os.path.join(out_dir, name), m.image, nm_per_px)
            written.append({"file": name, "font": font, "slant": style.slant, "boxes": len(m.boxes)})
    with open(os.path.join(out_dir, "text-only.json"), "w") as fh:
        json.dump({"nm_per_px": nm_per_px, "images": written}, fh, indent=1)
    return written


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
    p.add_argument("--text-only", action="store_true",
                   help="empty grids with only burned-in scale bars and text, two per font (no labels; text-only.json lists them)")
    p.add_argument("--font", action="append", default=None,
                   help="with --text-only: a TrueType font file or 'pil-bitmap' (repeatable; default: every font the generator uses)")
    a = p.parse_args(argv)
    if a.text_only:
        fonts = a.font or list(available_fonts())
        missing = [f for f in fonts if f != BITMAP_FONT and not os.path.exists(f)]
        if missing:
            p.error(f"font file(s) not found: {', '.join(missing)}")
        written = write_text_only_images(a.out, fonts, size=a.size, nm_per_px=a.nm_per_px, seed=a.seed)
        print(f"wrote {len(written)} text-only images in {len(fonts)} fonts to {a.out}")
        return 0
    cfg = replace(SynthConfig(), width=a.size, height=a.size, nm_per_px=a.nm_per_px)
    doc = write_dataset(a.out, a.count, cfg, a.seed, "." + a.format, a.bit_depth, labels=a.labels)
    print(f"wrote {len(doc['images'])} images, {len(doc['annotations'])} boxes to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
