import math

import numpy as np
import pytest

from exodetect_train.metrics import (THRESHOLD_PRIOR, ImageEval, best_f1_threshold, box_iou, evaluate_detections,
                                     recommended_threshold)


def ev(pred, scores, gt, nm=1.0):
    pred = np.asarray(pred, np.float32).reshape(-1, 4)
    gt = np.asarray(gt, np.float32).reshape(-1, 4)
    return ImageEval(pred, np.asarray(scores, np.float32), np.zeros(len(pred), np.int64), gt, np.zeros(len(gt), np.int64), nm)


def test_perfect_predictions():
    gt = [[0, 0, 10, 10], [20, 20, 40, 40]]
    m = evaluate_detections([ev(gt, [0.9, 0.8], gt, nm=2.0)], 1)
    assert m["ap50"] == 1.0 and m["ap50_95"] == 1.0 and m["f1"] == 1.0
    assert m["diameter_median_abs_error_nm"] == 0.0
    assert m["n_objects"] == 2 and m["n_images"] == 1


def test_false_positive_ranked_first_halves_ap():
    m = evaluate_detections([ev([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], [[0, 0, 10, 10]])], 1)
    assert m["ap50"] == pytest.approx(0.5, abs=1e-3)
    assert m["best_f1_threshold"] == pytest.approx(0.8, abs=1e-4)
    # One object says little: the threshold stays near the prior, below the false positive's 0.9.
    assert m["threshold"] == recommended_threshold(0.8, 1) < 0.6
    assert (m["precision"], m["recall"]) == (0.5, 1.0)


def test_best_f1_threshold_drops_the_low_scoring_false_positive():
    imgs = [ev([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.3], [[0, 0, 10, 10]])]
    assert best_f1_threshold(imgs, 1) == pytest.approx(0.9, abs=1e-4)
    m = evaluate_detections(imgs, 1)
    assert m["precision"] == 1.0 and m["f1"] == 1.0
    fixed = evaluate_detections(imgs, 1, threshold=0.2)
    assert fixed["precision"] == 0.5 and fixed["threshold"] == 0.2


def test_recommended_threshold_trusts_the_best_f1_one_as_objects_accumulate():
    assert recommended_threshold(0.9, 0) == THRESHOLD_PRIOR
    few, many = recommended_threshold(0.1, 18), recommended_threshold(0.1, 2000)
    assert 0.3 < few < 0.4  # 18 objects: drawn most of the way to the prior
    assert 0.1 < many < 0.11  # 2000: nearly their own
    assert recommended_threshold(0.7, 40) == pytest.approx((0.7 + THRESHOLD_PRIOR) / 2, abs=1e-4)
    # Floored to 4 decimals, as recorded.
    assert recommended_threshold(0.33333, 40) == math.floor(((0.33333 + THRESHOLD_PRIOR) / 2) * 1e4) / 1e4


def test_ap50_95_and_diameter_error_in_nm():
    gt = [[0, 0, 10, 12.1]]
    pred = [[0, 0, 10, 10]]  # IoU 0.826: a hit at 0.50 .. 0.80 (7 of 10 thresholds)
    m = evaluate_detections([ev(pred, [0.9], gt, nm=2.0)], 1)
    assert m["ap50"] == 1.0
    assert m["ap50_95"] == pytest.approx(0.7, abs=1e-3)
    assert m["diameter_median_abs_error_nm"] == pytest.approx(abs(10 - np.sqrt(121)) * 2.0, abs=1e-3)


def test_missed_objects_and_empty_images():
    m = evaluate_detections([ev([], [], [[0, 0, 10, 10]]), ev([], [], [])], 1)
    assert m["ap50"] == 0.0 and m["recall"] == 0.0 and m["diameter_median_abs_error_nm"] is None


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 10, 10]], np.float32), np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32))
    np.testing.assert_allclose(iou, [[1 / 3, 0]], atol=1e-6)
