"""Annotation parsers with good and bad files (fixtures generated in tmp)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from exodetect_train.annotations import AnnotationError, check_bad_fraction, load_channel


def img(path, w=100, h=80, mode="L"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full((h, w), 30000, np.uint16), mode="I;16").save(path)
    else:
        Image.new(mode, (w, h), 128).save(path)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def load(root, **kw):
    return load_channel(str(root), training_nm_per_px=2.0, **kw)


def problems(data):
    return [(p.file, p.line, p.problem) for p in data.problems]


def test_yolo_good(tmp_path):
    img(str(tmp_path / "images/a.png"))
    img(str(tmp_path / "images/b.png"))
    write(str(tmp_path / "labels/a.txt"), "0 0.5 0.5 0.2 0.25\n0 0.1 0.1 0.1 0.1\n")
    write(str(tmp_path / "labels/b.txt"), "")  # explicit negative
    write(str(tmp_path / "classes.txt"), "exosome\n")
    d = load(tmp_path)
    assert d.problems == []
    assert [i.rel_path for i in d.images] == ["images/a.png", "images/b.png"]
    a = d.images[0]
    np.testing.assert_allclose(a.boxes[0], [40, 30, 60, 50], atol=1e-4)
    assert d.objects == 2 and d.skipped == 0
    assert d.class_names == ["exosome"]


def test_yolo_bad_lines_are_reported_with_file_and_line(tmp_path):
    img(str(tmp_path / "a.png"))
    write(str(tmp_path / "classes.txt"), "exosome\n")
    write(str(tmp_path / "a.txt"), "0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.1 0.1\n0 0.5 0.5 0 0.1\n0 1.5 0.5 0.2 0.2\nfoo\n0 a b c d\n")
    write(str(tmp_path / "orphan.txt"), "0 0.5 0.5 0.1 0.1\n")
    d = load(tmp_path)
    p = problems(d)
    assert ("a.txt", 2, "unknown class id 3 (classes.txt has 1)") in p
    assert any(f == "a.txt" and line == 3 and "zero or negative area" in msg for f, line, msg in p)
    assert any(f == "a.txt" and line == 4 and "outside the 100x80 image" in msg for f, line, msg in p)
    assert any(f == "a.txt" and line == 5 and "expected 'class cx cy w h'" in msg for f, line, msg in p)
    assert any(f == "a.txt" and line == 6 and "not numbers" in msg for f, line, msg in p)
    assert any(f == "orphan.txt" and line == 1 and "label without image" in msg for f, line, msg in p)
    assert d.objects == 1
    assert d.skipped == len(d.problems) == 6


def test_coco_boxes_and_polygons(tmp_path):
    img(str(tmp_path / "images/a.png"))
    img(str(tmp_path / "images/b.tif"), mode="I;16")
    doc = {
        "images": [{"id": 1, "file_name": "images/a.png", "width": 100, "height": 80},
                   {"id": 2, "file_name": "b.tif", "width": 100, "height": 80}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 30]},
            {"id": 2, "image_id": 2, "category_id": 7, "segmentation": [[5, 6, 25, 6, 25, 40, 5, 40]]},
        ],
        "categories": [{"id": 7, "name": "particle"}],
    }
    write(str(tmp_path / "annotations.coco.json"), json.dumps(doc, indent=1))
    d = load(tmp_path)
    assert d.problems == []
    by = {i.rel_path: i for i in d.images}
    np.testing.assert_allclose(by["images/a.png"].boxes, [[10, 10, 30, 40]])
    np.testing.assert_allclose(by["images/b.tif"].boxes, [[5, 6, 25, 40]])
    assert d.class_names == ["exosome"]  # single_class default merges categories


def test_coco_bad(tmp_path):
    img(str(tmp_path / "a.png"))
    doc = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "missing.png"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
            {"id": 11, "image_id": 1, "category_id": 9, "bbox": [10, 10, 20, 20]},
            {"id": 12, "image_id": 5, "category_id": 1, "bbox": [10, 10, 20, 20]},
            {"id": 13, "image_id": 1, "category_id": 1},
            {"id": 14, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 15, "image_id": 1, "category_id": 1, "bbox": [90, 10, 30, 20]},
        ],
        "categories": [{"id": 1, "name": "exosome"}],
    }
    write(str(tmp_path / "coco.json"), json.dumps(doc, indent=1))
    write(str(tmp_path / "broken.json"), "{not json")
    d = load(tmp_path)
    msgs = problems(d)
    text = "\n".join(f"{f}:{line}: {m}" for f, line, m in msgs)
    assert "unknown category_id 9" in text
    assert "image_id 5 is not in 'images'" in text
    assert "annotation id 13: no usable bbox or polygon" in text
    assert "'missing.png' not found" in text
    assert "outside the 100x80 image" in text
    assert any(f == "broken.json" and "unreadable JSON" in m for f, _, m in msgs)
    # every COCO problem points at a line of the file
    assert all(line is not None for f, line, m in msgs if f == "coco.json")
    assert d.objects == 1


def test_voc_good_and_bad(tmp_path):
    img(str(tmp_path / "a.jpg"))
    write(str(tmp_path / "a.xml"), """<annotation>
  <filename>a.jpg</filename>
  <size><width>100</width><height>80</height><depth>1</depth></size>
  <object><name>exosome</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>
  <object><name>exosome</name><bndbox><xmin>10</xmin><ymin>20</ymin></bndbox></object>
  <object><name>exosome</name></object>
