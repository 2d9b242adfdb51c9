"""CenterNet loss: penalty-reduced focal loss on the centre heatmap, L1 on log size and offset;
with an outline head, plus its weighted L1 on log ray distances (outline.py)."""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F

from .outline import OUTLINE_WEIGHT, outline_loss

SIZE_WEIGHT = 1.0
OFFSET_WEIGHT = 1.0


def focal_loss(logits: torch.Tensor, target: torch.Tensor, num_pos: torch.Tensor) -> torch.Tensor:
    """Law & Deng's variant (alpha 2, beta 4), in log-sigmoid form so it never takes log(0)."""
    p = torch.sigmoid(logits)
    pos = target.eq(1).to(logits.dtype)
    pos_loss = -F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_loss = -F.logsigmoid(-logits) * p ** 2 * (1 - target) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / num_pos


def centernet_loss(out: Dict[str, torch.Tensor], tgt: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
    heat = out["heatmap"].float()
    mask = tgt["mask"].unsqueeze(1)
    num_pos = mask.sum().clamp(min=1.0)
    l_heat = focal_loss(heat, tgt["heatmap"], num_pos)
    l_size = (F.l1_loss(out["wh"].float(), tgt["wh"], reduction="none") * mask).sum() / num_pos
    l_off = (F.l1_loss(out["offset"].float(), tgt["offset"], reduction="none") * mask).sum() / num_pos
    total = l_heat + SIZE_WEIGHT * l_size + OFFSET_WEIGHT * l_off
    parts = {"heatmap": float(l_heat.detach()), "size": float(l_size.detach()), "offset": float(l_off.detach())}
    if "rays" in out and "rays" in tgt:
        l_outline = outline_loss(out["rays"], tgt["rays"], tgt["ray_weight"])
        total = total + OUTLINE_WEIGHT * l_outline
        parts["outline"] = float(l_outline.detach())
    return total, parts
