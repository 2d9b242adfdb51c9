"""The training entry point (SageMaker `train`, `python -m exodetect_train`).

Reads the channels under <base>/input/data, the hyperparameters from
<base>/input/config/hyperparameters.json (overridden by command-line options),
checkpoints every epoch to <base>/checkpoints and resumes from there, and writes
model.onnx, model.pt, metrics.json and card.md to <base>/model. On failure the
reason goes to <base>/output/failure and the exit status is non-zero.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import datetime as dt
import hashlib
import json
import math
import os
import random
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from .annotations import AnnotationError, ChannelData, LabelledImage, check_bad_fraction, load_channel
from .data import CropDataset, load_scaled
from .ema import ModelEma, decay_for
from .engine import NonFiniteLossError, evaluate, predict, train_one_epoch
from .export import OPSET, export_onnx, load_init_weights, model_metadata, save_torch_model
from .metrics import threshold_origin
from .hyperparams import (SPECS, Hyperparameters, HyperparameterError, auto_crops_per_image, describe, load_hyperparameters_file,
                          parse_hyperparameters, refit_wanted, tta_wanted, TTA_AUTO_MAX_IMAGES,
                          half_scale_pass_wanted, HALF_SCALE_AUTO_MAX_IMAGES, epochs_wanted, EPOCHS_AUTO_MIN_IMAGES)
from .model import ExportModel, FlipAveraged, build_model
from .split import split_validation
from .paths import SageMakerPaths, sagemaker_paths
from .transforms import ImageReadError

CHECKPOINT_NAME = "last.pt"
REFIT_CHECKPOINT_NAME = "refit.pt"
#: With a refit, the validated model (trained on the train images only) beside model.onnx: what the validation figures
#: describe, and what the promotion's head-to-head and `exodetect evaluate --held-out` score on the held-out images.
HELD_OUT_CHECK_MODEL = "validated.onnx"
CHECKPOINT_FORMAT = "exodetect-checkpoint"
#: Changing these between runs does not invalidate a checkpoint.
RESUMABLE_CHANGES = ("epochs", "workers", "threads")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m exodetect_train", add_help=add_help,
        description="Train the exodetect detector (SageMaker training-container contract).",
        epilog="Every hyperparameter can also come from <base>/input/config/hyperparameters.json; "
               "command-line values win. Run with --list-hyperparameters for the table.")
    p.add_argument("--base-dir", default=None, help="SageMaker base dir (default: env SM_BASE_DIR, else /opt/ml)")
    p.add_argument("--list-hyperparameters", action="store_true", help="print the hyperparameter table and exit")
    g = p.add_argument_group("hyperparameters (strings, as SageMaker passes them)")
    for key, spec in SPECS.items():
        g.add_argument(f"--{key.replace('_', '-')}", dest=key, default=None, metavar="VALUE",
                       help=f"{spec.help} (default {spec.default})")
    p.add_argument("train", nargs="?", help=argparse.SUPPRESS)  # SageMaker runs `IMAGE train`
    return p


def log(msg: str) -> None:
    print(msg, flush=True)


def dataset_fingerprint(channels: Dict[str, ChannelData]) -> str:
    """Stable over copies of the same data: relative paths, file sizes, scales, boxes and outlines (not mtimes)."""
    h = hashlib.sha256()
    for name in sorted(channels):
        for li in channels[name].images:
            entry = [name, li.rel_path, os.path.getsize(li.path), round(li.nm_per_px, 6), np.round(li.boxes, 2).tolist(), li.classes.tolist()]
            if any(p is not None for p in li.polygons):  # box-only data keeps the fingerprint it had before outlines
                entry.append([np.round(p, 2).tolist() if p is not None else None for p in li.polygons])
            h.update(json.dumps(entry).encode())
    return h.hexdigest()[:16]


def lr_lambda_factory(warmup_steps: int, total_steps: int):
    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return f


def make_scaler(device: torch.device, enabled: bool):
    on = enabled and device.type == "cuda"
    amp_mod = getattr(torch, "amp", None)
    if amp_mod is not None and hasattr(amp_mod, "GradScaler"):
        try:
            return amp_mod.GradScaler("cuda", enabled=on)
        except TypeError:
            pass
    return torch.cuda.amp.GradScaler(enabled=on)


def atomic_torch_save(obj: Any, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def resolve_hyperparameters(args: argparse.Namespace, paths: SageMakerPaths) -> Hyperparameters:
    raw = load_hyperparameters_file(paths.hyperparameters)
    for key in SPECS:
        v = getattr(args, key, None)
        if v is not None:
            raw[key] = v
    return parse_hyperparameters(raw)


def load_channels(paths: SageMakerPaths, hp: Hyperparameters) -> Dict[str, ChannelData]:
    kw = dict(training_nm_per_px=hp.nm_per_px, default_image_nm_per_px=hp.default_image_nm_per_px,
              single_class=hp.single_class, class_names=hp.class_names, min_box_px=hp.min_box_px)
    if not os.path.isdir(paths.channel("train")):
        raise AnnotationError(f"no 'train' channel: {paths.channel('train')} does not exist")
    channels = {"train": load_channel(paths.channel("train"), **kw)}
    for name in ("validation", "test"):
        if os.path.isdir(paths.channel(name)):
            channels[name] = load_channel(paths.channel(name), **kw)
    names = channels["train"].class_names
    for name, ch in channels.items():
        check_bad_fraction(ch, hp.max_bad_annotation_fraction, name)
        if ch.class_names != names:
            raise AnnotationError(f"channel {name!r} has classes {ch.class_names}, train has {names}: "
                                  "give class_names (hyperparameter) or dataset.json classes")
    return channels


def card_markdown(hp: Hyperparameters, metrics: Dict, n_params: int, class_names: Sequence[str],
                  channels: Dict[str, ChannelData], history: List[Dict], best_epoch: int, device: str,
                  data_note: Optional[str]) -> str:
    v = metrics["validation"]
    lines = [
        f"# exodetect model {metrics['model_version']}", "",
        "CenterNet-style anchor-free detector (exodetect_train.model.ExoNet): residual conv backbone to stride 32, "
        "top-down pyramid to stride 4, centre heatmap + log-size + offset heads; "
        f"{n_params:,} parameters, width {hp.width}. ONNX opset {OPSET}: `images` float32 [N,1,H,W] in 0..1 "
        f"(H, W multiples of 32) -> `detections` float32 [N,{hp.max_detections},6] (x1, y1, x2, y2, score, class), "
        "per-image normalisation and peak decoding inside the graph."
        + (" Test-time augmentation inside the graph (`tta`): the image and its three mirror images, each output mapped "
           "back and averaged; four times the compute of one pass." if metrics["tta"] else "")
        + (" A second pass inside the graph at half the image's size (`half_scale_pass`), the surer of two detections "
           "of one object kept; about 1.25 times the compute of one pass." if metrics.get("half_scale_pass") else "")
        + (f" Outline head: {hp.outline_rays} star-convex rays at each centre -> `outlines` float32 "
           f"[N,{hp.max_detections},{2 * hp.outline_rays}] (a polygon x0, y0, ... per detection; model format 2), trained on "
           f"polygons where the truth has them and on boxes' inscribed ellipses (weight {hp.outline_box_weight}) where not."
           if hp.outline_rays else ""), "",
        "## Data", "",
        data_note or "",
        f"- classes: {', '.join(class_names)}; training scale {hp.nm_per_px} nm/px (every image resampled to it)",
        f"- dataset fingerprint `{metrics['dataset_fingerprint']}`",
    ]
    for name, ch in channels.items():
        lines.append(f"- channel `{name}`: {len(ch.images)} images, {ch.objects} objects, {ch.skipped} skipped annotations/images")
    lines += ["", "## Recipe", "", f"Trained on {device}; best epoch {best_epoch} of {metrics['epochs']} (by validation AP50, then F1); "
              f"{metrics['crops_per_image']} crops per image per epoch.", ""]
    refit = metrics.get("refit")
    if refit:
        lines += [f"**Refit.** After the validated run, this model was trained again from the same start on all "
                  f"{refit['images']} images (train and validation, {refit['objects']} objects) for {refit['epochs']} epochs, "
                  f"and the last epoch's weights are these. The validation figures below are the validated model's "
                  f"(`{refit['held_out_check_model']}`, trained on the train images only, threshold {refit['validated_threshold']}), "
                  "the estimate for this one: the refit has seen every labelled image, so it has no held-out figures of its "
                  f"own. Its threshold, {metrics['score_threshold']}, finds as many objects on the training images as the "
                  f"validated model does at its own ({refit['threshold_matched_detections']}).", ""]
    lines += ["| hyperparameter | value |", "| --- | --- |"]
    for k, val in hp.to_dict().items():
        # Values decided by the set's size are shown as decided.
        decided = {"crops_per_image": f"empty: {metrics['crops_per_image']}", "tta": f"auto: {metrics['tta']}",
                   "half_scale_pass": f"auto: {metrics['half_scale_pass']}",
                   "refit": f"auto: {metrics['refit'] is not None}"}
        shown = decided[k] if k in decided and val is None else val
        # The trainer's own hold-out fraction applies only when no validation channel was given (the split step's was).
        unused = " (unused: the validation channel was given)" if k == "val_fraction" and "validation" in channels else ""
        lines.append(f"| `{k}` | `{shown}`{unused} |")
    lines += ["", "## Metrics", "",
              f"Recommended score threshold ({'matched to the validated model, above' if refit else threshold_origin(metrics['validation'])}): "
              f"**{metrics['score_threshold']}**.", "",
              "| split | images | objects | precision | recall | F1 | AP50 | AP50:95 | box size error (nm, median) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for split in ("validation", "test"):
        m = metrics.get(split)
        if m:
            lines.append(f"| {split} | {m['n_images']} | {m['n_objects']} | {m['precision']} | {m['recall']} | {m['f1']} | "
                         f"{m['ap50']} | {m['ap50_95']} | {m['diameter_median_abs_error_nm']} |")
    sized = [(split, metrics[split]) for split in ("validation", "test") if metrics.get(split) and metrics[split].get("sizing_n")]
    if sized:
        lines += ["", "Sizing against the true outlines (matched objects whose truth has an outline): relative error of the "
                  "area-equivalent diameter of the outline head's outline (in PyTorch, at the training scale), and of the "
                  "box's sqrt(w*h). `exodetect run` reports the diameter of the outline fitted in the image first (the "
                  "head's where the fit finds no edge), usually closer: `exodetect evaluate` measures that on any annotated "
                  "images, and the training workflow's promotion adds it for these validation images at the end of this card.", "",
                  "| split | objects | outline head: median abs error | bias | within 10% | box: median abs error | bias | within 10% |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for split, m in sized:
            lines.append(f"| {split} | {m['sizing_n']} | {m['outline_diameter_median_abs_rel_error']} | {m['outline_diameter_median_rel_bias']} | "
                         f"{m['outline_diameter_within_10pct']} | {m['box_diameter_median_abs_rel_error']} | "
                         f"{m['box_diameter_median_rel_bias']} | {m['box_diameter_within_10pct']} |")
    lines += ["", "Boxes are matched at IoU 0.5; AP is COCO-style (101-point); the diameter error in nm is the box's "
              "sqrt(w*h) x nm/px against the true box's.", "",
              "## Training log", "", "```"]
    for hrow in history:
        lines.append(" ".join(f"{k}={v}" for k, v in hrow.items()))
    lines += ["```", ""]
    del v
    return "\n".join(lines)


def start_model(hp: Hyperparameters, n_classes: int, paths: SageMakerPaths, device: torch.device,
                announce: bool) -> Tuple[torch.nn.Module, int]:
    """A new network, with the init_from weights when given (the same start for the validated run and the refit)."""
    net, n_params = build_model(n_classes, hp.width, hp.outline_rays)
    if hp.init_from:
        init_path = hp.init_from if os.path.isabs(hp.init_from) else os.path.join(paths.input_data, hp.init_from)
        info = load_init_weights(net, init_path)
        if announce:
            log(f"init_from {init_path}: {info['loaded']} tensors loaded, {info['skipped']} re-initialised")
    return net.to(device), n_params


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def count_matched_threshold(validated: ExportModel, refit: ExportModel, images: List, threshold: float,
                            device: torch.device) -> Tuple[float, int]:
    """The refit model's threshold: the score above which it finds as many objects on the training images as the
    validated model does above its own threshold (both trained on those images, so both are as sure of them as
    they will be). The refit scores lower across the board (measured on 30 real images: best F1 on unseen images at
    0.35-0.44 against the validated model's 0.55-0.61), so the validated threshold would cut its recall. Returns the
    threshold and the number of detections matched."""
    theirs = np.concatenate([d[:, 4] for d in predict(validated, images, device)] or [np.zeros(0)])
    ours = np.sort(np.concatenate([d[:, 4] for d in predict(refit, images, device)] or [np.zeros(0)]))[::-1]
    n = int((theirs >= threshold).sum())
    if n == 0 or len(ours) == 0:
        return threshold, n
    return round(float(ours[min(n, len(ours)) - 1]), 4), n


def auto_reason(name: str, flag: Optional[bool], n_labelled: int, auto_max_images: int) -> str:
    """Why a switch that is auto by the set's size (hyperparams._auto) is on, in the log's words."""
    if flag is None:
        return f"auto: {n_labelled} labelled images, fewer than {auto_max_images}; {name}=false turns it off"
    return f"{name}=true"


def resolve_epochs(hp: Hyperparameters, n_labelled: int) -> Tuple[Hyperparameters, str]:
    """hp with its epochs decided (auto: by the set's size) and the log line that gives the number and why, which
    `exodetect train` reads for its progress lines."""
    why = (f"epochs={hp.epochs}" if hp.epochs is not None else f"auto: {n_labelled} labelled images, "
           f"{'at least' if n_labelled >= EPOCHS_AUTO_MIN_IMAGES else 'fewer than'} {EPOCHS_AUTO_MIN_IMAGES}")
    resolved = replace(hp, epochs=epochs_wanted(hp.epochs, n_labelled))
    return resolved, f"epochs: {resolved.epochs} ({why})"


def shipped_detector(net: torch.nn.Module, k: int, tta: bool, half_scale_pass: bool) -> ExportModel:
    """What model.onnx computes from `net`: flip-averaged with tta, with the half-size pass with half_scale_pass."""
    return ExportModel(FlipAveraged(net) if tta else net, k, half_scale_pass)


def round_to_half(net: torch.nn.Module) -> None:
    """model.pt stores float16; rounded here, model.pt, model.onnx and the metrics all describe the same weights."""
    with torch.no_grad():
        for v in net.state_dict().values():
            if v.is_floating_point():
                v.copy_(v.half().float())


def train_phase(net: torch.nn.Module, train_scaled: List, val_scaled: Optional[List], n_classes: int,
                hp: Hyperparameters, args: argparse.Namespace, device: torch.device, ckpt_path: str,
                fingerprint: str, model_version: str) -> Dict[str, Any]:
    """hp.epochs epochs of training, checkpointed every epoch to ckpt_path and resumed from it. With val_scaled, each
    epoch is validated and the best one's weights are kept (`best`); without (the refit), the last epoch's are used.
    Returns the weights judged, kept and exported (`weights`: the moving average when on), history, best,
    crops_per_image and the model version (a resumed run keeps its own)."""
    refit = val_scaled is None
    crops_per_image = hp.crops_per_image or auto_crops_per_image(len(train_scaled))
    log(f"{'refit ' if refit else ''}crops: {crops_per_image} per image per epoch, {crops_per_image * len(train_scaled)} per epoch"
        + ("" if hp.crops_per_image else f" (crops_per_image empty: chosen for {len(train_scaled)} training images)"))
    dataset = CropDataset(train_scaled, n_classes, hp.crop_size, crops_per_image, hp.seed, hp.augment, hp.scale_jitter)
    gen = torch.Generator()
    loader = DataLoader(dataset, batch_size=hp.batch_size, shuffle=True, num_workers=hp.workers, generator=gen,
                        drop_last=len(dataset) > hp.batch_size, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    steps_per_epoch = len(loader)
    optimizer = torch.optim.AdamW(net.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda_factory(hp.warmup_epochs * steps_per_epoch, hp.epochs * steps_per_epoch))
    scaler = make_scaler(device, hp.amp)
    ema = ModelEma(net, decay_for(hp.ema_half_life_epochs, steps_per_epoch)) if hp.ema_half_life_epochs > 0 else None
    validated = ema.module if ema is not None else net  # the weights each epoch is judged, kept and exported by
    if ema is not None and not refit:
        log(f"weights: a moving average, half-life {hp.ema_half_life_epochs:g} epochs (decay {ema.decay:.5f} a step)")

    start_epoch, history, best = 1, [], {"epoch": 0, "ap50": -1.0, "f1": -1.0, "state": None}
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # our own file; holds RNG states
        same = {k: v for k, v in ckpt.get("hyperparameters", {}).items() if k not in RESUMABLE_CHANGES} == \
               {k: v for k, v in hp.to_dict().items() if k not in RESUMABLE_CHANGES}
        if ckpt.get("format") == CHECKPOINT_FORMAT and same and ckpt.get("dataset_fingerprint") == fingerprint:
            net.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            if ema is not None:
                ema.load_state_dict(ckpt["ema"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            np.random.set_state(ckpt["rng"]["numpy"])
            random.setstate(ckpt["rng"]["python"])
            start_epoch = int(ckpt["epoch"]) + 1
            history = ckpt["history"]
            best = ckpt["best"]
            model_version = ckpt["model_version"]
            log(f"resumed from {ckpt_path} after epoch {ckpt['epoch']}")
        else:
            log(f"ignoring {ckpt_path}: it belongs to a run with other hyperparameters or data")

    for epoch in range(start_epoch, hp.epochs + 1):
        t0 = time.time()
        dataset.set_epoch(epoch)
        gen.manual_seed(hp.seed * 100003 + epoch)
        train_loss = train_one_epoch(net, loader, optimizer, scheduler, device, scaler, epoch, hp.amp, ema)
        lr = optimizer.param_groups[0]["lr"]
        if refit:
            # Not "epoch=" / "train_loss=": the job's metric definitions and the CLI read those as the validated run's.
            row = {"refit_epoch": epoch, "refit_loss": f"{train_loss:.4f}", "lr": f"{lr:.6f}", "epoch_time_s": f"{time.time() - t0:.1f}"}
        else:
            val = evaluate(ExportModel(validated, hp.max_detections), val_scaled, device, n_classes, amp=hp.amp)
            row = {"epoch": epoch, "train_loss": f"{train_loss:.4f}", "val_ap50": f"{val['ap50']:.4f}",
                   "val_f1": f"{val['f1']:.4f}", "lr": f"{lr:.6f}", "epoch_time_s": f"{time.time() - t0:.1f}"}
            if (val["ap50"], val["f1"]) > (best["ap50"], best["f1"]):
                best = {"epoch": epoch, "ap50": val["ap50"], "f1": val["f1"],
                        "state": {k: v.detach().cpu().clone() for k, v in validated.state_dict().items()}}
        history.append(row)
        log(" ".join(f"{k}={v}" for k, v in row.items()))
        atomic_torch_save({
            "format": CHECKPOINT_FORMAT, "epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "ema": ema.state_dict() if ema is not None else None,
            "hyperparameters": hp.to_dict(),
            "args": vars(args), "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            "history": history, "best": best, "model_version": model_version, "dataset_fingerprint": fingerprint,
        }, ckpt_path)
    return {"weights": validated, "history": history, "best": best, "crops_per_image": crops_per_image, "model_version": model_version}


def refit_on_all(hp: Hyperparameters, args: argparse.Namespace, paths: SageMakerPaths, device: torch.device, n_classes: int,
                 train_images: Sequence[LabelledImage], val_images: Sequence[LabelledImage], train_scaled: List,
                 validated: ExportModel, threshold: float, fingerprint: str, model_version: str, tta: bool,
                 half_scale_pass: bool) -> Dict[str, Any]:
    """The refit: from the same start, the same schedule on train + validation, the last epoch kept; its threshold
    matched to the validated model's. Returns the network, the model as exported (flip-averaged with tta), its
    history, its threshold and the record for metrics.json."""
    n_images = len(train_images) + len(val_images)
    log(f"refit: training again on all {n_images} images ({len(train_images)} train + {len(val_images)} validation), "
        f"{hp.epochs} epoch{'' if hp.epochs == 1 else 's'} from the same start, keeping the last; the figures above and the promotion's comparison "
        f"are the validated model's (saved as {HELD_OUT_CHECK_MODEL})")
    try:
        val_for_training = load_scaled(val_images, hp.nm_per_px, hp.outline_rays, hp.outline_box_weight)
    except ImageReadError as e:
        raise AnnotationError(str(e)) from e
    seed_everything(hp.seed + 1)
    net, _ = start_model(hp, n_classes, paths, device, announce=False)
    phase = train_phase(net, list(train_scaled) + val_for_training, None, n_classes, hp, args, device,
                        os.path.join(paths.checkpoints, REFIT_CHECKPOINT_NAME), fingerprint, model_version)
    net = phase["weights"]
    round_to_half(net)
    model = shipped_detector(net, hp.max_detections, tta, half_scale_pass)
    refit_threshold, matched = count_matched_threshold(validated, model, train_scaled, threshold, device)
    log(f"refit threshold: {refit_threshold} (the validated model finds {matched} objects above {threshold} on the "
        f"{len(train_images)} training images; the refit finds as many above {refit_threshold})")
    record = {"images": n_images, "objects": sum(len(li.boxes) for li in list(train_images) + list(val_images)),
              "epochs": hp.epochs, "crops_per_image": phase["crops_per_image"], "held_out_check_model": HELD_OUT_CHECK_MODEL,
              "validated_threshold": threshold, "threshold_matched_detections": matched}
    return {"net": net, "model": model, "history": phase["history"], "threshold": refit_threshold, "record": record}


def run(args: argparse.Namespace, paths: SageMakerPaths) -> int:
    hp = resolve_hyperparameters(args, paths)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(hp.threads or max(1, min(os.cpu_count() or 1, 8)))
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif hp.threads:
        torch.set_num_threads(hp.threads)
    seed_everything(hp.seed)

    channels = load_channels(paths, hp)
    class_names = channels["train"].class_names
    if "validation" in channels:
        train_images, val_images = channels["train"].images, channels["validation"].images
    else:
        train_images, val_images = split_validation(channels["train"].images, hp.val_fraction, hp.seed)
    fingerprint = dataset_fingerprint(channels)
    for name, ch in channels.items():
        for p in ch.problems:
            log(f"annotation problem [{name}] {p}")
    log(f"data: train {len(train_images)} images, validation {len(val_images)} images"
        + (f", test {len(channels['test'].images)} images" if "test" in channels else "")
        + f"; classes {class_names}; fingerprint {fingerprint}; device {device}")

    n_labelled = len(train_images) + len(val_images)
    hp, schedule = resolve_epochs(hp, n_labelled)  # once, so the schedule, the checkpoints and the record hold the number
    log(schedule)
    try:
        train_scaled = load_scaled(train_images, hp.nm_per_px, hp.outline_rays, hp.outline_box_weight)
        val_scaled = load_scaled(val_images, hp.nm_per_px)
        test_scaled = load_scaled(channels["test"].images, hp.nm_per_px) if "test" in channels else None
    except ImageReadError as e:
        raise AnnotationError(str(e)) from e

    net, n_params = start_model(hp, len(class_names), paths, device, announce=True)
    log(f"model: ExoNet width {hp.width}, {n_params} parameters")
    model_version = hp.model_version or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    os.makedirs(paths.checkpoints, exist_ok=True)
    phase = train_phase(net, train_scaled, val_scaled, len(class_names), hp, args, device,
                        os.path.join(paths.checkpoints, CHECKPOINT_NAME), fingerprint, model_version)
    net, history, best, crops_per_image, model_version = (phase["weights"], phase["history"], phase["best"],
                                                           phase["crops_per_image"], phase["model_version"])
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    round_to_half(net)
    tta = tta_wanted(hp.tta, n_labelled)
    if tta:
        why = auto_reason("tta", hp.tta, n_labelled, TTA_AUTO_MAX_IMAGES)
        log(f"tta: model.onnx averages each image and its three mirror images, 4x the inference compute ({why}); "
            "the threshold and the figures below are measured with it, the per-epoch ones without")
    half_scale_pass = half_scale_pass_wanted(hp.half_scale_pass, n_labelled)
    if half_scale_pass:
        why = auto_reason("half_scale_pass", hp.half_scale_pass, n_labelled, HALF_SCALE_AUTO_MAX_IMAGES)
        log("half_scale_pass: model.onnx also runs the network on each image at half size and keeps the surer of two "
            f"detections of one object, about 1.25x the network's compute ({why}); the threshold and the figures below are "
            "measured with it, the per-epoch ones without")
    final = shipped_detector(net, hp.max_detections, tta, half_scale_pass)  # what model.onnx computes: measured and exported alike
    val_metrics = evaluate(final, val_scaled, device, len(class_names))
    threshold = val_metrics["threshold"]
    refitting = refit_wanted(hp.refit, n_labelled)
    # With a refit to come, this is the validated run's threshold; the shipped model's is matched to it below.
    log(f"{'validated threshold' if refitting else 'threshold'}: {threshold} ({threshold_origin(val_metrics)})")
    metrics: Dict[str, Any] = {
        "format": "exodetect-metrics", "version": 1, "model_version": model_version,
        "dataset_fingerprint": fingerprint, "epochs": hp.epochs, "score_threshold": threshold,
        "nm_per_px": hp.nm_per_px, "crops_per_image": crops_per_image, "tta": tta,
        "half_scale_pass": half_scale_pass, "validation": val_metrics,
        "refit": None,
    }

    shipped_net, shipped, shipped_threshold = net, final, threshold
    if refitting:
        refit = refit_on_all(hp, args, paths, device, len(class_names), train_images, val_images, train_scaled, final,
                             threshold, fingerprint, model_version, tta, half_scale_pass)
        shipped_net, shipped, shipped_threshold = refit["net"], refit["model"], refit["threshold"]
        history = history + refit["history"]
        metrics["score_threshold"], metrics["refit"] = shipped_threshold, refit["record"]
    if test_scaled is not None:  # held out from both runs: the shipped model's own estimate
        metrics["test"] = evaluate(shipped, test_scaled, device, len(class_names), threshold=shipped_threshold)
    problems = [dict(p.to_dict(), file=f"{name}/{p.file}") for name, ch in channels.items() for p in ch.problems]
    metrics["annotations"] = {
        "images": sum(len(ch.images) for ch in channels.values()),
        "objects": sum(ch.objects for ch in channels.values()),
        "skipped": sum(ch.skipped for ch in channels.values()),
        "problems": problems,
    }

    os.makedirs(paths.model_dir, exist_ok=True)
    meta = lambda t: model_metadata(class_names, hp.nm_per_px, t, hp.tile_size, model_version, fingerprint, hp.outline_rays)
    if shipped_net is not net:
        net.cpu().eval()
        export_onnx(final, os.path.join(paths.model_dir, HELD_OUT_CHECK_MODEL), meta(threshold))
    shipped_net.cpu().eval()
    export_onnx(shipped, os.path.join(paths.model_dir, "model.onnx"), meta(shipped_threshold))
    save_torch_model(shipped_net, os.path.join(paths.model_dir, "model.pt"), class_names, hp.nm_per_px,
                     {"model_version": model_version, "score_threshold": shipped_threshold})
    write_json(os.path.join(paths.model_dir, "metrics.json"), metrics)
    data_note = os.environ.get("EXODETECT_DATA_NOTE")
    with open(os.path.join(paths.model_dir, "card.md"), "w") as f:
        f.write(card_markdown(hp, metrics, n_params, class_names, channels, history, best["epoch"], str(device), data_note))
    log(f"final: val_ap50={val_metrics['ap50']:.4f} val_f1={val_metrics['f1']:.4f} threshold={shipped_threshold} "
        f"best_epoch={best['epoch']} refit={'yes' if metrics['refit'] else 'no'} model_dir={paths.model_dir}")
    return 0


def write_failure(paths: SageMakerPaths, message: str) -> None:
    try:
        os.makedirs(paths.output, exist_ok=True)
        with open(paths.failure, "w") as f:
            f.write(message[:32000] + "\n")  # SageMaker shows the first 1 KB as FailureReason
    except OSError:
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.list_hyperparameters:
        print(describe())
        return 0
    paths = sagemaker_paths(args.base_dir)
    try:
        return run(args, paths)
    except (HyperparameterError, AnnotationError, NonFiniteLossError, FileNotFoundError) as e:
        msg = f"{type(e).__name__}: {e}"
    except Exception as e:  # anything else: keep the traceback for the person reading the job
        msg = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    print(f"training failed: {msg}", file=sys.stderr, flush=True)
    write_failure(paths, msg)
    return 1
