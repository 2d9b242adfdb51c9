"""The trainer's reader of the canonical ground truth (truth.json).

The documents here come from the synthetic generator, a producer of truth.json in its own right;
what exodetect's TypeScript ingestion writes is read by this module in
tests/training/truth-contract.test.ts (the real split step's output, through local S3).
"""
import json
import os
from dataclasses import replace

import numpy as np
import pytest

from exodetect_train.annotations import TRUTH_FILE, AnnotationError, check_bad_fraction, load_channel
from exodetect_train.synth import SynthConfig, write_dataset


def channel(tmp_path, n=3, size=192, nm=2.5):
    root = str(tmp_path / "train")
    write_dataset(root, n, replace(SynthConfig(), width=size, height=size, nm_per_px=nm), seed=4, labels="truth")
    return root


def edit(root, fn):
    path = os.path.join(root, TRUTH_FILE)
    with open(path) as f:
        doc = json.load(f)
    fn(doc)
    with open(path, "w") as f:
        json.dump(doc, f)
    return doc


def load(root, **kw):
    return load_channel(root, training_nm_per_px=2.0, **kw)


def test_reads_images_boxes_and_scales_of_a_generated_channel(tmp_path):
    root = channel(tmp_path)
    with open(os.path.join(root, TRUTH_FILE)) as f:
        doc = json.load(f)
    d = load(root)
    assert d.problems == [] and d.skipped == 0
    assert [i.rel_path for i in d.images] == [im["file"] for im in doc["images"]]
    first = d.images[0]
    np.testing.assert_allclose(first.boxes, [o["box"] for o in doc["images"][0]["objects"]], atol=1e-4)
    assert (first.width, first.height, first.nm_per_px, first.nm_per_px_source) == (192, 192, 2.5, "dataset")
    assert d.objects == sum(len(im["objects"]) for im in doc["images"]) > 0
    assert d.class_names == ["exosome"]


def test_an_image_without_scale_takes_the_default_then_the_training_scale(tmp_path):
    root = channel(tmp_path, n=2)
    edit(root, lambda doc: [im.update(nm_per_px=None, nm_per_px_source=None) for im in doc["images"]])
    assert {i.nm_per_px_source for i in load(root).images} == {"assumed training scale"}
    assert {i.nm_per_px for i in load(root, default_image_nm_per_px=1.7).images} == {1.7}


def test_ingestion_problems_count_and_the_trainer_adds_its_own_with_file_and_line(tmp_path):
    root = channel(tmp_path, n=2)

    def change(doc):
        doc["problems"] = [{"file": "labels/x.txt", "line": 3, "problem": "box outside the image"}]
        objs = doc["images"][0]["objects"]
        objs[0]["box"] = [10, 10, 11, 30]  # 1 px wide: under min_box_px
        objs[0]["source"] = {"file": "annotations.coco.json", "line": 41}
        objs[1]["class_name"] = "dog"
        objs[1]["source"] = {"file": "annotations.coco.json", "line": 57}

    doc = edit(root, change)
    d = load(root, single_class=False, class_names=["exosome"])
    assert [str(p) for p in d.problems] == [
        "labels/x.txt:3: box outside the image",
        "annotations.coco.json:41: degenerate box 1.0x20.0 px (< min_box_px 2.0) in images/synth_00000.png",
        "annotations.coco.json:57: unknown class 'dog' (known: exosome)",
    ]
    assert d.objects == sum(len(im["objects"]) for im in doc["images"]) - 2
    assert d.skipped == 3


def test_multi_class_names_come_from_the_hyperparameter_or_dataset_json_or_what_is_seen(tmp_path):
    root = channel(tmp_path, n=1)

    def two_classes(doc):
        for k, o in enumerate(doc["images"][0]["objects"]):
            o["class_name"] = "rsv" if k % 2 else "flu"
        doc["declared_classes"] = None

    edit(root, two_classes)
    assert load(root, single_class=False).class_names == ["flu", "rsv"]
    d = load(root, single_class=False, class_names=["rsv", "flu"])
    assert d.class_names == ["rsv", "flu"] and d.images[0].classes[:2].tolist() == [1, 0]
    assert load(root).class_names == ["exosome"]  # single class: the default name


def test_fraction_policy_skips_and_counts_then_fails_with_the_list(tmp_path):
    root = channel(tmp_path, n=1)
    doc = edit(root, lambda d: d.update(problems=[{"file": "b.png", "line": None, "problem": "image without label"},
                                                  {"file": "c.png", "line": None, "problem": "unreadable image"}]))
    d = load(root)
    total = len(doc["images"][0]["objects"]) + 2
    check_bad_fraction(d, 2 / total + 1e-9)  # at the limit: skipped and counted, no failure
    with pytest.raises(AnnotationError) as e:
        check_bad_fraction(d, 1 / total)
    assert f"2 of {total}" in str(e.value) and "b.png: image without label" in str(e.value) and "c.png" in str(e.value)


def test_clear_errors_for_a_raw_folder_a_missing_image_and_another_version(tmp_path):
    with pytest.raises(AnnotationError, match="does not exist"):
        load(str(tmp_path / "nope"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(AnnotationError, match="no truth.json.*exodetect check"):
        load(str(raw))
    root = channel(tmp_path, n=2)
    os.remove(os.path.join(root, "images", "synth_00001.png"))
    d = load(root)
    assert [str(p) for p in d.problems] == ["images/synth_00001.png: listed in truth.json but missing from the channel"]
    edit(root, lambda doc: doc.update(version=2))
    with pytest.raises(AnnotationError, match="version 2; this trainer reads version 1"):
        load(root)
