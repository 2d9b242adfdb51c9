"""The train/validation split when the dataset came without a validation channel.

The same policy as the split step (lambdas/training/dataset-split.ts,
assignGroups): images ordered by SHA-256 of "<seed>:<relative path>", the
first round(n * fraction) (at least 1) held out. The held-out set therefore
depends only on the image names and the seed, not on listing order, and a
dataset split here holds out the images the split step would have.
"""
from __future__ import annotations

import hashlib
import math
from typing import List, Tuple

from .annotations import AnnotationError, LabelledImage


def split_order(names: List[str], seed: int) -> List[str]:
    """Names in the order the split takes them (unique names, as the split step's groups)."""
    return sorted(set(names), key=lambda name: hashlib.sha256(f"{seed}:{name}".encode("utf-8")).hexdigest())


def held_out_count(n: int, fraction: float) -> int:
    # JavaScript's Math.round (half up), not Python's round (half to even), so both sides agree at .5.
    return max(1, math.floor(n * fraction + 0.5))


def split_validation(images: List[LabelledImage], fraction: float, seed: int) -> Tuple[List[LabelledImage], List[LabelledImage]]:
    if len(images) < 2:
        raise AnnotationError("need at least 2 labelled training images to hold some out for validation "
                              "(or provide a 'validation' channel)")
    order = split_order([li.rel_path for li in images], seed)
    held_out = set(order[:min(len(order) - 1, held_out_count(len(order), fraction))])
    val = sorted((li for li in images if li.rel_path in held_out), key=lambda li: li.rel_path)
    train = sorted((li for li in images if li.rel_path not in held_out), key=lambda li: li.rel_path)
    return train, val
