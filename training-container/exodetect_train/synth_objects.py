"""The objects on a synthetic negative-stain grid, drawn as stain thickness (optical density).

Negative stain is a thin film of heavy-metal salt that dries around whatever lies on the carbon film:
where it is thick the image is dark, where an object keeps it away the image is bright. Every object
here adds to or takes from a density map D (the image is exp(-D) later), which gives the look of real
grids without drawing it by hand:

- a vesicle keeps stain out of its body (bright), the stain piles up at its edge (a dark meniscus
  halo, sometimes a wide pool), its membrane is a thin bright line; dried vesicles collapse into cups
  (stain in a central or off-centre dip), fold (a dark crease), or let stain in (dark interior inside
  a bright membrane: the other polarity);
- things that are not vesicles (hard negatives, never labelled): protein specks and their clumps,
  lipoprotein-like particles and lipid droplets (round and bright but homogeneous, without a membrane
  or a cup), stain crystals, membrane sheets and fragments, broken membrane arcs, membrane tubules
  (elongated, bent), fibres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from scipy import ndimage

Box = Tuple[float, float, float, float]


def _patch(shape: Tuple[int, int], cx: float, cy: float, reach: float):
    """Index window around (cx, cy) and the pixel-centre coordinates in it (None when off the image)."""
    h, w = shape
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 2)
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 2)
    if x0 >= x1 or y0 >= y1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), xx + 0.5 - cx, yy + 0.5 - cy


def _step(x: np.ndarray, soft: float) -> np.ndarray:
    """1 for x << 0, 0 for x >> 0 (a logistic edge of width ~soft px), overflow-free."""
    return 0.5 * (1.0 - np.tanh(x / max(soft, 1e-3)))


@dataclass
class Vesicle:
    """A membrane vesicle; the radius is to the outer edge of its membrane, in px."""

    cx: float
    cy: float
    radius: float
    aspect: float  # minor / major axis
    theta: float
    harmonics: List[Tuple[int, float, float]]
    body: float  # stain kept out of the body (bright); negative: stain let in (dark interior)
    dome: float  # 0: flat body, 1: brighter in the middle
    membrane: float  # brightness of the membrane line
    membrane_px: float
    meniscus: float  # dark stain piled up at the edge
    meniscus_px: float
    cup: float  # stain in a central dip
    cup_dx: float
    cup_dy: float
    cup_sigma: float
    fold: float  # a dark crease across the body
    fold_angle: float
    fold_offset: float
    texture: float  # surface proteins: granular texture on the body
    fringe: float = 0.0  # surface proteins standing off the membrane: a granular ring of stain and protein
    fringe_px: float = 1.0

    def boundary(self, phi: np.ndarray) -> np.ndarray:
        f = np.ones_like(phi)
        for k, amp, phase in self.harmonics:
            f = f + amp * np.cos(k * phi + phase)
        return f

    def outline(self, vertices: int = 360) -> np.ndarray:
        """The membrane's outer edge, [V, 2] x, y px: what a size from an outline should recover."""
        t = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
        r = self.boundary(t)
        u = self.radius * r * np.cos(t)
        v = self.radius * self.aspect * r * np.sin(t)
        c, s = math.cos(self.theta), math.sin(self.theta)
        return np.stack([self.cx + u * c - v * s, self.cy + u * s + v * c], axis=1).astype(np.float32)

    def extent(self) -> Box:
        """Tight box of the membrane's outer edge."""
        o = self.outline().astype(np.float64)
        return float(o[:, 0].min()), float(o[:, 1].min()), float(o[:, 0].max()), float(o[:, 1].max())

    def _frame(self, shape: Tuple[int, int], reach: float):
        """Window around the vesicle, its coordinates u, v (radius 1 on the major axis) and rho (1 on the membrane)."""
        win = _patch(shape, self.cx, self.cy, reach)
        if win is None:
            return None
        sl, dx, dy = win
        c, s = math.cos(self.theta), math.sin(self.theta)
        u = (dx * c + dy * s) / self.radius
        v = (-dx * s + dy * c) / (self.radius * self.aspect)
        return sl, u, v, np.sqrt(u * u + v * v) / self.boundary(np.arctan2(v, u))

    def visible(self, img: np.ndarray) -> bool:
        """Would an annotator see it? Its body, membrane band or surroundings differ in mean brightness by
        more than the noise allows (pools can drown a vesicle in stain, noise can hide a faint one)."""
        frame = self._frame(img.shape, self.radius * 1.5 + 2)
        if frame is None:
            return False
        sl, _, _, rho = frame
        patch = img[sl]
        zones = [patch[rho < 0.75], patch[(rho >= 0.8) & (rho < 1.0)], patch[(rho >= 1.05) & (rho < 1.45)]]
        if min(z.size for z in zones) < 4:
            return False
        means = [float(z.mean()) for z in zones]
        noise = float(zones[2].std()) / math.sqrt(min(z.size for z in zones))
        contrast = max(abs(a - b) for i, a in enumerate(means) for b in means[i + 1:])
        return contrast > max(0.05, 4.0 * noise)

    def render(self, density: np.ndarray, grain: np.ndarray) -> None:
        frame = self._frame(density.shape, self.radius * 1.3 + 5 * self.meniscus_px + 4)
        if frame is None:
            return
        sl, u, v, rho = frame
        dist = (rho - 1.0) * self.radius  # px from the membrane's outer edge, negative inside
        inside = _step(dist, 0.6)
        d = -self.body * (1.0 - self.dome + self.dome * np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))) * inside
        if self.cup:
            cu, cv = u - self.cup_dx, v - self.cup_dy
            d += self.cup * np.exp(-(cu * cu + cv * cv) / (2 * self.cup_sigma ** 2)) * inside
        if self.fold:
            along = u * math.cos(self.fold_angle) + v * math.sin(self.fold_angle) - self.fold_offset
            d += self.fold * np.exp(-(along * self.radius / max(1.0, self.membrane_px)) ** 2) * inside
        if self.texture:
            d += self.texture * grain[sl] * inside
        half = self.membrane_px / 2
        d -= self.membrane * np.exp(-((dist + half) / max(half, 0.5)) ** 2)
        outside = 1.0 - _step(dist, 0.8)
        d += self.meniscus * np.exp(-np.maximum(dist, 0.0) / self.meniscus_px) * outside
        if self.fringe:
            # Stain between proteins that stand off the membrane: grain gated to a ring just outside it.
            ring = np.exp(-((np.maximum(dist, 0.0) - self.fringe_px / 2) / self.fringe_px) ** 2) * outside
            d += self.fringe * (np.abs(grain[sl]) * 1.5 - 0.5) * ring
        density[sl] += d.astype(np.float32)


