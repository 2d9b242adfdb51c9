"""Hyperparameters: the one place that names, parses, validates and documents them.

SageMaker hands every value over as a string (hyperparameters.json); the CLI does too.
Each is parsed once here; unknown keys are rejected with the list of allowed ones.
Keys that SageMaker itself adds (`sagemaker_*`, `_tuning_objective_metric`) are ignored.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Dict, Mapping, Optional, Tuple


class HyperparameterError(ValueError):
    """A hyperparameter is unknown, malformed or out of range."""


def _parse_bool(v: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false")


def _parse_auto_bool(v: str) -> Optional[bool]:
    """auto (or empty): None, decided by the set's size; else a boolean."""
    if v.strip().lower() in ("", "auto"):
        return None
    try:
        return _parse_bool(v)
    except ValueError:
        raise ValueError("expected auto, true or false") from None


def _parse_opt_str(v: str) -> Optional[str]:
    s = v.strip()
    return s or None


def _parse_opt_int(v: str) -> Optional[int]:
    s = v.strip()
    return int(s) if s else None


def _parse_opt_float(v: str) -> Optional[float]:
    s = v.strip()
    return float(s) if s else None


def _parse_class_names(v: str) -> Optional[Tuple[str, ...]]:
    s = v.strip()
    if not s:
        return None
    names = json.loads(s) if s.startswith("[") else [p.strip() for p in s.split(",")]
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError("expected a comma-separated list or JSON array of non-empty names")
    if len(set(names)) != len(names):
        raise ValueError("class names must be unique")
    return tuple(n.strip() for n in names)


def _mult32(v: int) -> Optional[str]:
    return None if v % 32 == 0 else "must be a multiple of 32"


def _range(lo: float, hi: float, lo_open: bool = False) -> Callable[[Any], Optional[str]]:
    def check(v: Any) -> Optional[str]:
        if v is None:
            return None
        if isinstance(v, float) and not math.isfinite(v):
            return "must be finite"
        if v < lo or v > hi or (lo_open and v == lo):
            return f"must be in {'(' if lo_open else '['}{lo}, {hi}]"
        return None
    return check


# crops_per_image left empty: 4 crops an image, but a 20-image set then sees only 80 crops an epoch.
# Measured on 20 real training images (30 annotated, 20/10, fine-tuned from the bundled model), 16 crops an
# image beat 4: held-out AP50 0.837 vs 0.810, F1 0.782 vs 0.728. Sets of 80 images or more are unchanged.
AUTO_CROPS_PER_IMAGE = 4
AUTO_MIN_CROPS_PER_EPOCH = 320
AUTO_MAX_CROPS_PER_IMAGE = 16


def auto_crops_per_image(n_train_images: int) -> int:
    """The crops_per_image an empty value stands for, given the number of training images."""
    wanted = math.ceil(AUTO_MIN_CROPS_PER_EPOCH / max(1, n_train_images))
    return max(AUTO_CROPS_PER_IMAGE, min(AUTO_MAX_CROPS_PER_IMAGE, wanted))


# refit empty/auto: train again on train + validation when they hold fewer images than this. Measured on 30 real
# annotated images (20/10, fine-tuned from the bundled model, two seeds, `exodetect train` defaults), scored on 56 and
# on 170 other images: AP50 0.865 / 0.871 and 0.882 / 0.884 for the refit against 0.840 / 0.854 and 0.856 / 0.862 for
# the validated model, F1 at each one's threshold up in all four: a third of a small set's grids is too much to leave
# out of the shipped model. Larger sets lose less and pay more (training time doubles), so they keep the validated one.
REFIT_AUTO_MAX_IMAGES = 100


def _auto(flag: Optional[bool], n_images: int, auto_max_images: int) -> bool:
    """A switch that is auto (None) decides by the set's size: on below auto_max_images."""
    return flag if flag is not None else n_images < auto_max_images


def refit_wanted(refit: Optional[bool], n_train_and_validation_images: int) -> bool:
    """Whether to refit, given the hyperparameter (None: auto) and the images of train and validation together."""
    return _auto(refit, n_train_and_validation_images, REFIT_AUTO_MAX_IMAGES)


