"""Annotation files in, one list of labelled images out, with every problem reported.

Formats (any mix inside one channel folder, found recursively):
- YOLO txt (makesense.ai's YOLO export): one `<stem>.txt` per image, lines
  `class cx cy w h` normalised to 0..1; class names from `classes.txt` (or `obj.names`).
- COCO json: `images`, `annotations` (bbox [x, y, w, h] or polygon segmentation, whose
  extent becomes the box), `categories`; an image entry may carry its `nm_per_px` (the
  report's review download does).
- Pascal VOC xml: `<annotation><filename>` with `<object><name><bndbox>`.
- makesense.ai CSV: `label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name,image_width,image_height`
  (header optional).
Plus `dataset.json` (nm/px, classes) and `split.json` (which images belong to this channel).
An image's nm/px: dataset.json's entry for it, else its annotation file's (COCO `nm_per_px`),
else dataset.json's `nm_per_px`, else the TIFF resolution tags, else the defaults.

Policy: a bad annotation (box outside the image, zero area, unknown class, malformed line,
label without image, image without label, unreadable file) is skipped and reported with its
file and line; `check_bad_fraction` fails with the list when too many were bad.
"""
from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
YOLO_CLASS_FILES = ("classes.txt", "obj.names")
NOT_LABEL_TXT = ("classes.txt", "obj.names", "labels.txt", "readme.txt", "license.txt")
CONTROL_FILES = ("dataset.json", "split.json")
DEFAULT_CLASS = "exosome"
#: Boxes may overshoot the frame by this much (rounding in annotation tools); they are clipped.
EDGE_TOLERANCE_PX = 1.0


class AnnotationError(ValueError):
    """Too many bad annotations, or no usable data at all."""


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
class _Label:
    """One object as a parser saw it, before it is checked against its image."""

    image_ref: str
    ref_dir: str  # folder the reference is relative to
    box: Tuple[float, float, float, float]  # x1, y1, x2, y2 (px) or normalised when `normalised`
    cls: Union[int, str]
    file: str
    line: Optional[int]
    normalised: bool = False


@dataclass
class _Mention:
    """An annotation file says this image exists (possibly with no objects: an explicit negative)."""

    image_ref: str
    ref_dir: str
    file: str
    line: Optional[int]
    nm_per_px: Optional[float] = None  # the annotation file's scale for this image, if it gives one


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


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _line_of_nth(text: str, needle: str, n: int) -> Optional[int]:
    """1-based line of the n-th (0-based) occurrence of needle: good enough to point a person at it."""
    pos = -1
    for _ in range(n + 1):
        pos = text.find(needle, pos + 1)
        if pos < 0:
            return None
    return text.count("\n", 0, pos) + 1


# ---------------------------------------------------------------- parsers


def parse_yolo(path: str, root: str, class_names: Optional[Sequence[str]], problems: List[Problem]) -> Tuple[List[_Label], List[_Mention]]:
    rel = _rel(root, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    labels: List[_Label] = []
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(rel, None, f"unreadable label file ({e})"))
        return [], []
    mention = _Mention(stem, os.path.dirname(path), rel, None)
    for i, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            problems.append(Problem(rel, i, f"expected 'class cx cy w h', got {line.strip()!r}"))
            continue
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError:
            problems.append(Problem(rel, i, f"not numbers: {line.strip()!r}"))
            continue
        if cls < 0 or (class_names is not None and cls >= len(class_names)):
            known = f" (classes.txt has {len(class_names)})" if class_names is not None else ""
            problems.append(Problem(rel, i, f"unknown class id {cls}{known}"))
            continue
        labels.append(_Label(stem, os.path.dirname(path), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), cls, rel, i, normalised=True))
    return labels, [mention]


