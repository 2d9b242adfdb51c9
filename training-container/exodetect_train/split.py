"""The train/validation split when the dataset came without a validation channel.

The same policy as the split step (lambdas/training/dataset-split.ts,
assignGroups): images ordered by SHA-256 of "<seed>:<relative path>", the
first round(n * fraction) (at least 1) held out; when the held-out images'
share of the objects is more than BALANCE_TOLERANCE off their share of the
images, the first of the shuffles by SHA-256 of "<seed>:<k>:<relative path>"
(k = 1 .. BALANCE_TRIES - 1) within it, else the closest. The held-out set
therefore depends only on the image names, their object counts and the seed,
not on listing order, and a dataset split here holds out the images the split
step would have.
"""
from __future__ import annotations

import hashlib
import math
from typing import Dict, List, Tuple

from .annotations import AnnotationError, LabelledImage


BALANCE_TRIES = 64
BALANCE_TOLERANCE = 0.05


def split_order(names: List[str], seed: int, shuffle: int = 0) -> List[str]:
    """Names in the order the split's shuffle number `shuffle` takes them (unique names, as the split step's groups)."""
    prefix = f"{seed}:" if shuffle == 0 else f"{seed}:{shuffle}:"
    return sorted(set(names), key=lambda name: hashlib.sha256(f"{prefix}{name}".encode("utf-8")).hexdigest())


def balanced_order(objects: Dict[str, int], seed: int, held_out: int) -> List[str]:
    """The order whose first `held_out` names hold about their share of the objects (see the module doc)."""
    names, total = list(objects), sum(objects.values())

    def imbalance(order: List[str]) -> float:
        return 0.0 if total == 0 else abs(sum(objects[name] for name in order[:held_out]) / total - held_out / len(order))

    best = split_order(names, seed)
    best_imbalance = imbalance(best)
    for shuffle in range(1, BALANCE_TRIES):
        if best_imbalance <= BALANCE_TOLERANCE:
            break
        order = split_order(names, seed, shuffle)
        value = imbalance(order)
        if value < best_imbalance:
            best, best_imbalance = order, value
    return best


def held_out_count(n: int, fraction: float) -> int:
    # JavaScript's Math.round (half up), not Python's round (half to even), so both sides agree at .5.
    return max(1, math.floor(n * fraction + 0.5))


def split_validation(images: List[LabelledImage], fraction: float, seed: int) -> Tuple[List[LabelledImage], List[LabelledImage]]:
    if len(images) < 2:
        raise AnnotationError("need at least 2 labelled training images to hold some out for validation "
                              "(or provide a 'validation' channel)")
    objects = {li.rel_path: len(li.boxes) for li in images}
    count = min(len(objects) - 1, held_out_count(len(objects), fraction))
    held_out = set(balanced_order(objects, seed, count)[:count])
    val = sorted((li for li in images if li.rel_path in held_out), key=lambda li: li.rel_path)
    train = sorted((li for li in images if li.rel_path not in held_out), key=lambda li: li.rel_path)
    return train, val
