"""train_one_epoch and evaluate (the torchvision detection references' split)."""
from __future__ import annotations

import contextlib
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from .data import ScaledImage
from .ema import ModelEma
from .loss import centernet_loss
from .metrics import ImageEval, evaluate_detections
from .model import ExoNet, ExportModel
from .outline import area_equivalent_diameter, outline_diameters
from .transforms import pad_to_multiple

#: Detections below this score are not worth ranking for AP.
EVAL_MIN_SCORE = 0.01


class NonFiniteLossError(RuntimeError):
    pass


def autocast(device: torch.device, enabled: bool):
    """float16 autocast on CUDA; nothing on CPU (1.13's CPU autocast only knows bfloat16)."""
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.float16)


def train_one_epoch(model: ExoNet, loader: DataLoader, optimizer: torch.optim.Optimizer, scheduler,
                    device: torch.device, scaler, epoch: int, amp: bool, ema: Optional[ModelEma] = None) -> float:
    model.train()
    total, n = 0.0, 0
    for step, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        targets = {k: v.to(device, non_blocking=True) for k, v in targets.items()}
        with autocast(device, amp):
            out = model(images)
        loss, parts = centernet_loss(out, targets)
        if not math.isfinite(float(loss.detach())):
            raise NonFiniteLossError(f"non-finite loss {float(loss.detach())} at epoch {epoch} step {step + 1} "
                                     f"(heatmap {parts['heatmap']}, size {parts['size']}, offset {parts['offset']})")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        total += float(loss.detach()) * images.shape[0]
        n += images.shape[0]
    return total / max(n, 1)


@torch.no_grad()
def predict(detector: ExportModel, images: Sequence[ScaledImage], device: torch.device, amp: bool = False) -> List[np.ndarray]:
    """Detections [K, 6] per image, boxes mapped back to the ORIGINAL image's px; with an outline head [K, 7],
    the seventh column the outline's area-equivalent diameter in the original image's px. `detector` is what
    model.onnx computes (model.ExportModel)."""
    detector.eval()
    out: List[np.ndarray] = []
    for si in images:
        h, w = si.image.shape
        x = torch.from_numpy(pad_to_multiple(si.image))[None, None].to(device)
        with autocast(device, amp):
            found = detector(x)
            det_t, outlines_t = found if isinstance(found, tuple) else (found, None)
            det = det_t[0].float().cpu().numpy()
        if outlines_t is not None:
            det = np.concatenate([det, outline_diameters(outlines_t[0].float().cpu().numpy())[:, None].astype(np.float32)], axis=1)
        det = det[det[:, 4] >= EVAL_MIN_SCORE]
        det[:, [0, 2]] = np.clip(det[:, [0, 2]], 0, w)
        det[:, [1, 3]] = np.clip(det[:, [1, 3]], 0, h)
        det[:, :4] /= si.factor
        if det.shape[1] > 6:
            det[:, 6] /= si.factor
        out.append(det)
    return out


def evaluate(detector: ExportModel, images: Sequence[ScaledImage], device: torch.device, num_classes: int,
             threshold: Optional[float] = None, amp: bool = False) -> Dict:
    dets = predict(detector, images, device, amp)
    evals = [ImageEval(d[:, :4], d[:, 4], d[:, 5].astype(np.int64), si.source.boxes, si.source.classes, si.source.nm_per_px,
                       pred_diameters=d[:, 6].astype(np.float64) if d.shape[1] > 6 else None,
                       gt_diameters=np.asarray([area_equivalent_diameter(p) for p in si.source.polygons], np.float64)
                       if si.source.polygons else None)
             for d, si in zip(dets, images)]
    return evaluate_detections(evals, num_classes, threshold)
