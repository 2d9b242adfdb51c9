"""Image I/O, resampling to the training scale, and TEM augmentation.

Augmentation is chosen for negative-stain micrographs: the stain polarity never flips
(no inversion), but orientation is arbitrary (flips, 90-degree rotations), magnification
calibration is a little off (scale jitter), exposure and camera differ (brightness,
contrast, gamma, noise, blur).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage


class ImageReadError(ValueError):
    pass


def read_image(path: str) -> np.ndarray:
    """Grey float32 [H, W] in 0..1: 8-bit / 255, 16-bit / 65535 (the model contract's scaling)."""
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                arr = np.asarray(im, dtype=np.uint16).astype(np.float32) / 65535.0
            elif mode == "I":
                a = np.asarray(im, dtype=np.int64)
                arr = a.astype(np.float32) / (65535.0 if a.max() > 255 else 255.0)
            elif mode == "F":
                a = np.asarray(im, dtype=np.float32)
                hi = float(a.max()) if a.size else 1.0
                arr = a / (65535.0 if hi > 255 else 255.0 if hi > 1 else 1.0)
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except Exception as e:  # PIL raises many types for broken files
        raise ImageReadError(f"{path}: unreadable image ({type(e).__name__}: {e})") from e
    if arr.ndim != 2:
        raise ImageReadError(f"{path}: expected a single grey page, got shape {arr.shape}")
    return np.clip(arr, 0.0, 1.0)


def resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Antialiased bilinear resize of a float image (PIL's 'F' mode keeps float precision)."""
    if img.shape == (out_h, out_w):
        return img
    pil = Image.fromarray(img.astype(np.float32), mode="F")
    return np.array(pil.resize((out_w, out_h), Image.BILINEAR), dtype=np.float32)  # writable copy


def resample_to_scale(img: np.ndarray, image_nm_per_px: float, target_nm_per_px: float) -> Tuple[np.ndarray, float]:
    """Returns the image at target_nm_per_px and the factor applied to pixel coordinates."""
    factor = image_nm_per_px / target_nm_per_px
    if abs(factor - 1.0) < 1e-6:
        return img, 1.0
    h, w = img.shape
    nh, nw = max(1, int(round(h * factor))), max(1, int(round(w * factor)))
    return resize(img, nh, nw), nw / w  # the realised factor (rounding)


def pad_to_multiple(img: np.ndarray, multiple: int = 32, min_size: int = 32) -> np.ndarray:
    """Edge-replicates to the bottom/right so both sides are multiples of `multiple` (boxes keep their px)."""
    h, w = img.shape
    nh = max(min_size, int(math.ceil(h / multiple) * multiple))
    nw = max(min_size, int(math.ceil(w / multiple) * multiple))
    if (nh, nw) == (h, w):
        return img
    return np.pad(img, ((0, nh - h), (0, nw - w)), mode="edge")


def random_crop(rng: np.random.Generator, img: np.ndarray, boxes: np.ndarray, classes: np.ndarray,
                crop: int, scale_jitter: float, min_visible: float = 0.45, rays: Optional[np.ndarray] = None):
    """A crop x crop window (after a random rescale by up to +-scale_jitter), preferring windows with objects.

    Objects cut by the window keep their clipped box when at least min_visible of their area
    stays inside; smaller remnants are dropped (an annotator would not box them either).
    With `rays` ([M, R + 1]: outline ray distances in px, then the target's weight; outline.py) the
    kept objects' rays come back as a fourth value, rescaled, with weight 0 for objects the window cuts.
    """
    s = math.exp(rng.uniform(math.log(1 - scale_jitter), math.log(1 + scale_jitter))) if scale_jitter > 0 else 1.0
    src = crop / s  # window size in source px
    h, w = img.shape
    if len(boxes) and rng.random() < 0.7:
        b = boxes[int(rng.integers(0, len(boxes)))]
        cx = rng.uniform(b[0], b[2]) + rng.uniform(-0.4, 0.4) * src
        cy = rng.uniform(b[1], b[3]) + rng.uniform(-0.4, 0.4) * src
        x0, y0 = cx - src / 2, cy - src / 2
    else:
        x0 = rng.uniform(min(0.0, w - src), max(0.0, w - src))
        y0 = rng.uniform(min(0.0, h - src), max(0.0, h - src))
    x0 = float(np.clip(x0, min(0.0, w - src), max(0.0, w - src)))
    y0 = float(np.clip(y0, min(0.0, h - src), max(0.0, h - src)))
    # Affine sample: output pixel (u, v) <- source (x0 + u / s, y0 + v / s); outside: edge value.
    out = ndimage.affine_transform(img, np.diag([1 / s, 1 / s]), offset=[y0 + 0.5 / s - 0.5, x0 + 0.5 / s - 0.5],
                                   output_shape=(crop, crop), order=1, mode="nearest")
    if len(boxes) == 0:
        empty = (out.astype(np.float32), boxes.reshape(0, 4), classes)
        return empty if rays is None else empty + (rays[:0],)
    nb = (boxes - np.array([x0, y0, x0, y0], np.float32)) * s
    clipped = np.clip(nb, 0, crop)
    area = (nb[:, 2] - nb[:, 0]) * (nb[:, 3] - nb[:, 1])
    vis = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (vis >= min_visible * np.maximum(area, 1e-6)) & (clipped[:, 2] - clipped[:, 0] >= 2) & (clipped[:, 3] - clipped[:, 1] >= 2)
    result = (out.astype(np.float32), clipped[keep].astype(np.float32), classes[keep])
    if rays is None:
        return result
    scaled = rays.astype(np.float32)
    scaled[:, :-1] *= s
    scaled[np.any(nb != clipped, axis=1), -1] = 0.0  # cut by the window: its box centre is not its centre
    return result + (scaled[keep],)


def flip_rotate(rng: np.random.Generator, img: np.ndarray, boxes: np.ndarray, rays: Optional[np.ndarray] = None):
    """Random flips and quarter turns; with `rays` (outline.py) their directions turn with the pixels (third value)."""
    from .outline import flip_rays, rotate_rays  # outline imports torch; keep this module light
    h, w = img.shape
    b = boxes.copy()
    r = rays
    if rng.random() < 0.5:
        img = img[:, ::-1]
        b[:, [0, 2]] = w - b[:, [2, 0]]
        r = flip_rays(r, horizontal=True) if r is not None else None
    if rng.random() < 0.5:
        img = img[::-1, :]
        b[:, [1, 3]] = h - b[:, [3, 1]]
        r = flip_rays(r, horizontal=False) if r is not None else None
    k = int(rng.integers(0, 4))
    for _ in range(k):  # rotate 90 degrees counter-clockwise: (x, y) -> (y, W - x)
        h, w = img.shape
        img = np.rot90(img)
        b = np.stack([b[:, 1], w - b[:, 2], b[:, 3], w - b[:, 0]], axis=1) if len(b) else b
        r = rotate_rays(r) if r is not None else None
    if rays is None:
        return np.ascontiguousarray(img), b.astype(np.float32)
    return np.ascontiguousarray(img), b.astype(np.float32), r


def photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    out = img
    if rng.random() < 0.8:
        gamma = math.exp(rng.uniform(math.log(0.7), math.log(1.4)))
        out = np.clip(out, 0, 1) ** gamma
    if rng.random() < 0.8:
        mean = float(out.mean())
        out = (out - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-0.15, 0.15)
    if rng.random() < 0.3:
        out = ndimage.gaussian_filter(out, rng.uniform(0.3, 1.3))
    if rng.random() < 0.5:
        out = out + rng.normal(0.0, rng.uniform(0.005, 0.05), out.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
