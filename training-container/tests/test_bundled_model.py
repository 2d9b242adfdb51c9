"""The bundled default model (models/default) against the bundled demo batch, run in onnxruntime-node."""
import json
import os

import numpy as np
import onnx

from conftest import REPO_ROOT
from exodetect_train.metrics import ImageEval, evaluate_detections
from exodetect_train.transforms import pad_to_multiple, read_image, resample_to_scale
from test_training import contract_metadata_keys, run_onnx_in_node

MODEL = os.path.join(REPO_ROOT, "models", "default", "model.onnx")
DEMO = os.path.join(REPO_ROOT, "samples", "demo-batch")


def test_default_model_metadata_and_metrics_file():
    meta = {p.key: p.value for p in onnx.load(MODEL).metadata_props}
    assert set(meta) == contract_metadata_keys(meta["exodetect.format_version"])
    with open(os.path.join(REPO_ROOT, "models", "default", "metrics.json")) as f:
        metrics = json.load(f)
    assert float(meta["exodetect.score_threshold"]) == metrics["score_threshold"]
    assert float(meta["exodetect.nm_per_px"]) == metrics["nm_per_px"]
    assert int(meta["exodetect.tile_size"]) % 32 == 0
    assert os.path.getsize(MODEL) < 8 * 1024 * 1024


def test_default_model_finds_the_demo_vesicles(tmp_path):
    meta = {p.key: p.value for p in onnx.load(MODEL).metadata_props}
    model_nm, thr = float(meta["exodetect.nm_per_px"]), float(meta["exodetect.score_threshold"])
    with open(os.path.join(DEMO, "ground-truth.coco.json")) as f:
        gt = json.load(f)
    nm = gt["info"]["nm_per_px"]
    evals = []
    for im in gt["images"][:2] + gt["images"][-1:]:  # two 8-bit PNGs and the 16-bit TIFF
        img, factor = resample_to_scale(read_image(os.path.join(DEMO, im["file_name"])), nm, model_nm)
        x = pad_to_multiple(img)[None, None]
        det, _ = run_onnx_in_node(MODEL, x, str(tmp_path))
        det = det[0][det[0][:, 4] >= thr]
        boxes = det[:, :4] / factor
        g = np.array([a["bbox"] for a in gt["annotations"] if a["image_id"] == im["id"]], np.float32)
        g[:, 2:] += g[:, :2]
        evals.append(ImageEval(boxes, det[:, 4], det[:, 5].astype(np.int64), g, np.zeros(len(g), np.int64), nm))
    m = evaluate_detections(evals, 1, threshold=thr)
    assert m["f1"] >= 0.85, m
    assert m["diameter_median_abs_error_nm"] < 6.0, m