# tta empty/auto: flip-average inside model.onnx when train + validation hold fewer images than this. Measured on 30
# real annotated images (20/10, refit, two seeds, `exodetect train` defaults) on 56 held-out images: AP50 0.865 -> 0.879
# and 0.882 -> 0.897, F1 at each one's threshold 0.772 -> 0.802 and 0.808 -> 0.821, up on 170 other images too, for
# 3.9x the model's time per tile (2.0x the whole path at 512 px). On 200 images it gained less (AP50 0.919 -> 0.927),
# so larger sets keep the single pass.
TTA_AUTO_MAX_IMAGES = 100


def tta_wanted(tta: Optional[bool], n_train_and_validation_images: int) -> bool:
    """Whether model.onnx flip-averages, given the hyperparameter (None: auto) and the images of train and validation."""
    return _auto(tta, n_train_and_validation_images, TTA_AUTO_MAX_IMAGES)


# epochs empty/auto: 40, or 80 when train and validation hold this many images or more. Measured on 200 real annotated
# images (160/40, fine-tuned from the bundled model): with 40 epochs the best epoch was the last and the loss still
# fell; 80 epochs lifted AP50 0.919 -> 0.944 and 0.916 -> 0.945 (two seeds) and F1 at the model's threshold
# 0.852 -> 0.880 and 0.837 -> 0.866 on 56 held-out images.
# On 30 images 80 epochs gained nothing (AP50 0.835 vs 0.840): a small set gives out before the schedule does.
AUTO_EPOCHS = 40
AUTO_EPOCHS_LARGE_SET = 80
EPOCHS_AUTO_MIN_IMAGES = 100


def epochs_wanted(epochs: Optional[int], n_train_and_validation_images: int) -> int:
    """The epochs to train, given the hyperparameter (None: auto) and the images of train and validation."""
    if epochs is not None:
        return epochs
    return AUTO_EPOCHS_LARGE_SET if n_train_and_validation_images >= EPOCHS_AUTO_MIN_IMAGES else AUTO_EPOCHS


# half_scale_pass empty/auto: the half-size pass inside model.onnx when train + validation hold fewer images than this.
# A model fine-tuned on a few images has seen few large particles; at half size they look like the ones it learnt.
# Measured on 30 real annotated images (the defaults, the same weights with and without it), two seeds: on 56 held-out
# images AP50 0.879 -> 0.895 and 0.897 -> 0.906, F1 at each one's threshold 0.797 -> 0.815 and 0.787 -> 0.812,
# up on 170 other images too, for 1.21-1.28x the network's time. A model trained on 200 images gained nothing (best F1 0.861
# against 0.859 with it), so larger sets keep the single pass.
HALF_SCALE_AUTO_MAX_IMAGES = 100


def half_scale_pass_wanted(half_scale_pass: Optional[bool], n_train_and_validation_images: int) -> bool:
    """Whether model.onnx adds the half-size pass, given the hyperparameter (None: auto) and the images of train and
    validation."""
    return _auto(half_scale_pass, n_train_and_validation_images, HALF_SCALE_AUTO_MAX_IMAGES)


# Off: measured on 20 real training images (README, "A moving average of the weights"), the average made the
# per-epoch validation figures steadier but did not lift the held-out ones (AP50 0.835 vs 0.840).
EMA_HALF_LIFE_EPOCHS = 0.0


@dataclass(frozen=True)
class Spec:
    parse: Callable[[str], Any]
    default: Any
    help: str
    check: Optional[Callable[[Any], Optional[str]]] = None


