"""How well the threshold rule (metrics.recommended_threshold) serves models whose validation split holds few objects.

For each trained model, give two `exodetect evaluate` output folders: one on its validation images, one on images it
never saw (each folder's metrics.json names its dataset; its predictions.coco.json holds every detection down to the
score floor). Subsets of 2, 3, 5 validation images (and all of them) are drawn at random; on each, the threshold is
chosen by the best-F1 rule, by the recommended rule and fixed at the prior, and scored by F1 on the unseen images.
Prints the mean F1 and its worst tenth per subset size (README, "How the threshold is chosen").

    python tools/threshold_rule_check.py VAL_EVAL_DIR:UNSEEN_EVAL_DIR [VAL_EVAL_DIR:UNSEEN_EVAL_DIR ...] [--draws 40]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
from typing import Dict, List, Tuple

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from exodetect_train.metrics import THRESHOLD_PRIOR, ImageEval, best_f1_threshold, ranked_matches, recommended_threshold  # noqa: E402

SUBSET_SIZES = (2, 3, 5)


def image_evals(eval_dir: str) -> List[ImageEval]:
    """One ImageEval per scored image of an `exodetect evaluate` folder, boxes in the image's pixels."""
    with open(os.path.join(eval_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    with open(os.path.join(metrics["dataset"], "annotations.coco.json"), encoding="utf-8") as f:
        truth = json.load(f)
    with open(os.path.join(eval_dir, "predictions.coco.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    name_of = {im["id"]: os.path.basename(im["file_name"]) for im in truth["images"]}
    gt: Dict[str, List[List[float]]] = {}
    for a in truth["annotations"]:
        x, y, w, h = a["bbox"]
        gt.setdefault(name_of[a["image_id"]], []).append([x, y, x + w, y + h])
    pred: Dict[str, List[Tuple[float, List[float]]]] = {}
    for p in predictions:
        x, y, w, h = p["bbox"]
        pred.setdefault(os.path.basename(p["file_name"]), []).append((p["score"], [x, y, x + w, y + h]))
    evals = []
    for image in metrics["images"]:
        name = os.path.basename(image["file"])
        boxes = np.asarray([b for _, b in pred.get(name, [])], np.float32).reshape(-1, 4)
        scores = np.asarray([s for s, _ in pred.get(name, [])], np.float32)
        truth_boxes = np.asarray(gt.get(name, []), np.float32).reshape(-1, 4)
        evals.append(ImageEval(boxes, scores, np.zeros(len(boxes), np.int64), truth_boxes, np.zeros(len(truth_boxes), np.int64),
                               image["nm_per_px"]))
    return evals


def rules(validation: List[ImageEval]) -> Dict[str, float]:
    best = best_f1_threshold(validation, 1)
    return {"best F1": best, "recommended": recommended_threshold(best, sum(len(i.gt_boxes) for i in validation)),
            f"fixed {THRESHOLD_PRIOR}": THRESHOLD_PRIOR}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", help="VAL_EVAL_DIR:UNSEEN_EVAL_DIR, one per model")
    parser.add_argument("--draws", type=int, default=40, help="random subsets per model and size (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    scores: Dict[Tuple[str, str], List[float]] = {}
    objects: Dict[str, List[int]] = {}
    for pair in args.pairs:
        val_dir, unseen_dir = pair.split(":")
        validation, unseen = image_evals(val_dir), image_evals(unseen_dir)
        unseen_scores, unseen_tp, unseen_objects = ranked_matches(unseen, 1)

        def f1_at(threshold: float) -> float:
            kept = unseen_scores >= threshold
            return 2 * float(unseen_tp[kept].sum()) / (int(kept.sum()) + unseen_objects)
        draws = [(str(m), rng.sample(validation, m)) for m in SUBSET_SIZES if m < len(validation) for _ in range(args.draws)]
        for size, subset in draws + [("all", validation)]:
            if not any(len(i.gt_boxes) for i in subset):
                continue
            objects.setdefault(size, []).append(sum(len(i.gt_boxes) for i in subset))
            for rule, threshold in rules(subset).items():
                scores.setdefault((size, rule), []).append(f1_at(threshold))
    for size in [str(m) for m in SUBSET_SIZES] + ["all"]:
        if size not in objects:
            continue
        cells = [f"{rule} {np.mean(v):.3f} ({np.percentile(v, 10):.3f})" for (s, rule), v in scores.items() if s == size]
        print(f"{size} validation images (~{np.mean(objects[size]):.0f} objects): mean F1 on the unseen images (worst tenth): "
              + ", ".join(cells))


if __name__ == "__main__":
    main()