@dataclass(frozen=True)
class VesicleLook:
    """Ranges a vesicle's stain features are drawn from (uniform). The defaults were chosen by the bundled model's
    zero-shot figure on real micrographs (training-container/README.md, "How the bundled model was tuned")."""

    #: Stain piled up around the vesicle (the dark halo): optical density at the membrane.
    halo: Tuple[float, float] = (0.3, 2.0)
    #: How far the halo reaches beyond the membrane: a few nm plus this fraction of the radius.
    halo_reach: Tuple[float, float] = (0.0, 0.5)
    #: Share of vesicles with a granular fringe of surface proteins, and its width in nm.
    fringe_probability: float = 0.4
    fringe_nm: Tuple[float, float] = (5.0, 20.0)
    #: Share of vesicles that let stain in: a dark interior inside a bright membrane (the other polarity).
    dark_interior_probability: float = 0.35


def make_vesicle(rng: np.random.Generator, cx: float, cy: float, d_nm: float, nm_per_px: float,
                 look: VesicleLook = VesicleLook()) -> Vesicle:
    radius = d_nm / nm_per_px / 2.0
    n_harm = int(rng.integers(0, 4))
    # Small vesicles stay round; large ones sag into irregular outlines.
    wobble = 0.02 + 0.06 * min(1.0, d_nm / 250.0)
    harmonics = [(int(rng.integers(2, 6)), float(rng.uniform(0.0, wobble)), float(rng.uniform(0, 2 * math.pi))) for _ in range(n_harm)]
    polarity_dark = rng.random() < look.dark_interior_probability
    # Every vesicle shows at least one clear cue: a bright body, or (stain let in) a bright membrane line.
    body = -rng.uniform(0.1, 0.5) if polarity_dark else rng.uniform(0.15, 0.8)
    membrane = rng.uniform(0.2, 0.7) if polarity_dark else (rng.uniform(0.0, 0.6) if rng.random() < 0.85 else 0.0)
    cup = rng.uniform(0.08, 0.6) if rng.random() < 0.5 else 0.0
    ang = rng.uniform(0, 2 * math.pi)
    off = rng.uniform(0.0, 0.45)
    return Vesicle(
        cx=cx, cy=cy, radius=radius, aspect=float(rng.uniform(0.75, 1.0)), theta=float(rng.uniform(0, math.pi)),
        harmonics=harmonics, body=float(body), dome=float(rng.uniform(0.0, 0.8)),
        membrane=float(membrane), membrane_px=float(max(0.8, rng.uniform(4.0, 14.0) / nm_per_px)),
        meniscus=float(rng.uniform(*look.halo)),
        meniscus_px=float(max(1.2, rng.uniform(3.0, 20.0) / nm_per_px + rng.uniform(*look.halo_reach) * radius)),
        cup=float(cup), cup_dx=off * math.cos(ang), cup_dy=off * math.sin(ang), cup_sigma=float(rng.uniform(0.2, 0.5)),
        fold=float(rng.uniform(0.1, 0.4) if rng.random() < 0.2 else 0.0), fold_angle=float(rng.uniform(0, math.pi)),
        fold_offset=float(rng.uniform(-0.4, 0.4)), texture=float(rng.uniform(0.0, 0.25) if rng.random() < 0.6 else 0.0),
        **_fringe(rng, look, nm_per_px),
    )


