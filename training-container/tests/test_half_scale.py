"""The half-size pass (hyperparameter half_scale_pass): ExportModel's second pass and keep_surest, in PyTorch and in
the exported graph run by onnxruntime-node."""
import json
import os

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from exodetect_train.export import export_onnx
from exodetect_train.model import ExportModel, keep_surest
from exodetect_train.transforms import pad_to_multiple, read_image, resample_to_scale
from test_training import run_onnx_in_node
from test_tta import DEMO, _bundled_net


def _rows(*rows):
    return torch.tensor([rows], dtype=torch.float32)


def test_keep_surest_drops_the_less_sure_of_one_object_across_the_passes_and_keeps_the_rest():
    first = _rows([1, 1, 11, 11, 0.9, 0],     # the surest: kept
                  [0, 0, 10, 10, 0.6, 0],     # the same object as the second pass's 0.8: dropped
                  [30, 30, 40, 40, 0.55, 0],  # overlaps a second-pass detection of another class: kept
                  [0, 0, 0, 0, 0.0, 0])       # padding
    second = _rows([0, 1, 10, 11, 0.8, 0],    # the same object as the first pass's 0.9: dropped
                   [50, 50, 60, 60, 0.5, 0],  # another object: kept
                   [30, 31, 40, 41, 0.7, 1])  # another class: kept
    # Each row's outline holds its row number (first pass 0-3, second 10-12), to see that it travels with its detection.
    first_outlines = torch.arange(4, dtype=torch.float32).reshape(1, 4, 1).expand(1, 4, 4).clone()
    second_outlines = (10 + torch.arange(3, dtype=torch.float32)).reshape(1, 3, 1).expand(1, 3, 4).clone()
    kept, kept_outlines = keep_surest(first, first_outlines, second, second_outlines, 5)
    assert kept.shape == (1, 5, 6) and kept_outlines.shape == (1, 5, 4)
    assert kept[0, :, 4].tolist() == pytest.approx([0.9, 0.7, 0.55, 0.5, 0.0])
    assert kept[0, 0, :4].tolist() == [1, 1, 11, 11]
    assert kept_outlines[0, :4, 0].tolist() == [0, 12, 2, 11]
    # Equally sure: the first pass's is kept.
    tied, _ = keep_surest(_rows([0, 0, 10, 10, 0.6, 0]), None, _rows([0, 0, 10, 10, 0.6, 0]), None, 2)
    assert tied[0, :, 4].tolist() == pytest.approx([0.6, 0.0])


def _demo_tile():
    net, meta = _bundled_net()
    with open(os.path.join(DEMO, "ground-truth.coco.json")) as f:
        gt = json.load(f)
    im = gt["images"][0]
    img, _ = resample_to_scale(read_image(os.path.join(DEMO, im["file_name"])), gt["info"]["nm_per_px"],
                               float(meta["exodetect.nm_per_px"]))
    # Multiples of 32 but not of 64: the half-size pass sees multiples of 16, which the network must take.
    x = pad_to_multiple(img)[None, None][:, :, :352, :288]
    assert x.shape[2:] == (352, 288)
    return net, meta, np.ascontiguousarray(x)


def test_half_scale_pass_adds_the_half_size_detections_in_the_image_px():
    net, meta, x = _demo_tile()
    thr = float(meta["exodetect.score_threshold"])
    images = torch.from_numpy(x)
    with torch.no_grad():
        both, _ = ExportModel(net, 300, half_scale_pass=True)(images)
        one, _ = ExportModel(net, 300)(images)
        half, _ = ExportModel(net, 300)(F.avg_pool2d(images, 2))
    both, one, half = (d[0].numpy() for d in (both, one, half))
    half = half[half[:, 4] >= thr].copy()
    half[:, :4] *= 2
    both = both[both[:, 4] >= thr]
    assert len(half) > 3
    # Every sure detection of either pass is there, in the image's px: itself, or a surer detection of the same
    # object (a wrong factor of 2 or a lost pass would break this).
    for found in (one[one[:, 4] >= thr], half):
        overlap = _iou(found[:, :4], both[:, :4])
        surer_same = (overlap > 0.5) & (both[None, :, 4] >= found[:, None, 4] - 1e-5)
        assert surer_same.any(axis=1).all()
    # The single pass's own detections that nothing surer overlaps are there exactly.
    assert (_iou(one[one[:, 4] >= thr][:, :4], both[:, :4]) > 0.999).any(axis=1).sum() >= len(both) // 2
    # ...and no object twice: fewer than the two passes' together.
    assert len(both) < len(one[one[:, 4] >= thr]) + len(half)


def _iou(a, b):
    """IoU of every box of a [n, 4] with every box of b [m, 4] (x1, y1, x2, y2)."""
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = lambda d: (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def test_half_scale_export_runs_in_onnxruntime_as_in_pytorch(tmp_path):
    net, meta, x = _demo_tile()
    path = str(tmp_path / "half.onnx")
    model = ExportModel(net, 300, half_scale_pass=True)
    export_onnx(model, path, meta)
    assert {p.key: p.value for p in onnx.load(path).metadata_props} == meta
    det, info = run_onnx_in_node(path, x, str(tmp_path))
    with torch.no_grad():
        ref, ref_outlines = (t.numpy() for t in model(torch.from_numpy(x)))
    sure = ref[0, :, 4] >= 0.1
    assert sure.sum() > 10
    np.testing.assert_allclose(det[0][sure], ref[0][sure], atol=1e-3)
    np.testing.assert_allclose(info["arrays"]["outlines"][0][sure], ref_outlines[0][sure], atol=1e-2)
