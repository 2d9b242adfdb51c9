import json
from dataclasses import replace

import numpy as np
from PIL import Image

from exodetect_train.data import draw_targets
from exodetect_train.synth import EMPTY_GRID, SynthConfig, render, save_image, write_dataset, write_text_only_images
from exodetect_train.synth_overlays import BITMAP_FONT, FONT_FILES, available_fonts
from exodetect_train.transforms import flip_rotate, random_crop, read_image, resample_to_scale


def test_synth_is_deterministic_and_boxes_are_in_frame():
    cfg = replace(SynthConfig(), width=192, height=160, nm_per_px=1.5)
    a, b = render(7, cfg), render(7, cfg)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.image, render(8, cfg).image)
    assert len(a.boxes) > 0
    assert (a.boxes[:, 0] >= 0).all() and (a.boxes[:, 2] <= 192).all() and (a.boxes[:, 3] <= 160).all()
    assert len(a.diameters_nm) == len(a.boxes)
    assert a.diameters_nm.min() >= 30 * 0.9 and a.diameters_nm.max() <= 150 * 1.1  # the membranes: 30-150 nm
    # Boxes are the membrane widened by box_margin (cut by the frame: smaller).
    side = np.sqrt((a.boxes[:, 2] - a.boxes[:, 0]) * (a.boxes[:, 3] - a.boxes[:, 1])) * 1.5
    assert side.max() <= a.diameters_nm.max() * SynthConfig().box_margin * 1.1
    assert a.image.dtype == np.float32 and 0 <= a.image.min() and a.image.max() <= 1


def test_synth_knows_each_vesicle_outline_and_writes_it_as_the_polygon(tmp_path):
    cfg = replace(SynthConfig(), width=384, height=384, nm_per_px=1.5, coverage=(0.1, 0.1))
    m = render(5, cfg)
    assert len(m.outlines) == len(m.boxes) > 3
    for box, outline in zip(m.boxes, m.outlines):
        x, y = outline[:, 0], outline[:, 1]
        assert outline.shape == (64, 2)
        # Inside its box (the membrane widened by the margin), and smaller than the box says: the membrane, not the margin.
        assert (x >= box[0] - 0.5).all() and (x <= box[2] + 0.5).all() and (y >= box[1] - 0.5).all() and (y <= box[3] + 0.5).all()
        area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        assert 0.6 < np.sqrt(4 * area / np.pi) / np.sqrt((box[2] - box[0]) * (box[3] - box[1])) < 0.98
    write_dataset(str(tmp_path / "t"), 2, cfg, seed=5, labels="truth")
    write_dataset(str(tmp_path / "c"), 2, cfg, seed=5, labels="coco")
    with open(tmp_path / "t" / "truth.json") as f:
        objects = [o for im in json.load(f)["images"] for o in im["objects"]]
    with open(tmp_path / "c" / "annotations.coco.json") as f:
        anns = json.load(f)["annotations"]
    assert objects and all(len(o["polygon"]) == 128 for o in objects)
    assert [a["segmentation"][0] for a in anns] == [o["polygon"] for o in objects]


def test_only_vesicles_are_labelled():
    # Debris, lipoprotein-like particles, clumps and burned-in text but no vesicles: nothing to label.
    cfg = replace(EMPTY_GRID, width=256, height=256, nm_per_px=2.0, debris=3.0)
    for seed in range(3):
        m = render(seed, cfg)
        assert len(m.boxes) == 0 and m.image.std() > 0.01
    # The same grid with vesicles: every one labelled inside the frame.
    m = render(0, replace(cfg, coverage=(0.1, 0.1), min_vesicles=1))
    assert len(m.boxes) >= 3 and (m.boxes[:, 2] > m.boxes[:, 0]).all() and (m.boxes[:, 3] > m.boxes[:, 1]).all()


def test_the_full_size_range_and_magnifications():
    cfg = replace(SynthConfig(), width=512, height=512, max_diameter_nm=500.0, median_diameter_nm=(50.0, 250.0))
    diam = np.concatenate([render(s, replace(cfg, nm_per_px=nm)).diameters_nm for s, nm in enumerate([1.0, 2.0, 3.0, 4.0] * 3)])
    assert diam.min() < 60 and diam.max() > 250 and diam.max() <= 500 * 1.1


def test_text_only_images_in_several_fonts(tmp_path):
    fonts = available_fonts()
    assert fonts[-1] == BITMAP_FONT and len(fonts) == len(FONT_FILES) + 1, "fonts-dejavu-core is installed by scripts/install-system-deps.sh"
    written = write_text_only_images(str(tmp_path), fonts[:2] + fonts[-1:], per_font=2, size=256)
    assert len(written) == 6 and all(w["boxes"] == 0 for w in written)
    images = [read_image(str(tmp_path / w["file"])) for w in written]
    assert not np.array_equal(images[0], images[2])
    # The text is burned in on top: some pixels at the extremes (black or white) of the range.
    assert all(((im < 0.03) | (im > 0.97)).sum() > 20 for im in images)


def test_sixteen_bit_tiff_keeps_values_and_scale(tmp_path):
    m = render(3, replace(SynthConfig(), width=96, height=96, nm_per_px=1.5))
    p = str(tmp_path / "x.tif")
    save_image(p, m.image, 1.5, bit_depth=16)
    with Image.open(p) as im:
        assert im.mode == "I;16"
        res = im.tag_v2[282]
        assert im.tag_v2[296] == 3 and abs(1e7 / float(res) - 1.5) < 1e-9
    back = read_image(p)
    assert back.shape == (96, 96) and abs(float(back.mean()) - (6000 + float(m.image.mean()) * 46000) / 65535) < 1e-3


def test_flip_rotate_moves_boxes_with_the_pixels():
    img = np.zeros((40, 60), np.float32)
    img[5:15, 20:35] = 1.0
    boxes = np.array([[20, 5, 35, 15]], np.float32)
    for seed in range(8):
        out, b = flip_rotate(np.random.default_rng(seed), img, boxes)
        ys, xs = np.nonzero(out)
        np.testing.assert_allclose(b[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def test_random_crop_and_resampling_scale_boxes():
    img = np.zeros((200, 200), np.float32)
    img[100:120, 60:100] = 1.0
    boxes = np.array([[60, 100, 100, 120]], np.float32)
    small, f = resample_to_scale(img, 1.0, 2.0)
    assert small.shape == (100, 100) and f == 0.5
    out, b, c = random_crop(np.random.default_rng(0), img, boxes, np.zeros(1, np.int64), 64, 0.0)
    assert out.shape == (64, 64) and len(b) <= 1
    if len(b):
        x1, y1, x2, y2 = b[0].round().astype(int)
        assert out[y1:y2, x1:x2].mean() > 0.9


def test_targets_peak_at_box_centres():
    t = draw_targets(np.array([[8, 8, 24, 40]], np.float32), np.zeros(1, np.int64), 1, 64)
    assert t["heatmap"].shape == (1, 16, 16) and t["mask"].sum() == 1
    iy, ix = np.unravel_index(np.argmax(t["heatmap"][0]), (16, 16))
    assert (ix, iy) == (4, 6) and t["heatmap"][0, iy, ix] == 1.0
    np.testing.assert_allclose(np.exp(t["wh"][:, iy, ix]) * 4, [16, 32], rtol=1e-5)