SPECS: Dict[str, Spec] = {
    "epochs": Spec(_parse_opt_int, None, f"training epochs (empty: {AUTO_EPOCHS}, or {AUTO_EPOCHS_LARGE_SET} when train and "
                   f"validation hold {EPOCHS_AUTO_MIN_IMAGES} images or more)", _range(1, 10000)),
    "batch_size": Spec(int, 8, "crops per optimisation step", _range(1, 1024)),
    "lr": Spec(float, 2e-3, "peak learning rate (AdamW, linear warm-up then cosine decay)", _range(0.0, 1.0, lo_open=True)),
    "weight_decay": Spec(float, 1e-4, "AdamW weight decay", _range(0.0, 1.0)),
    "warmup_epochs": Spec(int, 1, "epochs of linear learning-rate warm-up", _range(0, 1000)),
    "nm_per_px": Spec(float, 2.0, "training scale: every image is resampled to this many nm per pixel", _range(0.01, 1000.0, lo_open=True)),
    "default_image_nm_per_px": Spec(_parse_opt_float, None, "scale of images that dataset.json does not calibrate (empty: assume nm_per_px)", _range(0.01, 1000.0, lo_open=True)),
    "crop_size": Spec(int, 256, "square training crop edge in px at the training scale (multiple of 32)", lambda v: _range(64, 2048)(v) or _mult32(v)),
    "tile_size": Spec(int, 512, "tile edge the inference side should use, recorded in the model metadata (multiple of 32)", lambda v: _range(64, 4096)(v) or _mult32(v)),
    "crops_per_image": Spec(_parse_opt_int, None, "random crops drawn from each training image per epoch (empty: "
                            f"{AUTO_CROPS_PER_IMAGE}, raised on small sets to give at least {AUTO_MIN_CROPS_PER_EPOCH} "
                            f"crops an epoch, at most {AUTO_MAX_CROPS_PER_IMAGE} an image)", _range(1, 1000)),
    "seed": Spec(int, 0, "random seed (CPU runs are deterministic for a seed)", _range(0, 2**31 - 1)),
    "init_from": Spec(_parse_opt_str, None, "fine-tune from this model.pt (or a folder holding one); relative paths are under the input data dir"),
    "max_bad_annotation_fraction": Spec(float, 0.1, "fail when more than this fraction of annotations/images is bad (they are skipped and counted below it)", _range(0.0, 1.0)),
    "workers": Spec(int, 0, "DataLoader worker processes", _range(0, 64)),
    "val_fraction": Spec(float, 0.2, "share of train images held out for validation when there is no validation channel", _range(0.0, 0.9, lo_open=True)),
    "single_class": Spec(_parse_bool, True, "merge all categories into one class"),
    "class_names": Spec(_parse_class_names, None, "class names (comma list or JSON array); default: dataset.json classes, else 'exosome' for single_class, else the annotation files' names"),
    "width": Spec(int, 24, "network base width (channels at stride 4); parameters grow ~quadratically", _range(8, 128)),
    "max_detections": Spec(int, 300, "K: detections per image in the ONNX output", _range(1, 5000)),
    "amp": Spec(_parse_bool, True, "mixed precision on CUDA (ignored on CPU)"),
    "augment": Spec(_parse_bool, True, "TEM augmentation (flips, rot90, scale jitter, intensity, noise, blur)"),
    "scale_jitter": Spec(float, 0.15, "max relative scale jitter of training crops", _range(0.0, 0.5)),
    "model_version": Spec(_parse_opt_str, None, "version recorded in the model and metrics (default: a UTC timestamp)"),
    "threads": Spec(int, 0, "CPU threads for torch (0: leave torch's default)", _range(0, 256)),
    "min_box_px": Spec(float, 2.0, "boxes narrower or lower than this (original px) are reported as degenerate", _range(0.0, 100.0)),
    "outline_rays": Spec(int, 32, "rays of the outline head (star-convex outline at each centre; a multiple of 4, 0: no outline head, boxes only)",
                         lambda v: None if v == 0 else (_range(8, 128)(v) or (None if v % 4 == 0 else "must be 0 or a multiple of 4"))),
    "tta": Spec(_parse_auto_bool, None, "test-time augmentation: model.onnx averages the image and its three mirror images (4x the "
                "inference compute); the threshold and the held-out figures are measured with it; auto (empty): when train and "
                f"validation hold fewer than {TTA_AUTO_MAX_IMAGES} images"),
    "half_scale_pass": Spec(_parse_auto_bool, None, "model.onnx also runs the network on the image at half its size and "
                            "keeps the surer of two detections of one object (about 1.25x the network's compute): finds particles "
                            "larger than those the model learnt well; the threshold and the held-out figures are measured with "
                            f"it; auto (empty): when train and validation hold fewer than {HALF_SCALE_AUTO_MAX_IMAGES} images"),
    "ema_half_life_epochs": Spec(float, EMA_HALF_LIFE_EPOCHS, "validate, keep and export an exponential moving average of the weights "
                                 "whose old steps' share halves every this many epochs (0: the last step's weights)", _range(0.0, 100.0)),
    "refit": Spec(_parse_auto_bool, None, "after the validated run, train again from the same start on the train and validation "
                  "images together, the same schedule, and ship that model (the figures, threshold and promotion stay the "
                  f"validated run's); auto (empty): when they hold fewer than {REFIT_AUTO_MAX_IMAGES} images"),
    "outline_box_weight": Spec(float, 0.1, "loss weight of an outline taken from a box's inscribed ellipse (objects without a polygon) against 1 for a polygon", _range(0.0, 1.0)),
}