def _fringe(rng: np.random.Generator, look: VesicleLook, nm_per_px: float) -> dict:
    # Drawn only when asked for, so that looks without a fringe keep their random stream (and images).
    if not look.fringe_probability or rng.random() >= look.fringe_probability:
        return {}
    return {"fringe": float(rng.uniform(0.2, 0.8)), "fringe_px": float(max(1.0, rng.uniform(*look.fringe_nm) / nm_per_px))}


def render_pool(density: np.ndarray, cx: float, cy: float, radius: float, depth: float, aspect: float, theta: float) -> None:
    """A wide pool of stain (around a particle or a clump, or on its own)."""
    win = _patch(density.shape, cx, cy, radius * 2.6)
    if win is None:
        return
    sl, dx, dy = win
    c, s = math.cos(theta), math.sin(theta)
    u = (dx * c + dy * s) / radius
    v = (-dx * s + dy * c) / (radius * aspect)
    density[sl] += (depth * np.exp(-(u * u + v * v))).astype(np.float32)


def render_blob(density: np.ndarray, cx: float, cy: float, radius: float, amount: float, soft: float,
                halo: float = 0.0, halo_px: float = 1.0, aspect: float = 1.0, theta: float = 0.0) -> None:
    """A homogeneous particle with a soft edge: bright (amount > 0 keeps stain out) or dark; no membrane, no cup."""
    win = _patch(density.shape, cx, cy, radius + 4 * max(soft, halo_px) + 2)
    if win is None:
        return
    sl, dx, dy = win
    c, s = math.cos(theta), math.sin(theta)
    u = (dx * c + dy * s)
    v = (-dx * s + dy * c) / aspect
    dist = np.sqrt(u * u + v * v) - radius
    d = -amount * _step(dist, soft)
    if halo:
        d += halo * np.exp(-np.maximum(dist, 0.0) / halo_px) * (1.0 - _step(dist, soft))
    density[sl] += d.astype(np.float32)