</annotation>
""")
    write(str(tmp_path / "bad.xml"), "<annotation><filename>x</filename>")
    d = load(tmp_path)
    np.testing.assert_allclose(d.images[0].boxes, [[10, 20, 30, 40]])
    p = problems(d)
    assert ("a.xml", 5, "object 1: missing xmin/ymin/xmax/ymax") in p
    assert ("a.xml", 6, "object 2: no <bndbox>") in p
    assert any(f == "bad.xml" and "unreadable XML" in m for f, _, m in p)


def test_makesense_csv_good_and_bad(tmp_path):
    img(str(tmp_path / "a.png"))
    img(str(tmp_path / "b.png"))
    write(str(tmp_path / "labels.csv"),
          "label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name,image_width,image_height\n"
          "exosome,10,10,20,20,a.png,100,80\n"
          "exosome,x,10,20,20,a.png,100,80\n"
          "exosome,10,10,20,20,nope.png,100,80\n"
          "exosome,10,10,20,20,b.png,100,80\n"
          "short,row\n")
    d = load(tmp_path)
    assert d.objects == 2
    p = problems(d)
    assert any(f == "labels.csv" and line == 3 and "not numbers" in m for f, line, m in p)
    assert any(f == "labels.csv" and line == 4 and "label without image" in m for f, line, m in p)
    assert any(f == "labels.csv" and line == 6 for f, line, m in p)


def test_multi_class_and_unknown_class(tmp_path):
    img(str(tmp_path / "a.png"))
    write(str(tmp_path / "labels.csv"), "rsv,10,10,20,20,a.png,100,80\nflu,40,10,20,20,a.png,100,80\ndog,60,40,10,10,a.png,100,80\n")
    d = load(tmp_path, single_class=False, class_names=["flu", "rsv"])
    assert d.class_names == ["flu", "rsv"]
    assert d.images[0].classes.tolist() == [1, 0]
    assert any("unknown class 'dog'" in p.problem and p.line == 3 for p in d.problems)
    d2 = load(tmp_path, single_class=False)
    assert d2.class_names == ["dog", "flu", "rsv"]


def test_image_without_label_unreadable_image_and_fraction_policy(tmp_path):
    img(str(tmp_path / "a.png"))
    img(str(tmp_path / "b.png"))
    write(str(tmp_path / "c.png"), "this is not a png")
    write(str(tmp_path / "a.txt"), "0 0.5 0.5 0.2 0.2\n")
    d = load(tmp_path)
    p = problems(d)
    assert any(f == "b.png" and "image without label" in m for f, _, m in p)
    assert any(f == "c.png" and "unreadable image" in m for f, _, m in p)
    assert [i.rel_path for i in d.images] == ["a.png"]
    assert d.skipped == 2
    with pytest.raises(AnnotationError) as e:
        check_bad_fraction(d, 0.5)
    assert "2 of 3" in str(e.value) and "b.png" in str(e.value) and "c.png" in str(e.value)
    check_bad_fraction(d, 0.7)  # under the limit: skipped and counted, no failure


def test_dataset_json_scales_split_json_and_tiff_resolution(tmp_path):
    img(str(tmp_path / "a.png"))
    img(str(tmp_path / "b.png"))
    img(str(tmp_path / "c.png"))
    Image.new("L", (100, 80), 128).save(str(tmp_path / "t.tif"), resolution=1e7 / 1.25, resolution_unit="cm")
    for n in ("a", "b", "c", "t"):
        write(str(tmp_path / f"{n}.txt"), "0 0.5 0.5 0.2 0.2\n")
    write(str(tmp_path / "dataset.json"), json.dumps({"images": {"b.png": {"nm_per_px": 3.5}}}))
    write(str(tmp_path / "split.json"), json.dumps({"images": ["a.png", "b.png", "t.tif"]}))
    d = load(tmp_path, default_image_nm_per_px=1.0)
    by = {i.rel_path: i for i in d.images}
    assert sorted(by) == ["a.png", "b.png", "t.tif"]  # c.png is outside the split: ignored, not reported
    assert d.problems == []
    assert by["b.png"].nm_per_px == 3.5
    assert by["a.png"].nm_per_px == 1.0
    assert abs(by["t.tif"].nm_per_px - 1.25) < 1e-6 and by["t.tif"].nm_per_px_source == "tiff-resolution"


def test_coco_image_entries_carry_their_scale(tmp_path):
    for n in ("a", "b", "c", "d"):
        img(str(tmp_path / f"grid/{n}.png"))
    doc = {
        "images": [
            {"id": 1, "file_name": "grid/a.png", "width": 100, "height": 80, "nm_per_px": 0.85},
            {"id": 2, "file_name": "grid/b.png", "width": 100, "height": 80, "nm_per_px": 1.2},
            {"id": 3, "file_name": "grid/c.png", "width": 100, "height": 80},
            {"id": 4, "file_name": "grid/d.png", "width": 100, "height": 80, "nm_per_px": "1.2 nm"},
        ],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]}],
        "categories": [{"id": 1, "name": "exosome"}],
    }
    write(str(tmp_path / "reviewed.coco.json"), json.dumps(doc, indent=1))
    # dataset.json's entry for an image still wins; its batch-wide value comes after the annotation file's.
    write(str(tmp_path / "dataset.json"), json.dumps({"nm_per_px": 3.0, "images": {"grid/b.png": {"nm_per_px": 2.5}}}))
    d = load(tmp_path)
    by = {i.rel_path: (i.nm_per_px, i.nm_per_px_source) for i in d.images}
    assert by["grid/a.png"] == (0.85, "annotation file")
    assert by["grid/b.png"] == (2.5, "dataset.json image")
    assert by["grid/c.png"] == (3.0, "dataset.json")
    assert by["grid/d.png"] == (3.0, "dataset.json")
    assert problems(d) == [("reviewed.coco.json", 25, "image entry 3 (grid/d.png): nm_per_px must be a positive number, got '1.2 nm'; its scale falls back to the defaults")]


def test_missing_channel_is_a_clear_error(tmp_path):
    with pytest.raises(AnnotationError, match="does not exist"):
        load(tmp_path / "nope")
