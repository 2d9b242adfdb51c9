"""A channel's canonical ground truth (truth.json) in, one list of labelled images out.

Annotation exports (YOLO txt, COCO JSON, Pascal VOC XML, makesense.ai CSV, exodetect's own)
are parsed in one place: exodetect's dataset ingestion (lambdas/training/ingest/, TypeScript),
run by the training state machine's split step (and `exodetect check --truth-out`). It resolves
each label to its image, checks it against the image's size, resolves each image's nm/px by the
same calibration rules as inference, and writes one truth.json per channel with every problem it
found (file and line). This module reads that document (schema: lambdas/training/ingest/truth.ts)
and adds the trainer's own checks (classes, the smallest box); `check_bad_fraction` applies the
policy: problems are skipped and counted, and too many fail the run with the list.

The synthetic generator (synth.py) writes the same document for the data it draws.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

TRUTH_FILE = "truth.json"
TRUTH_FORMAT = "exodetect-truth"
TRUTH_VERSION = 1
DEFAULT_CLASS = "exosome"


class AnnotationError(ValueError):
    """No usable ground truth, a document this trainer cannot read, or too many bad annotations."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: Optional[int]
    problem: str

    def to_dict(self) -> Dict:
        return {"file": self.file, "line": self.line, "problem": self.problem}

    def __str__(self) -> str:
        return f"{self.file}{':' + str(self.line) if self.line else ''}: {self.problem}"


@dataclass
class LabelledImage:
    rel_path: str
    path: str
    width: int
    height: int
    nm_per_px: float
    nm_per_px_source: str
    boxes: np.ndarray  # float32 [M, 4] x1, y1, x2, y2 px in the original image
    classes: np.ndarray  # int64 [M]
    #: Per object, its outline [V, 2] x, y px in the original image, or None where the truth has a box only.
    polygons: List[Optional[np.ndarray]] = field(default_factory=list)


@dataclass
class ChannelData:
    root: str
    images: List[LabelledImage]
    class_names: List[str]
    problems: List[Problem] = field(default_factory=list)
    objects: int = 0
    skipped: int = 0

    def summary(self) -> Dict:
        return {"images": len(self.images), "objects": self.objects, "skipped": self.skipped,
                "problems": [p.to_dict() for p in self.problems]}


def read_truth(root: str) -> Dict:
    """The channel's truth.json, checked for the format and version this trainer reads."""
    if not os.path.isdir(root):
        raise AnnotationError(f"{root}: channel folder does not exist")
    path = os.path.join(root, TRUTH_FILE)
    if not os.path.exists(path):
        raise AnnotationError(
            f"{root}: no {TRUTH_FILE}. Channels are written by exodetect's dataset ingestion (the split step of the "
            f"training state machine, `exodetect train`, or `exodetect check <dataset> --truth-out {path}`); "
            "annotation exports are not read here")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise AnnotationError(f"{path}: unreadable ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != TRUTH_FORMAT:
        raise AnnotationError(f"{path}: not an exodetect truth document (format {doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != TRUTH_VERSION:
        raise AnnotationError(f"{path}: truth document version {doc.get('version')!r}; this trainer reads version {TRUTH_VERSION}")
    for key in ("images", "problems", "class_names"):
        if not isinstance(doc.get(key), list):
            raise AnnotationError(f"{path}: '{key}' must be a list")
    return doc


def load_channel(root: str, *, training_nm_per_px: float, default_image_nm_per_px: Optional[float] = None,
                 single_class: bool = True, class_names: Optional[Sequence[str]] = None,
                 min_box_px: float = 2.0) -> ChannelData:
    """Reads `root`/truth.json into one ChannelData, adding the trainer's checks to the ingestion's problems."""
    doc = read_truth(root)
    problems = [Problem(str(p.get("file")), p.get("line"), str(p.get("problem"))) for p in doc["problems"]]
    declared = doc.get("declared_classes")
    fixed_names: Optional[List[str]] = list(class_names) if class_names else (list(declared) if declared else None)

    kept: List[tuple] = []
    for entry in doc["images"]:
        rel = entry["file"]
        path = os.path.join(root, *rel.split("/"))
        if not os.path.exists(path):
            problems.append(Problem(rel, None, f"listed in {TRUTH_FILE} but missing from the channel"))
            continue
        objs = []
        for o in entry["objects"]:
            x1, y1, x2, y2 = (float(v) for v in o["box"])
            src = o.get("source") or {}
            where = (str(src.get("file", TRUTH_FILE)), src.get("line"))
            if x2 - x1 < min_box_px or y2 - y1 < min_box_px:
                problems.append(Problem(*where, f"degenerate box {x2 - x1:.1f}x{y2 - y1:.1f} px (< min_box_px {min_box_px}) in {rel}"))
                continue
            cls = str(o["class_name"])
            if not single_class and fixed_names is not None and cls not in fixed_names:
                problems.append(Problem(*where, f"unknown class {cls!r} (known: {', '.join(fixed_names)})"))
                continue
            polygon = o.get("polygon")
            outline = np.asarray(polygon, np.float32).reshape(-1, 2) if polygon and len(polygon) >= 6 else None
            objs.append(((x1, y1, x2, y2), cls, outline))
        if entry.get("nm_per_px"):
            scale, source = float(entry["nm_per_px"]), str(entry.get("nm_per_px_source") or "dataset")
        elif default_image_nm_per_px:
            scale, source = float(default_image_nm_per_px), "default_image_nm_per_px"
        else:
            scale, source = float(training_nm_per_px), "assumed training scale"
        kept.append((rel, path, int(entry["width"]), int(entry["height"]), scale, source, objs))

    if single_class:
        names = [fixed_names[0] if fixed_names else DEFAULT_CLASS]
    elif fixed_names is not None:
        names = list(fixed_names)
    else:
        names = sorted({c for k in kept for _, c, _ in k[6]})
    index = {n: i for i, n in enumerate(names)}

    images: List[LabelledImage] = []
    objects = 0
    for rel, path, w, h, scale, source, objs in sorted(kept, key=lambda k: k[0]):
        boxes = np.asarray([b for b, _, _ in objs], np.float32).reshape(-1, 4)
        classes = np.asarray([0 if single_class else index[c] for _, c, _ in objs], np.int64)
        images.append(LabelledImage(rel, path, w, h, scale, source, boxes, classes, [p for _, _, p in objs]))
        objects += len(objs)
    # Every problem stands for one skipped item (an annotation, an image or a whole file).
    return ChannelData(root=root, images=images, class_names=names, problems=problems, objects=objects,
                       skipped=len(problems))


def check_bad_fraction(data: ChannelData, max_fraction: float, name: str = "train") -> None:
    """Raises AnnotationError listing the problems when the bad share exceeds max_fraction."""
    total = data.objects + data.skipped
    if not data.images:
        listing = "\n".join(f"  {p}" for p in data.problems[:50])
        raise AnnotationError(f"channel {name!r} ({data.root}): no usable labelled images" + (f"; problems:\n{listing}" if listing else ""))
    frac = data.skipped / total if total else 0.0
    if frac > max_fraction:
        listing = "\n".join(f"  {p}" for p in data.problems[:200])
        more = f"\n  ... and {len(data.problems) - 200} more" if len(data.problems) > 200 else ""
        raise AnnotationError(
            f"channel {name!r}: {data.skipped} of {total} annotations/images are bad ({frac:.1%} > max_bad_annotation_fraction {max_fraction:.1%}):\n{listing}{more}")
