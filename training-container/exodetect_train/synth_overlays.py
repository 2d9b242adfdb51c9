"""Burned-in annotations of synthetic micrographs: scale bars and text labels in several fonts.

Microscope software prints a scale bar with its length ("200 nm", "0.5 µm"), often on a box of the
opposite shade, and info lines (magnification, voltage, camera, sample name). Their digits and letters
(0, o, O, 8, e, ...) are round and dark-rimmed, just like a vesicle: the generator draws them in many
fonts, sizes, shades and places so that the detector learns they are never vesicles. They are drawn
after the optics and the detector noise (the software burns them into the finished image).
"""
from __future__ import annotations

import math
import os
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: TrueType fonts looked for (Debian's fonts-dejavu-core: scripts/install-system-deps.sh and the training
#: image install it); PIL's built-in bitmap font is always there besides them. Each is drawn upright or
#: slanted, narrow or wide, regular or heavier, so the few files give many looks. Missing files are
#: skipped (the generator still draws text, from fewer fonts).
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
BITMAP_FONT = "pil-bitmap"

Box = Tuple[int, int, int, int]


@lru_cache(maxsize=None)
def available_fonts() -> Tuple[str, ...]:
    """Paths of the TrueType fonts found, then BITMAP_FONT (PIL's built-in font, scaled up when drawn)."""
    found = [os.path.join(d, f) for f in FONT_FILES for d in FONT_DIRS if os.path.exists(os.path.join(d, f))]
    return tuple(found) + (BITMAP_FONT,)


@dataclass(frozen=True)
class TextStyle:
    font: str
    slant: float = 0.0  # horizontal shear (italic: ~0.2)
    stretch: float = 1.0  # width factor (condensed < 1 < wide)
    heavier: int = 0  # px of dilation (bolder)


def random_style(rng: np.random.Generator) -> TextStyle:
    fonts = available_fonts()
    return TextStyle(font=fonts[int(rng.integers(0, len(fonts)))],
                     slant=float(rng.uniform(0.1, 0.3)) if rng.random() < 0.25 else 0.0,
                     stretch=float(rng.uniform(0.75, 1.3)) if rng.random() < 0.3 else 1.0,
                     heavier=int(rng.random() < 0.2))


def render_text(text: str, style: TextStyle, height_px: int) -> np.ndarray:
    """Coverage mask (float32 0..1) of `text` in `style`, about height_px high."""
    mask = _glyphs(text, style.font, height_px)
    if style.stretch != 1.0:
        mask = mask.resize((max(1, int(round(mask.width * style.stretch))), mask.height), Image.BILINEAR)
    if style.slant:
        extra = int(math.ceil(style.slant * mask.height))
        mask = mask.transform((mask.width + extra, mask.height), Image.AFFINE,
                              (1, style.slant, -extra, 0, 1, 0), resample=Image.BILINEAR)
    out = np.asarray(mask, np.float32) / 255.0
    for _ in range(style.heavier):
        out = np.maximum.reduce([out, np.roll(out, 1, 0), np.roll(out, 1, 1)])
    return out


def _glyphs(text: str, font: str, height_px: int) -> Image.Image:
    if font == BITMAP_FONT:
        small_font = ImageFont.load_default()
        w, h = small_font.getbbox(text)[2:]
        small = Image.new("L", (w + 2, h + 2), 0)
        ImageDraw.Draw(small).text((1, 1), text, fill=255, font=small_font)
        scale = max(1, int(round(height_px / 8)))
        mask = small.resize((small.width * scale, small.height * scale), Image.NEAREST)
    else:
        ttf = ImageFont.truetype(font, max(6, int(round(height_px * 1.35))))
        x0, y0, x1, y1 = ttf.getbbox(text)
        mask = Image.new("L", (x1 - x0 + 2, y1 - y0 + 2), 0)
        ImageDraw.Draw(mask).text((1 - x0, 1 - y0), text, fill=255, font=ttf)
    return mask


def scale_bar_length_nm(width_px: int, nm_per_px: float, fraction: float) -> float:
    """A round length near `fraction` of the image width, as microscope software picks it."""
    target = fraction * width_px * nm_per_px
    candidates = [10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000]
    return float(min(candidates, key=lambda c: abs(math.log(c / target))))


def scale_bar_label(length_nm: float, rng: np.random.Generator) -> str:
    space = " " if rng.random() < 0.7 else ""
    if length_nm >= 500 and rng.random() < 0.7:
        um = length_nm / 1000
        return f"{um:g}{space}{'µm' if rng.random() < 0.6 else 'um'}"
    return f"{length_nm:g}{space}nm"


def info_label(rng: np.random.Generator, nm_per_px: float) -> str:
    """A line of acquisition info, or letters and digits at random (round glyphs included on purpose)."""
    mag = int(round(2.0e5 / nm_per_px, -3))
    choices = [
        f"x{mag:,}".replace(",", "" if rng.random() < 0.5 else ","), f"{mag // 1000}k", f"Mag = {mag}x",
        f"HV={rng.choice([80, 100, 120, 200])}.0kV", f"{rng.choice([80, 100, 120])} kV", "Direct Mag",
        f"Cam: {rng.choice(['2k', '4k', 'Orius', 'Veleta', 'OneView'])}", "TEM Mode: Imaging",
        f"EV{int(rng.integers(1, 99))}-{int(rng.integers(1, 40))}", f"{int(rng.integers(1, 31)):02d}/{int(rng.integers(1, 13)):02d}/2024",
        f"Print Mag: {mag // 10}x @ 7.0 in", f"{nm_per_px:.2f} nm/pix",
    ]
    if rng.random() < 0.35:
        alphabet = string.ascii_letters + string.digits + "oO0Q8@%.-"
        return "".join(rng.choice(list(alphabet)) for _ in range(int(rng.integers(2, 10))))
    return str(choices[int(rng.integers(0, len(choices)))])


@dataclass(frozen=True)
class Stamp:
    """One burned-in element: a coverage mask placed at (x, y), in one shade, maybe on a backing box."""

    mask: np.ndarray
    x: int
    y: int
    shade: float
    backing: Optional[float] = None  # shade of a filled box behind it
    pad: int = 0

    @property
    def box(self) -> Box:
        h, w = self.mask.shape
        return self.x - self.pad, self.y - self.pad, self.x + w + self.pad, self.y + h + self.pad


def _bar_with_label(rng: np.random.Generator, w: int, h: int, nm_per_px: float, style: TextStyle) -> np.ndarray:
    """Mask of a scale bar and its label (above, below or beside it)."""
    length_nm = scale_bar_length_nm(w, nm_per_px, rng.uniform(0.08, 0.3))
    length_px = max(8, int(round(length_nm / nm_per_px)))
    thick = max(2, int(round(rng.uniform(0.004, 0.014) * h)))
    text_h = max(7, int(round(rng.uniform(0.012, 0.04) * h)))
    label = render_text(scale_bar_label(length_nm, rng), style, text_h)
    lh, lw = label.shape
    gap = max(1, int(round(rng.uniform(0.2, 0.8) * text_h)))
    layout = rng.choice(["above", "below", "right"], p=[0.5, 0.3, 0.2])
    if layout == "right":
        out = np.zeros((max(lh, thick), length_px + gap + lw), np.float32)
        out[(out.shape[0] - thick) // 2:(out.shape[0] - thick) // 2 + thick, :length_px] = 1.0
        out[(out.shape[0] - lh) // 2:(out.shape[0] - lh) // 2 + lh, length_px + gap:] = label
        return out
    out = np.zeros((lh + gap + thick, max(length_px, lw)), np.float32)
    bx, lx = (out.shape[1] - length_px) // 2, (out.shape[1] - lw) // 2
    if rng.random() < 0.3:  # end ticks
        tick = max(thick, int(round(thick * rng.uniform(1.5, 3))))
        out = np.pad(out, ((tick, 0), (0, 0)))
    bar_y, label_y = (out.shape[0] - thick, 0) if layout == "above" else (0, thick + gap)
    out[bar_y:bar_y + thick, bx:bx + length_px] = 1.0
    out[label_y:label_y + lh, lx:lx + lw] = np.maximum(out[label_y:label_y + lh, lx:lx + lw], label)
    return out


def plan_overlays(rng: np.random.Generator, w: int, h: int, nm_per_px: float, scale_bar: bool, info_labels: int,
                  style: Optional[TextStyle] = None) -> List[Stamp]:
    """Where the burned-in elements go (planned before the scene so vesicles can keep clear of them);
    text in `style`, else in a random style per element."""
    stamps: List[Stamp] = []
    dark_on_light = rng.random() < 0.6
    shade = 0.02 if dark_on_light else 0.98
    backing = (1.0 - shade) if rng.random() < 0.35 else None
    margin = int(round(rng.uniform(0.01, 0.04) * min(w, h)))
    corners = ["br", "bl", "tr", "tl"]
    corner_order = ["br"] + [c for c in rng.permutation(corners[1:])] if rng.random() < 0.7 else list(rng.permutation(corners))

    def place(mask: np.ndarray, corner: str, pad: int) -> Optional[Stamp]:
        mh, mw = mask.shape
        if mw + 2 * margin >= w or mh + 2 * margin >= h:
            return None
        x = w - margin - mw if corner[1] == "r" else margin
        y = h - margin - mh if corner[0] == "b" else margin
        return Stamp(mask, x, y, shade, backing, pad)

    pad = max(2, int(round(0.006 * min(w, h))))
    if scale_bar:
        s = place(_bar_with_label(rng, w, h, nm_per_px, style or random_style(rng)), corner_order[0], pad)
        if s is not None:
            stamps.append(s)
    for k in range(info_labels):
        text_h = max(7, int(round(rng.uniform(0.012, 0.035) * h)))
        mask = render_text(info_label(rng, nm_per_px), style or random_style(rng), text_h)
        corner = corner_order[(k + 1) % len(corner_order)]
        s = place(mask, corner, pad)
        if s is None:
            continue
        # Stack below/above anything already in that corner.
        for other in stamps:
            if _overlap(s.box, other.box):
                dy = (other.box[3] - s.box[1] + 2) if corner[0] == "t" else -(s.box[3] - other.box[1] + 2)
                s = Stamp(s.mask, s.x, s.y + dy, s.shade, s.backing, s.pad)
        if 0 <= s.box[1] and s.box[3] <= h and not any(_overlap(s.box, o.box) for o in stamps):
            stamps.append(s)
    return stamps


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def burn_in(img: np.ndarray, stamps: Sequence[Stamp]) -> None:
    """Draws the planned elements into img (in place, linear 0..1)."""
    h, w = img.shape
    for s in stamps:
        if s.backing is not None:
            x0, y0, x1, y1 = (max(0, v) for v in s.box)
            img[y0:min(h, y1), x0:min(w, x1)] = s.backing
        mh, mw = s.mask.shape
        region = img[s.y:s.y + mh, s.x:s.x + mw]
        m = s.mask[:region.shape[0], :region.shape[1]]
        region[...] = region * (1.0 - m) + s.shade * m