def render_specks(rng: np.random.Generator, density: np.ndarray, n: int, nm_per_px: float,
                  centre: Tuple[float, float] = None, spread_px: float = 0.0) -> None:
    """Protein specks 4-25 nm: mostly bright, some dark; scattered, or clumped around centre."""
    h, w = density.shape
    for _ in range(n):
        if centre is None:
            x, y = rng.uniform(0, w), rng.uniform(0, h)
        else:
            x, y = centre[0] + rng.normal(0, spread_px), centre[1] + rng.normal(0, spread_px)
        r = rng.uniform(2.0, 12.5) / nm_per_px
        bright = rng.random() < 0.8
        render_blob(density, x, y, max(0.5, r), rng.uniform(0.1, 0.6) * (1 if bright else -1), max(0.5, 0.3 * r),
                    halo=rng.uniform(0.0, 0.2) if bright else 0.0, halo_px=max(0.8, 0.5 * r),
                    aspect=rng.uniform(0.6, 1.0), theta=rng.uniform(0, math.pi))


def render_clump(rng: np.random.Generator, density: np.ndarray, cx: float, cy: float, radius: float) -> None:
    """A protein clump: a few bright lumps merged into a granular blob, with a stain halo; no membrane."""
    amount = rng.uniform(0.15, 0.6)
    for _ in range(int(rng.integers(3, 12))):
        a, r = rng.uniform(0, 2 * math.pi), radius * math.sqrt(rng.uniform(0, 1)) * 0.6
        lump = radius * rng.uniform(0.25, 0.55)
        render_blob(density, cx + r * math.cos(a), cy + r * math.sin(a), lump, amount * rng.uniform(0.5, 1.0), max(0.6, 0.25 * lump),
                    halo=rng.uniform(0.0, 0.25), halo_px=max(0.8, 0.3 * lump))


def render_crystal(rng: np.random.Generator, density: np.ndarray, nm_per_px: float) -> None:
    """A dark, angular stain crystal 3-30 nm."""
    h, w = density.shape
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = max(0.8, rng.uniform(1.5, 15.0) / nm_per_px)
    win = _patch(density.shape, cx, cy, r * 1.5 + 2)
    if win is None:
        return
    sl, dx, dy = win
    k = int(rng.integers(3, 7))
    phi = np.arctan2(dy, dx) + rng.uniform(0, 2 * math.pi)
    # Distance to a regular k-gon's edge: angular, not round.
    polygon = np.cos(math.pi / k) / np.cos((phi % (2 * math.pi / k)) - math.pi / k)
    inside = _step(np.sqrt(dx * dx + dy * dy) - r * polygon, 0.4)
    density[sl] += (rng.uniform(0.3, 1.2) * inside).astype(np.float32)


def render_sheet(rng: np.random.Generator, density: np.ndarray, nm_per_px: float) -> None:
    """A flat membrane sheet or film fragment 150-1500 nm: a faint body inside a thin edge line, irregular."""
    h, w = density.shape
    cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
    radius = rng.uniform(75.0, 750.0) / nm_per_px
    win = _patch(density.shape, cx, cy, radius * 1.6 + 6)
    if win is None:
        return
    sl, dx, dy = win
    phi = np.arctan2(dy, dx)
    f = np.ones_like(phi)
    for k in range(2, 7):
        f += rng.uniform(0.0, 0.25 / k) * np.cos(k * phi + rng.uniform(0, 2 * math.pi))
    aspect = rng.uniform(0.3, 1.0)
    c, s = math.cos(rng.uniform(0, math.pi)), math.sin(rng.uniform(0, math.pi))
    u, v = dx * c + dy * s, (-dx * s + dy * c) / aspect
    dist = np.sqrt(u * u + v * v) / f - radius
    line_px = max(0.8, rng.uniform(2.0, 8.0) / nm_per_px)
    d = -rng.uniform(-0.15, 0.3) * _step(dist, 1.0)
    d += rng.uniform(0.05, 0.5) * rng.choice([-1.0, 1.0], p=[0.6, 0.4]) * np.exp(-(dist / line_px) ** 2)
    density[sl] += d.astype(np.float32)