IGNORED_PREFIXES = ("sagemaker_", "_tuning_objective_metric")


@dataclass(frozen=True)
class Hyperparameters:
    epochs: Optional[int]
    batch_size: int
    lr: float
    weight_decay: float
    warmup_epochs: int
    nm_per_px: float
    default_image_nm_per_px: Optional[float]
    crop_size: int
    tile_size: int
    crops_per_image: Optional[int]
    seed: int
    init_from: Optional[str]
    max_bad_annotation_fraction: float
    workers: int
    val_fraction: float
    single_class: bool
    class_names: Optional[Tuple[str, ...]]
    width: int
    max_detections: int
    amp: bool
    augment: bool
    scale_jitter: float
    model_version: Optional[str]
    threads: int
    min_box_px: float
    outline_rays: int
    tta: Optional[bool]
    half_scale_pass: Optional[bool]
    ema_half_life_epochs: float
    refit: Optional[bool]
    outline_box_weight: float

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        if d["class_names"] is not None:
            d["class_names"] = list(d["class_names"])
        return d


assert [f.name for f in fields(Hyperparameters)] == list(SPECS), "SPECS and Hyperparameters must list the same keys"


def parse_hyperparameters(raw: Mapping[str, Any]) -> Hyperparameters:
    """Strings (or JSON scalars) in, validated values out. All problems are reported at once."""
    errors = []
    unknown = sorted(k for k in raw if k not in SPECS and not k.startswith(IGNORED_PREFIXES))
    if unknown:
        errors.append(f"unknown hyperparameter(s) {', '.join(repr(k) for k in unknown)}; allowed: {', '.join(sorted(SPECS))}")
    values: Dict[str, Any] = {}
    for key, spec in SPECS.items():
        if key not in raw or raw[key] is None:
            values[key] = spec.default
            continue
        text = raw[key]
        if isinstance(text, bool):
            text = "true" if text else "false"
        text = str(text)
        try:
            value = spec.parse(text)
        except (ValueError, json.JSONDecodeError) as e:
            errors.append(f"hyperparameter {key}={text!r}: cannot parse ({e})")
            continue
        problem = spec.check(value) if spec.check else None
        if problem:
            errors.append(f"hyperparameter {key}={text!r}: {problem}")
            continue
        values[key] = value
    if errors:
        raise HyperparameterError("; ".join(errors))
    return Hyperparameters(**values)


def load_hyperparameters_file(path: str) -> Dict[str, Any]:
    """The raw mapping from hyperparameters.json ({} when the file does not exist)."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise HyperparameterError(f"{path}: not readable JSON ({e})") from e
    if not isinstance(data, dict):
        raise HyperparameterError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def describe() -> str:
    """Markdown table of every hyperparameter (for the README and --help)."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for k, s in SPECS.items():
        rows.append(f"| `{k}` | `{s.default}` | {s.help} |")
    return "\n".join(rows)
