"""A compact CenterNet-style detector for round objects of ~10-200 px.

Backbone of residual conv blocks down to stride 32 (receptive field for the largest
vesicles), a top-down feature pyramid back to stride 4, and three heads at stride 4:
centre heatmap (one channel per class), log box size, sub-cell centre offset; with
`outline_rays` > 0 a fourth, the outline head (outline.py: star-convex rays at each centre).
Per-image intensity normalisation is the first layer, so the ONNX graph carries it.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .outline import OutlineHead, decode_outlines, mirrored_ray_order

STRIDE = 4
#: log(w / STRIDE) is clamped to this range before exp() (boxes of ~0.5 .. ~1600 px).
LOG_SIZE_RANGE = (-2.0, 6.0)


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = conv_bn(c, c)
        self.b = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest upsampling to `like`'s height and width: twice x's on inputs that are multiples of 32; one less on
    other sizes (the half-size pass of ExportModel sees multiples of 16), where a plain 2x would not fit."""
    return F.interpolate(x, size=like.shape[-2:], mode="nearest")


class ExoNet(nn.Module):
    def __init__(self, num_classes: int = 1, width: int = 24, outline_rays: int = 0):
        super().__init__()
        w = width
        self.num_classes = num_classes
        self.width = width
        c2, c4, c8, c16, c32 = w // 2, w, 2 * w, 4 * w, 4 * w
        self.stem = conv_bn(1, c2, 3, 2)                                          # 1/2
        self.s4 = nn.Sequential(conv_bn(c2, c4, 3, 2), ResBlock(c4))              # 1/4
        self.s8 = nn.Sequential(conv_bn(c4, c8, 3, 2), ResBlock(c8))              # 1/8
        self.s16 = nn.Sequential(conv_bn(c8, c16, 3, 2), ResBlock(c16), ResBlock(c16))  # 1/16
        self.s32 = nn.Sequential(conv_bn(c16, c32, 3, 2), ResBlock(c32), ResBlock(c32))  # 1/32
        f = w + w // 3
        self.lat4, self.lat8, self.lat16, self.lat32 = (nn.Conv2d(c, f, 1) for c in (c4, c8, c16, c32))
        self.smooth8 = conv_bn(f, f)
        self.smooth4 = conv_bn(f, f)
        self.heat_head = nn.Sequential(conv_bn(f, f), nn.Conv2d(f, num_classes, 1))
        self.box_head = nn.Sequential(conv_bn(f, f), nn.Conv2d(f, 4, 1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        last_heat = self.heat_head[-1]
        last_box = self.box_head[-1]
        assert isinstance(last_heat, nn.Conv2d) and isinstance(last_box, nn.Conv2d)
        nn.init.normal_(last_heat.weight, std=0.01)
        nn.init.constant_(last_heat.bias, -math.log((1 - 0.01) / 0.01))  # prior 0.01: focal-loss start
        nn.init.normal_(last_box.weight, std=0.01)
        with torch.no_grad():
            last_box.bias.copy_(torch.tensor([math.log(8.0), math.log(8.0), 0.5, 0.5]))
        # Built last, so the detector's own weights are initialised exactly as without it.
        self.outline_rays = outline_rays
        self.outline_head = OutlineHead(f, outline_rays) if outline_rays else None

    @staticmethod
    def normalise(images: torch.Tensor) -> torch.Tensor:
        """Per image: zero mean, unit variance (the camera's range and exposure do not matter)."""
        mean = images.mean(dim=(2, 3), keepdim=True)
        var = ((images - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        return (images - mean) / torch.sqrt(var + 1e-6)

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.normalise(images)
        x = self.stem(x)
        c4 = self.s4(x)
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p16 = self.lat16(c16) + upsample_to(self.lat32(c32), c16)
        p8 = self.smooth8(self.lat8(c8) + upsample_to(p16, c8))
        p4 = self.smooth4(self.lat4(c4) + upsample_to(p8, c4))
        box = self.box_head(p4)
        out = {"heatmap": self.heat_head(p4), "wh": box[:, 0:2], "offset": box[:, 2:4]}
        if self.outline_head is not None:
            out["rays"] = self.outline_head(p4)
        return out


class FlipAveraged(nn.Module):
    """Test-time augmentation inside the graph: the network sees the image and its three mirror images, and each
    output is mapped back to the image and averaged (the heatmap as probabilities). The same outputs as ExoNet, so
    decoding, evaluation and export take either; four times the compute. Training flips too (transforms.py), so
    the network has learnt the mirrored images."""

    # (flipped tensor dims, x mirrored, y mirrored) for [N, C, H, W].
    FLIPS = (((), False, False), ((3,), True, False), ((2,), False, True), ((2, 3), True, True))

    def __init__(self, net: ExoNet):
        super().__init__()
        self.net = net
        self.outline_head = net.outline_head
        self.outline_rays = net.outline_rays

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        sums: Dict[str, torch.Tensor] = {}
        for dims, mirror_x, mirror_y in self.FLIPS:
            out = self.net(images.flip(dims) if dims else images)
            back = {name: (t.flip(dims) if dims else t) for name, t in out.items()}
            back["heatmap"] = torch.sigmoid(back["heatmap"].float())
            # A centre at cell i + o of a mirrored map lies at cell i' + (1 - o) of the image's.
            offset = back["offset"]
            back["offset"] = torch.cat([1 - offset[:, 0:1] if mirror_x else offset[:, 0:1],
                                        1 - offset[:, 1:2] if mirror_y else offset[:, 1:2]], dim=1)
            if "rays" in back:
                back["rays"] = back["rays"][:, mirrored_ray_order(back["rays"].shape[1], mirror_x, mirror_y)]
            for name, t in back.items():
                sums[name] = sums[name] + t if name in sums else t
        mean = {name: t / len(self.FLIPS) for name, t in sums.items()}
        p = mean["heatmap"].clamp(1e-6, 1 - 1e-6)
        mean["heatmap"] = torch.log(p / (1 - p))  # back to logits: decode() applies the sigmoid
        return mean


def decode(out: Dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """Peaks -> [N, K, 6] (x1, y1, x2, y2, score, class) in input px, sorted by score.

    Written with ONNX-exportable ops only and no Python-side shape arithmetic, so the same
    code decodes in training, in evaluation and inside the exported graph (dynamic H, W).
    """
    return decode_parts(out, k)[0]


def decode_with_outlines(out: Dict[str, torch.Tensor], k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """decode() and, from the outline head, each detection's outline [N, K, 2R] around its centre."""
    det, pix, cx, cy, size = decode_parts(out, k)
    return det, decode_outlines(out["rays"], pix, cx, cy, size)


def decode_parts(out: Dict[str, torch.Tensor], k: int) -> Tuple[torch.Tensor, ...]:
    """decode()'s detections, and each one's peak cell index, centre and box size before clipping (what the outline
    is decoded at)."""
    heat = torch.sigmoid(out["heatmap"].float())
    peaks = F.max_pool2d(heat, 3, stride=1, padding=1)
    heat = heat * (peaks == heat).to(heat.dtype)
    n, c, h, w = heat.shape
    flat = heat.reshape(n, -1)
    total = flat.shape[1]
    # Pad with K zeros so top-k never asks for more elements than a small input has.
    scores, idx = torch.topk(F.pad(flat, (0, k)), k, dim=1)
    idx = torch.where(idx < total, idx, torch.zeros_like(idx))
    hw = h * w
    cls = torch.div(idx, hw, rounding_mode="floor")
    pix = idx - cls * hw
    ys = torch.div(pix, w, rounding_mode="floor")
    xs = pix - ys * w
    wh = out["wh"].float().reshape(n, 2, -1)
    off = out["offset"].float().reshape(n, 2, -1)
    gidx = pix.unsqueeze(1).expand(-1, 2, -1)
    size = torch.exp(torch.gather(wh, 2, gidx).clamp(LOG_SIZE_RANGE[0], LOG_SIZE_RANGE[1])) * STRIDE
    o = torch.gather(off, 2, gidx)
    cx = (xs.to(o.dtype) + o[:, 0]) * STRIDE
    cy = (ys.to(o.dtype) + o[:, 1]) * STRIDE
    # Clip to the input frame; the limits come from the tensors so H and W stay dynamic in ONNX.
    w_in = torch.ones_like(heat[0, 0, 0, :]).sum() * STRIDE
    h_in = torch.ones_like(heat[0, 0, :, 0]).sum() * STRIDE
    zero = torch.zeros_like(cx)
    x1 = torch.max(cx - size[:, 0] / 2, zero)
    y1 = torch.max(cy - size[:, 1] / 2, zero)
    x2 = torch.min(cx + size[:, 0] / 2, zero + w_in)
    y2 = torch.min(cy + size[:, 1] / 2, zero + h_in)
    return torch.stack([x1, y1, x2, y2, scores, cls.to(scores.dtype)], dim=2), pix, cx, cy, size


class ExportModel(nn.Module):
    """images [N, 1, H, W] in 0..1 -> detections [N, K, 6], and with an outline head also outlines [N, K, 2R]:
    what goes into model.onnx, and what the trainer measures.

    With `half_scale_pass` the network also sees the image at half its size, and the detections of both passes are
    kept (where both found the same object, the surer one). Why: the network learns particles at the sizes it is
    shown, and real particles larger than those it learnt well are found more surely at half size (measured on real
    micrographs: training-container/README.md). About 1.25x the compute."""

    def __init__(self, net: nn.Module, k: int, half_scale_pass: bool = False):
        super().__init__()
        self.net = net
        self.k = k
        self.half_scale_pass = half_scale_pass
        self.outline_head = net.outline_head
        self.outline_rays = net.outline_rays

    def _detect(self, images: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        out = self.net(images)
        return decode_with_outlines(out, self.k) if "rays" in out else (decode(out, self.k), None)

    def forward(self, images: torch.Tensor):
        det, outlines = self._detect(images)
        if self.half_scale_pass:
            half_det, half_outlines = self._detect(F.avg_pool2d(images, 2))
            half_det = torch.cat([half_det[..., :4] * 2, half_det[..., 4:]], dim=2)
            det, outlines = keep_surest(det, outlines, half_det, half_outlines * 2 if half_outlines is not None else None, self.k)
        return (det, outlines) if outlines is not None else det


#: A detection of one pass and one of the other, of the same class, overlapping by more than this, are one object.
SAME_OBJECT_IOU = 0.5


def keep_surest(first: torch.Tensor, first_outlines: Optional[torch.Tensor], second: torch.Tensor,
                second_outlines: Optional[torch.Tensor], k: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Two passes' detections [N, K1, 6] and [N, K2, 6] (with their outlines) -> the k surest of both, sorted by score,
    where a detection of one pass that is one object with a surer one of the other (same class, IoU over
    SAME_OBJECT_IOU) is dropped; ties keep the first pass's. Within a pass the peak picking has already kept one
    detection an object, so only the K1 x K2 pairs across the passes are compared. Dropped rows come back as zeros,
    like decode()'s padding."""
    iw = (torch.min(first[..., 2].unsqueeze(2), second[..., 2].unsqueeze(1))
          - torch.max(first[..., 0].unsqueeze(2), second[..., 0].unsqueeze(1))).clamp(min=0)
    ih = (torch.min(first[..., 3].unsqueeze(2), second[..., 3].unsqueeze(1))
          - torch.max(first[..., 1].unsqueeze(2), second[..., 1].unsqueeze(1))).clamp(min=0)
    inter = iw * ih
    area = lambda d: (d[..., 2] - d[..., 0]) * (d[..., 3] - d[..., 1])  # noqa: E731
    iou = inter / (area(first).unsqueeze(2) + area(second).unsqueeze(1) - inter + 1e-6)  # [N, K1, K2]
    same = ((iou > SAME_OBJECT_IOU) & (first[..., 5].unsqueeze(2) == second[..., 5].unsqueeze(1))).to(iou.dtype)
    second_surer = (second[..., 4].unsqueeze(1) > first[..., 4].unsqueeze(2)).to(iou.dtype)
    first_kept = 1 - (same * second_surer).max(dim=2).values       # [N, K1]
    second_kept = 1 - (same * (1 - second_surer)).max(dim=1).values  # [N, K2]
    det = torch.cat([first * first_kept.unsqueeze(2), second * second_kept.unsqueeze(2)], dim=1)
    _, pick = torch.topk(det[..., 4], k, dim=1)
    det = torch.gather(det, 1, pick.unsqueeze(2).expand(-1, -1, det.shape[2]))
    if first_outlines is None or second_outlines is None:
        return det, None
    outlines = torch.cat([first_outlines * first_kept.unsqueeze(2), second_outlines * second_kept.unsqueeze(2)], dim=1)
    return det, torch.gather(outlines, 1, pick.unsqueeze(2).expand(-1, -1, outlines.shape[2]))


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def build_model(num_classes: int, width: int, outline_rays: int = 0) -> Tuple[ExoNet, int]:
    net = ExoNet(num_classes, width, outline_rays)
    return net, count_parameters(net)