def render_arc(rng: np.random.Generator, density: np.ndarray, nm_per_px: float) -> None:
    """A broken membrane: part of a ring (40-200 degrees) with its meniscus, no body."""
    h, w = density.shape
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    radius = rng.uniform(20.0, 150.0) / nm_per_px
    win = _patch(density.shape, cx, cy, radius * 1.4 + 4)
    if win is None:
        return
    sl, dx, dy = win
    start, span = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(40, 200))
    rel = (np.arctan2(dy, dx) - start) % (2 * math.pi)
    on = _step(rel - span, 0.15)
    dist = np.sqrt(dx * dx + dy * dy) - radius
    line_px = max(0.8, rng.uniform(3.0, 9.0) / nm_per_px)
    d = -rng.uniform(0.1, 0.5) * np.exp(-(dist / line_px) ** 2) + rng.uniform(0.1, 0.6) * np.exp(-((dist - 2 * line_px) / (2 * line_px)) ** 2)
    density[sl] += (d * on).astype(np.float32)


def render_tubule(rng: np.random.Generator, density: np.ndarray, nm_per_px: float) -> None:
    """A membrane tubule or bleb 150-700 nm long and 25-90 nm wide: the body, membrane line and meniscus of a
    vesicle, drawn along a bent path. Elongated and bent: not a vesicle."""
    h, w = density.shape
    half_w = rng.uniform(12.0, 45.0) / nm_per_px
    length = rng.uniform(150.0, 700.0) / nm_per_px
    n = max(8, int(length))
    angles = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, rng.uniform(0.005, 0.04), n))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    xs = cx + np.cumsum(np.cos(angles)) * length / n
    ys = cy + np.cumsum(np.sin(angles)) * length / n
    pad = int(half_w * 2 + 8)
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(w, int(xs.max()) + pad + 1), min(h, int(ys.max()) + pad + 1)
    if x0 >= x1 or y0 >= y1:
        return
    path = np.ones((y1 - y0, x1 - x0), bool)
    keep = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    path[ys[keep].astype(int) - y0, xs[keep].astype(int) - x0] = False
    if path.all():
        return
    dist = ndimage.distance_transform_edt(path).astype(np.float32) - half_w  # px from the tubule's edge
    line_px = max(0.8, rng.uniform(4.0, 10.0) / nm_per_px)
    d = -rng.uniform(0.1, 0.6) * _step(dist, 0.6)
    d -= rng.uniform(0.0, 0.5) * np.exp(-((dist + line_px / 2) / line_px) ** 2)
    d += rng.uniform(0.1, 0.8) * np.exp(-np.maximum(dist, 0.0) / max(1.2, rng.uniform(3.0, 15.0) / nm_per_px)) * (1.0 - _step(dist, 0.8))
    density[y0:y1, x0:x1] += d.astype(np.float32)


def render_fibre(rng: np.random.Generator, density: np.ndarray, nm_per_px: float) -> None:
    """A curved fibre (protein filament, stain streak) 50-1000 nm long, dark or bright."""
    h, w = density.shape
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    length = rng.uniform(50.0, 1000.0) / nm_per_px
    n = max(8, int(length))
    angles = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, rng.uniform(0.01, 0.08), n))
    xs = cx + np.cumsum(np.cos(angles)) * length / n
    ys = cy + np.cumsum(np.sin(angles)) * length / n
    keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    if not keep.any():
        return
    sigma = max(0.6, rng.uniform(1.5, 5.0) / nm_per_px)
    pad = int(4 * sigma) + 2
    x0, y0 = max(0, int(xs[keep].min()) - pad), max(0, int(ys[keep].min()) - pad)
    x1, y1 = min(w, int(xs[keep].max()) + pad + 1), min(h, int(ys[keep].max()) + pad + 1)
    layer = np.zeros((y1 - y0, x1 - x0), np.float32)
    layer[ys[keep].astype(int) - y0, xs[keep].astype(int) - x0] = 1.0
    layer = ndimage.gaussian_filter(layer, sigma)
    peak = float(layer.max())
    if peak > 0:
        amount = rng.uniform(0.1, 0.5) * rng.choice([-1.0, 1.0], p=[0.4, 0.6])
        density[y0:y1, x0:x1] += (amount * layer / peak).astype(np.float32)
