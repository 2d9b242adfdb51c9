"""Test-time augmentation (hyperparameter tta): FlipAveraged in the exported graph, run in onnxruntime-node."""
import json
import os

import numpy as np
import onnx
import pytest
import torch

from conftest import REPO_ROOT
from exodetect_train.export import export_onnx, load_init_weights
from exodetect_train.metrics import ImageEval, evaluate_detections
from exodetect_train.model import ExportModel, FlipAveraged, build_model
from exodetect_train.outline import flip_rays, mirrored_ray_order
from exodetect_train.transforms import pad_to_multiple, read_image, resample_to_scale
from test_training import run_onnx_in_node

BUNDLED = os.path.join(REPO_ROOT, "models", "default")
DEMO = os.path.join(REPO_ROOT, "samples", "demo-batch")


@pytest.mark.parametrize("horizontal,expected", [
    (True, [4, 3, 2, 1, 0, 7, 6, 5]),   # ray k at 45k degrees: across x, angle t is pi - t
    (False, [0, 7, 6, 5, 4, 3, 2, 1]),  # across y, angle t is -t
])
def test_ray_order_of_a_mirror_image_is_the_training_flip(horizontal, expected):
    rays = 8
    indexed = np.arange(rays + 1, dtype=np.float64)[None, :]  # ray k holds k; the last column is the weight
    assert flip_rays(indexed, horizontal)[0, :rays].astype(int).tolist() == expected
    assert mirrored_ray_order(rays, horizontal, not horizontal) == expected
    # Both mirrors: a half turn.
    assert mirrored_ray_order(rays, True, True) == [(k + rays // 2) % rays for k in range(rays)]


def _bundled_net():
    meta = {p.key: p.value for p in onnx.load(os.path.join(BUNDLED, "model.onnx")).metadata_props}
    state_arch = torch.load(os.path.join(BUNDLED, "model.pt"), map_location="cpu")["arch"]
    net, _ = build_model(state_arch["num_classes"], state_arch["width"], state_arch["outline_rays"])
    load_init_weights(net, os.path.join(BUNDLED, "model.pt"))
    return net.eval(), meta


def _centres(det):
    return np.stack([(det[:, 0] + det[:, 2]) / 2, (det[:, 1] + det[:, 3]) / 2], axis=1)


def _nearest(a, b):
    """For each centre of a, the index of the nearest centre of b and its distance."""
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return d.argmin(axis=1), d.min(axis=1)


def test_flip_averaged_export_finds_the_same_vesicles_and_mirrors_exactly(tmp_path):
    net, meta = _bundled_net()
    plain_path, tta_path = str(tmp_path / "plain.onnx"), str(tmp_path / "tta.onnx")
    export_onnx(ExportModel(net, 300), plain_path, meta)
    export_onnx(ExportModel(FlipAveraged(net), 300), tta_path, meta)
    assert {p.key: p.value for p in onnx.load(tta_path).metadata_props} == meta

    thr, model_nm = float(meta["exodetect.score_threshold"]), float(meta["exodetect.nm_per_px"])
    with open(os.path.join(DEMO, "ground-truth.coco.json")) as f:
        gt = json.load(f)
    im = gt["images"][0]
    img, _ = resample_to_scale(read_image(os.path.join(DEMO, im["file_name"])), gt["info"]["nm_per_px"], model_nm)
    x = pad_to_multiple(img)[None, None]
    plain, _ = run_onnx_in_node(plain_path, x, str(tmp_path))
    tta, info = run_onnx_in_node(tta_path, x, str(tmp_path))
    plain, tta = plain[0][plain[0][:, 4] >= thr], tta[0][tta[0][:, 4] >= thr]
    assert len(plain) > 10 and abs(len(tta) - len(plain)) <= max(2, len(plain) // 10), (len(plain), len(tta))

    # The same vesicles in the same places: a wrong offset or size mapping would move the averaged centres.
    idx, dist = _nearest(_centres(tta), _centres(plain))
    assert np.median(dist) < 1.0, np.median(dist)
    size = lambda d: np.sqrt((d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1]))  # noqa: E731
    assert np.median(np.abs(size(tta) / size(plain)[idx] - 1)) < 0.03

    # Averaged over the mirror group, the model is exactly mirror-symmetric: the mirror image's detections are
    # the detections mirrored, outlines included (a wrong ray order would turn them).
    mirrored, mirrored_info = run_onnx_in_node(tta_path, np.ascontiguousarray(x[:, :, :, ::-1]), str(tmp_path))
    mirrored = mirrored[0][mirrored[0][:, 4] >= thr]
    width = x.shape[3]
    back = mirrored.copy()
    back[:, [0, 2]] = width - mirrored[:, [2, 0]]
    idx, dist = _nearest(_centres(back), _centres(tta))
    assert len(back) == len(tta) and dist.max() < 0.05, dist.max()
    assert np.abs(back[:, 4] - tta[idx, 4]).max() < 1e-3
    outlines = info["arrays"][list(info["arrays"])[1]][0][: len(tta)]
    mirrored_outlines = mirrored_info["arrays"][list(mirrored_info["arrays"])[1]][0][: len(mirrored)]
    ox = lambda o: o[:, 0::2]  # noqa: E731
    assert np.abs(np.sort(width - ox(mirrored_outlines), axis=1) - np.sort(ox(outlines[idx]), axis=1)).max() < 0.05

    # And on the ground truth it is as good as the plain model (within a few points of F1).
    g = np.array([a["bbox"] for a in gt["annotations"] if a["image_id"] == im["id"]], np.float32)
    g[:, 2:] += g[:, :2]
    factor = img.shape[1] / im["width"]
    f1 = {name: evaluate_detections([ImageEval(d[:, :4] / factor, d[:, 4], d[:, 5].astype(np.int64), g, np.zeros(len(g), np.int64),
                                               gt["info"]["nm_per_px"])], 1, threshold=thr)["f1"]
          for name, d in (("plain", plain), ("tta", tta))}
    assert f1["tta"] >= f1["plain"] - 0.05 and f1["tta"] >= 0.85, f1
