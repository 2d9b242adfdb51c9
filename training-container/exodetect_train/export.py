"""ONNX export per the model contract, plus the torch weights for fine-tuning (init_from).

model.onnx: input `images` float32 [N, 1, H, W] in 0..1 (H, W multiples of 32, dynamic),
output `detections` float32 [N, K, 6] = x1, y1, x2, y2 (input px), score, class, sorted by
score. With an outline head (format version 2) a second output `outlines` float32 [N, K, 2R]:
each detection row's outline, R vertices x0, y0, x1, y1, ... in input px. Normalisation,
sigmoid, 3x3 max-pool peak picking, top-K, box and outline decoding are inside the graph.
metadata_props: the keys of model_contract.json, which inference reads too (`exodetect.outline`
only with an outline head). Readers of format 1 models keep working: outlines are optional.
"""
from __future__ import annotations

import inspect
import json
import os
from typing import Dict, Optional, Sequence

import torch

from .model import ExoNet, ExportModel
from .outline import describe as describe_outline

OPSET = 13
#: The model contract, shared with inference (lambdas/shared/contracts.ts reads the same file).
with open(os.path.join(os.path.dirname(__file__), "model_contract.json"), encoding="utf-8") as _f:
    CONTRACT = json.load(_f)
FORMAT_NAME = CONTRACT["format_name"]
#: 1: detections only; 2: detections and outlines.
FORMAT_VERSION = "1"
FORMAT_VERSION_WITH_OUTLINES = "2"
if not {FORMAT_VERSION, FORMAT_VERSION_WITH_OUTLINES} <= set(CONTRACT["format_versions"]):
    raise RuntimeError("model_contract.json does not list the format versions export.py writes")
TORCH_FORMAT = "exodetect-torch"
METADATA_KEYS: Dict[str, str] = CONTRACT["metadata_keys"]
INPUT_NAME = CONTRACT["input_name"]
DETECTIONS_OUTPUT = CONTRACT["detections_output"]
OUTLINES_OUTPUT = CONTRACT["outlines_output"]


def model_metadata(class_names: Sequence[str], nm_per_px: float, score_threshold: float, tile_size: int,
                   model_version: str, dataset_fingerprint: str, outline_rays: int = 0) -> Dict[str, str]:
    meta = {
        METADATA_KEYS["format"]: FORMAT_NAME,
        METADATA_KEYS["format_version"]: FORMAT_VERSION_WITH_OUTLINES if outline_rays else FORMAT_VERSION,
        METADATA_KEYS["class_names"]: json.dumps(list(class_names)),
        METADATA_KEYS["nm_per_px"]: repr(float(nm_per_px)),
        METADATA_KEYS["score_threshold"]: f"{score_threshold:.4f}",
        METADATA_KEYS["tile_size"]: str(int(tile_size)),
        METADATA_KEYS["model_version"]: model_version,
        METADATA_KEYS["dataset_fingerprint"]: dataset_fingerprint,
        METADATA_KEYS["input_channels"]: str(CONTRACT["input_channels"]),
    }
    if outline_rays:
        meta[METADATA_KEYS["outline"]] = describe_outline(outline_rays)
    return meta


def declare_fixed_k(m, k: int) -> None:
    """The exporter names K symbolically (it comes out of TopK); it is a constant: say so in the graph (every output)."""
    for output in m.graph.output:
        dim = output.type.tensor_type.shape.dim[1]
        dim.ClearField("dim_param")
        dim.dim_value = int(k)


def export_onnx(model: ExportModel, path: str, metadata: Dict[str, str], opset: int = OPSET) -> None:
    """model.onnx from what the trainer measured (model.ExportModel: the network, flip-averaged or not, one pass or two)."""
    import onnx  # only needed here; the image installs it

    model = model.eval().cpu()
    k = model.k
    dummy = torch.rand(1, 1, 128, 160)
    outlines = model.outline_head is not None
    output_names = [DETECTIONS_OUTPUT, OUTLINES_OUTPUT] if outlines else [DETECTIONS_OUTPUT]
    kwargs = dict(
        input_names=[INPUT_NAME], output_names=output_names, opset_version=opset,
        dynamic_axes={INPUT_NAME: {0: "N", 2: "H", 3: "W"}, **{name: {0: "N"} for name in output_names}},
        do_constant_folding=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.5: keep the TorchScript exporter (same graph as on 1.13)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), tmp, **kwargs)
    m = onnx.load(tmp)
    declare_fixed_k(m, k)
    del m.metadata_props[:]
    for key, value in metadata.items():
        p = m.metadata_props.add()
        p.key, p.value = key, value
    m.producer_name = "exodetect_train"
    m.doc_string = ("exodetect CenterNet-style detector: images [N,1,H,W] 0..1 -> detections [N,K,6] x1,y1,x2,y2,score,class"
                    + (f"; outlines [N,K,{2 * model.outline_rays}] x0,y0,x1,y1,... per detection" if outlines else ""))
    onnx.checker.check_model(m)
    onnx.save(m, tmp)
    os.replace(tmp, path)


def save_torch_model(net: ExoNet, path: str, class_names: Sequence[str], nm_per_px: float, extra: Optional[Dict] = None) -> None:
    """model.pt: what init_from reads to fine-tune."""
    state = {
        "format": TORCH_FORMAT, "version": 1,
        "arch": {"name": "ExoNet", "num_classes": net.num_classes, "width": net.width, "outline_rays": net.outline_rays},
        "class_names": list(class_names), "nm_per_px": float(nm_per_px),
        # float16 on disk halves the file; loading casts back (fine-tuning does not notice the rounding).
        "state_dict": {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()) for k, v in net.state_dict().items()},
    }
    if extra:
        state.update(extra)
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_init_weights(net: ExoNet, path: str) -> Dict[str, int]:
    """Copies every tensor whose name and shape match (a new class count re-initialises the heatmap head)."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"init_from: {path} does not exist (expected a model.pt written by this trainer)")
    try:  # tensors, dicts and strings only: the safe loader suffices (torch >= 1.13)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a full training checkpoint also holds RNG states (numpy arrays)
        state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and state.get("format") == TORCH_FORMAT:
        sd = state["state_dict"]
    elif isinstance(state, dict) and "model" in state:
        sd = state["model"]  # a training checkpoint
    else:
        raise ValueError(f"init_from: {path} is not an exodetect model.pt or checkpoint")
    own = net.state_dict()
    loaded = skipped = 0
    for k, v in sd.items():
        if k in own and own[k].shape == v.shape:
            own[k] = v.to(own[k].dtype)
            loaded += 1
        else:
            skipped += 1
    net.load_state_dict(own)
    return {"loaded": loaded, "skipped": skipped}