def parse_coco(path: str, root: str, problems: List[Problem]) -> Tuple[List[_Label], List[_Mention]]:
    rel = _rel(root, path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(Problem(rel, getattr(e, "lineno", None), f"unreadable JSON ({e})"))
        return [], []
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(doc.get("annotations"), list):
        problems.append(Problem(rel, None, "not a COCO document (needs 'images' and 'annotations' lists)"))
        return [], []
    base = os.path.dirname(path)
    cats = {c.get("id"): str(c.get("name", c.get("id"))) for c in doc.get("categories", []) if isinstance(c, dict)}
    images: Dict = {}
    mentions: List[_Mention] = []
    for i, im in enumerate(doc["images"]):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            problems.append(Problem(rel, _line_of_nth(text, '"file_name"', i), f"image entry {i} lacks id or file_name"))
            continue
        line = _line_of_nth(text, '"file_name"', i)
        images[im["id"]] = im["file_name"]
        scale = im.get("nm_per_px")
        if scale is not None and not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and 0 < scale < float("inf")):
            problems.append(Problem(rel, line, f"image entry {i} ({im['file_name']}): nm_per_px must be a positive number, got {scale!r}; its scale falls back to the defaults"))
            scale = None
        mentions.append(_Mention(im["file_name"], base, rel, line, float(scale) if scale is not None else None))
    labels: List[_Label] = []
    for i, a in enumerate(doc["annotations"]):
        line = _line_of_nth(text, '"image_id"', i)
        if not isinstance(a, dict):
            problems.append(Problem(rel, line, f"annotation {i} is not an object"))
            continue
        aid = a.get("id", i)
        if a.get("image_id") not in images:
            problems.append(Problem(rel, line, f"annotation id {aid}: image_id {a.get('image_id')!r} is not in 'images' (label without image)"))
            continue
        if cats and a.get("category_id") not in cats:
            problems.append(Problem(rel, line, f"annotation id {aid}: unknown category_id {a.get('category_id')!r}"))
            continue
        box = None
        bbox = a.get("bbox")
        try:
            if isinstance(bbox, list) and len(bbox) == 4:
                x, y, w, h = (float(v) for v in bbox)
                box = (x, y, x + w, y + h)
            elif isinstance(a.get("segmentation"), list) and a["segmentation"]:
                pts = [float(v) for poly in a["segmentation"] for v in poly]
                xs, ys = pts[0::2], pts[1::2]
                if xs and len(xs) == len(ys):
                    box = (min(xs), min(ys), max(xs), max(ys))
        except (TypeError, ValueError):
            box = None
        if box is None:
            problems.append(Problem(rel, line, f"annotation id {aid}: no usable bbox or polygon"))
            continue
        cls = cats.get(a.get("category_id"), str(a.get("category_id", DEFAULT_CLASS)))
        labels.append(_Label(images[a["image_id"]], base, box, cls, rel, line))
    return labels, mentions


