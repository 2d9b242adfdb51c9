"""An exponential moving average of the weights (the one validated, kept and exported).

Small real datasets give noisy steps: the average over the last epochs is steadier than
the last step's weights, and the best-epoch choice on a few validation images then picks
among steadier models. The decay follows from a half-life in epochs, so a 20-image set
(40 steps an epoch) and a 440-image one average over the same share of training.
"""
from __future__ import annotations

import copy
import math
from typing import Dict

import torch


def decay_for(half_life_epochs: float, steps_per_epoch: int) -> float:
    """The per-step decay that halves an old weight's share after half_life_epochs."""
    return 0.5 ** (1.0 / max(1.0, half_life_epochs * steps_per_epoch))


class ModelEma:
    """Averages a model's floating-point parameters and buffers after each optimiser step.

    Early steps are averaged with a smaller decay ((1 + n) / (10 + n), as TensorFlow's
    ExponentialMovingAverage does) so the start (random or fine-tuned weights) washes out.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0 or not math.isfinite(decay):
            raise ValueError(f"EMA decay must be in (0, 1), got {decay!r}")
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        current = model.state_dict()
        for name, avg in self.module.state_dict().items():
            value = current[name].detach()
            if avg.is_floating_point():
                avg.mul_(d).add_(value.to(avg.dtype), alpha=1.0 - d)
            else:  # counters such as BatchNorm's num_batches_tracked
                avg.copy_(value)

    def state_dict(self) -> Dict:
        return {"module": self.module.state_dict(), "decay": self.decay, "updates": self.updates}

    def load_state_dict(self, state: Dict) -> None:
        self.module.load_state_dict(state["module"])
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