def parse_voc(path: str, root: str, problems: List[Problem]) -> Tuple[List[_Label], List[_Mention]]:
    rel = _rel(root, path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        tree = ET.fromstring(raw)
    except (OSError, ET.ParseError) as e:
        pos = getattr(e, "position", None)
        problems.append(Problem(rel, pos[0] if pos else None, f"unreadable XML ({e})"))
        return [], []
    text = raw.decode("utf-8", "replace")
    if tree.tag != "annotation":
        problems.append(Problem(rel, 1, f"not a Pascal VOC file (root element <{tree.tag}>)"))
        return [], []
    fname = (tree.findtext("filename") or "").strip()
    if not fname:
        fname = os.path.splitext(os.path.basename(path))[0]
    base = os.path.dirname(path)
    labels: List[_Label] = []
    for i, obj in enumerate(tree.findall("object")):
        line = _line_of_nth(text, "<object", i)
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        try:
            if bb is None:
                raise ValueError("no <bndbox>")
            box = tuple(float(bb.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
            if any(v != v for v in box):
                raise ValueError("missing xmin/ymin/xmax/ymax")
        except ValueError as e:
            problems.append(Problem(rel, line, f"object {i}: {e}"))
            continue
        if not name:
            problems.append(Problem(rel, line, f"object {i}: no <name>"))
            continue
        labels.append(_Label(fname, base, box, name, rel, line))  # type: ignore[arg-type]
    return labels, [_Mention(fname, base, rel, _line_of_nth(text, "<filename", 0))]


def parse_makesense_csv(path: str, root: str, problems: List[Problem]) -> Tuple[List[_Label], List[_Mention]]:
    rel = _rel(root, path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        problems.append(Problem(rel, None, f"unreadable CSV ({e})"))
        return [], []
    base = os.path.dirname(path)
    labels: List[_Label] = []
    mentions: Dict[str, _Mention] = {}
    for i, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if i == 1 and row[0].strip().lower() in ("label_name", "label", "class"):
            continue  # header
        if len(row) < 6:
            problems.append(Problem(rel, i, f"expected label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name[,image_width,image_height], got {','.join(row)!r}"))
            continue
        name, image = row[0].strip(), row[5].strip()
        try:
            x, y, w, h = (float(v) for v in row[1:5])
        except ValueError:
            problems.append(Problem(rel, i, f"bbox values are not numbers: {row[1:5]}"))
            continue
        if not name or not image:
            problems.append(Problem(rel, i, "empty label_name or image_name"))
            continue
        mentions.setdefault(image, _Mention(image, base, rel, i))
        labels.append(_Label(image, base, (x, y, x + w, y + h), name, rel, i))
    return labels, list(mentions.values())


# ---------------------------------------------------------------- the channel


def _read_json(path: str, root: str, problems: List[Problem]) -> Optional[Dict]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            doc = json.load(f)
        if not isinstance(doc, dict):
            raise ValueError("expected a JSON object")
        return doc
    except (OSError, ValueError) as e:
        problems.append(Problem(_rel(root, path), getattr(e, "lineno", None), f"unreadable ({e})"))
        return None


def _tiff_nm_per_px(img: Image.Image) -> Optional[float]:
    """nm/px from TIFF resolution tags when the unit is centimetre (3) or inch (2) and the value is plausible."""
    tags = getattr(img, "tag_v2", None)
    if not tags:
        return None
    try:
        res, unit = tags.get(282), tags.get(296, 2)
        if not res:
            return None
        per_nm = float(res) / (1e7 if unit == 3 else 2.54e7 if unit == 2 else float("nan"))
        nm = 1.0 / per_nm
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return nm if 0.01 <= nm <= 1000 else None


def load_channel(root: str, *, training_nm_per_px: float, default_image_nm_per_px: Optional[float] = None,
                 single_class: bool = True, class_names: Optional[Sequence[str]] = None,
                 min_box_px: float = 2.0) -> ChannelData:
    """Reads every image and annotation file under `root` (recursively) into one ChannelData."""
    problems: List[Problem] = []
    if not os.path.isdir(root):
        raise AnnotationError(f"{root}: channel folder does not exist")
    files: List[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(os.path.join(dirpath, n) for n in sorted(filenames) if not n.startswith("."))

    dataset = _read_json(os.path.join(root, "dataset.json"), root, problems) if os.path.exists(os.path.join(root, "dataset.json")) else None
    split = _read_json(os.path.join(root, "split.json"), root, problems) if os.path.exists(os.path.join(root, "split.json")) else None
    split_set = None
    if split is not None:
        if not isinstance(split.get("images"), list):
            raise AnnotationError(f"{root}/split.json: needs an 'images' list")
        split_set = {re.sub(r"^(\./)+", "", str(p).replace("\\", "/")) for p in split["images"]}

    # Which class names are fixed up front (and checked), and what single_class calls the merged class.
    fixed_names: Optional[List[str]] = list(class_names) if class_names else None
    if fixed_names is None and dataset and isinstance(dataset.get("classes"), list) and dataset["classes"]:
        fixed_names = [str(c) for c in dataset["classes"]]

    image_files = {_rel(root, p): p for p in files if p.lower().endswith(IMAGE_EXTENSIONS)}
    if split_set is not None:
        image_files = {r: p for r, p in image_files.items() if r in split_set}
    by_base: Dict[str, List[str]] = {}
    by_stem: Dict[str, List[str]] = {}
    for r in image_files:
        b = os.path.basename(r)
        by_base.setdefault(b, []).append(r)
        by_stem.setdefault(os.path.splitext(b)[0], []).append(r)

    # YOLO class names: the nearest classes.txt / obj.names above the label file.
    def yolo_names_for(path: str) -> Optional[List[str]]:
        d = os.path.dirname(path)
        while True:
            for n in YOLO_CLASS_FILES:
                p = os.path.join(d, n)
                if os.path.exists(p):
                    with open(p, encoding="utf-8-sig") as f:
                        return [ln.strip() for ln in f if ln.strip()]
            if os.path.abspath(d) == os.path.abspath(root) or len(d) <= len(root):
                break
            d = os.path.dirname(d)
        return fixed_names

    labels: List[_Label] = []
    mentions: List[_Mention] = []
    yolo_name_map: Dict[str, Optional[List[str]]] = {}
    for p in files:
        low = os.path.basename(p).lower()
        if low in CONTROL_FILES and os.path.dirname(p) == root:
            continue
        ext = os.path.splitext(low)[1]
        if ext == ".txt" and low not in NOT_LABEL_TXT:
            names = yolo_names_for(p)
            yolo_name_map[_rel(root, p)] = names
            l, m = parse_yolo(p, root, names, problems)
        elif ext == ".json":
            l, m = parse_coco(p, root, problems)
        elif ext == ".xml":
            l, m = parse_voc(p, root, problems)
        elif ext == ".csv":
            l, m = parse_makesense_csv(p, root, problems)
        else:
            continue
        labels.extend(l)
        mentions.extend(m)

    def resolve(ref: str, ref_dir: str) -> Tuple[Optional[str], bool]:
        """(relative image path or None, whether the image exists outside this channel's split)."""
        ref = ref.replace("\\", "/")
        for cand in (os.path.normpath(os.path.join(ref_dir, ref)), os.path.normpath(os.path.join(root, ref))):
            r = _rel(root, cand)
            if r in image_files:
                return r, False
        base = os.path.basename(ref)
        hits = by_base.get(base) or by_stem.get(os.path.splitext(base)[0]) or (by_stem.get(base) if "." not in base else None)
        if hits and len(hits) == 1:
            return hits[0], False
        if split_set is not None:
            # Labels for images that exist but are outside the split belong to another channel: ignore silently.
            for cand in (os.path.join(ref_dir, ref), os.path.join(root, ref)):
                if os.path.exists(cand):
                    return None, True
            if any(os.path.basename(f) == base or os.path.splitext(os.path.basename(f))[0] == base for f in files):
                return None, True
        return None, False

    # Which annotation file labels which image (first file in sorted order wins; the rest are reported).
    owner: Dict[str, str] = {}
    annotated_scales: Dict[str, float] = {}
    for m in mentions:
        r, outside = resolve(m.image_ref, m.ref_dir)
        if r is None:
            if not outside and not any(lb.file == m.file and lb.image_ref == m.image_ref for lb in labels):
                problems.append(Problem(m.file, m.line, f"label without image: {m.image_ref!r} not found"))
            continue
        if r in owner and owner[r] != m.file:
            problems.append(Problem(m.file, m.line, f"{r} is already labelled by {owner[r]}; these labels are ignored"))
            continue
        owner[r] = m.file
        if m.nm_per_px is not None:
            annotated_scales[r] = m.nm_per_px

    # Image sizes and scales (header reads only).
    sizes: Dict[str, Tuple[int, int]] = {}
    scales: Dict[str, Tuple[float, str]] = {}
    per_image = dataset.get("images", {}) if dataset and isinstance(dataset.get("images"), dict) else {}
    ds_scale = dataset.get("nm_per_px") if dataset else None
    for r, p in image_files.items():
        try:
            with Image.open(p) as im:
                sizes[r] = im.size
                tiff_scale = _tiff_nm_per_px(im)
        except Exception as e:  # PIL raises many types for broken files
            problems.append(Problem(r, None, f"unreadable image ({type(e).__name__}: {e})"))
            continue
        entry = per_image.get(r) or per_image.get(os.path.basename(r))
        if isinstance(entry, dict) and isinstance(entry.get("nm_per_px"), (int, float)) and entry["nm_per_px"] > 0:
            scales[r] = (float(entry["nm_per_px"]), "dataset.json image")
        elif r in annotated_scales:
            scales[r] = (annotated_scales[r], "annotation file")
        elif isinstance(ds_scale, (int, float)) and ds_scale > 0:
            scales[r] = (float(ds_scale), "dataset.json")
        elif tiff_scale is not None:
            scales[r] = (tiff_scale, "tiff-resolution")
        elif default_image_nm_per_px:
            scales[r] = (float(default_image_nm_per_px), "default_image_nm_per_px")
        else:
            scales[r] = (float(training_nm_per_px), "assumed training scale")

    # Check every label against its image.
    per_img: Dict[str, List[Tuple[Tuple[float, float, float, float], Union[int, str]]]] = {r: [] for r in owner if r in sizes}
    for lb in labels:
        r, outside = resolve(lb.image_ref, lb.ref_dir)
        if r is None:
            if not outside:
                problems.append(Problem(lb.file, lb.line, f"label without image: {lb.image_ref!r} not found"))
            continue
        if owner.get(r) != lb.file:
            continue
        if r not in sizes:
            continue
        w, h = sizes[r]
        x1, y1, x2, y2 = lb.box
        if lb.normalised:
            x1, x2, y1, y2 = x1 * w, x2 * w, y1 * h, y2 * h
        if not all(np.isfinite([x1, y1, x2, y2])) or x2 - x1 <= 0 or y2 - y1 <= 0:
            problems.append(Problem(lb.file, lb.line, f"zero or negative area box [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] in {r}"))
            continue
        tol = EDGE_TOLERANCE_PX
        if x1 < -tol or y1 < -tol or x2 > w + tol or y2 > h + tol:
            problems.append(Problem(lb.file, lb.line, f"box [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] outside the {w}x{h} image {r}"))
            continue
        x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
        if x2 - x1 < min_box_px or y2 - y1 < min_box_px:
            problems.append(Problem(lb.file, lb.line, f"degenerate box {x2 - x1:.1f}x{y2 - y1:.1f} px (< min_box_px {min_box_px}) in {r}"))
            continue
        cls: Union[int, str] = lb.cls
        if isinstance(cls, int):
            names = yolo_name_map.get(lb.file)
            cls = names[cls] if names is not None and cls < len(names) else str(cls)
        if not single_class and fixed_names is not None and cls not in fixed_names:
            problems.append(Problem(lb.file, lb.line, f"unknown class {cls!r} (known: {', '.join(fixed_names)})"))
            continue
        per_img[r].append(((x1, y1, x2, y2), cls))

    for r in sorted(image_files):
        if r in sizes and r not in owner:
            problems.append(Problem(r, None, "image without label (no annotation file mentions it; an empty YOLO txt or a COCO image entry marks a true negative)"))

    if single_class:
        names = [fixed_names[0] if fixed_names else DEFAULT_CLASS]
    elif fixed_names is not None:
        names = list(fixed_names)
    else:
        names = sorted({str(c) for objs in per_img.values() for _, c in objs})
    index = {n: i for i, n in enumerate(names)}

    out: List[LabelledImage] = []
    objects = 0
    for r in sorted(per_img):
        objs = per_img[r]
        boxes = np.asarray([b for b, _ in objs], np.float32).reshape(-1, 4)
        classes = np.asarray([0 if single_class else index[str(c)] for _, c in objs], np.int64)
        w, h = sizes[r]
        s, src = scales[r]
        out.append(LabelledImage(r, image_files[r], w, h, s, src, boxes, classes))
        objects += len(objs)
    # Every problem stands for one skipped item (an annotation, an image or a whole file).
    return ChannelData(root=root, images=out, class_names=names, problems=problems, objects=objects,
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
