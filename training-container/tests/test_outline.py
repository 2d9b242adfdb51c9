"""The outline head's targets and decoding: rays from polygons and boxes, turned with the pixels, decoded to polygons."""
import math

import numpy as np
import torch

from exodetect_train.annotations import load_channel
from exodetect_train.outline import (LOG_RAY_RANGE, area_equivalent_diameter, decode_outlines, draw_ray_targets,
                                     ellipse_distances, object_rays, star_distances)
from exodetect_train.transforms import flip_rotate, random_crop


def ellipse(cx, cy, rx, ry, n=256, wobble=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + wobble * np.cos(t)
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], axis=1)


def test_rays_of_a_polygon_and_of_a_box():
    d = star_distances(ellipse(53, 40, 10, 6), 53, 40, 32)
    assert abs(d[0] - 10) < 1e-3 and abs(d[8] - 6) < 1e-3 and abs(d[16] - 10) < 1e-3
    assert np.allclose(ellipse_distances([43, 34, 63, 46], 32), d, atol=2e-3)
    rays = object_rays(np.array([[43, 34, 63, 46], [0, 0, 30, 20]], np.float32), [ellipse(53, 40, 10, 6), None], 32, 0.1)
    assert rays.shape == (2, 33)
    assert rays[0, 32] == 1.0 and rays[1, 32] == np.float32(0.1)  # a polygon weighs 1, a box's ellipse outline_box_weight
    assert abs(rays[1, 0] - 15) < 1e-4 and abs(rays[1, 8] - 10) < 1e-4


def test_rays_turn_with_the_pixels_under_every_flip_and_quarter_turn():
    img = np.zeros((100, 120), np.float32)
    polygon = ellipse(53, 40, 10, 6, wobble=0.3)
    boxes = np.array([[polygon[:, 0].min(), polygon[:, 1].min(), polygon[:, 0].max(), polygon[:, 1].max()]], np.float32)
    rays = object_rays(boxes, [polygon], 32, 0.1)
    for seed in range(12):
        _, b, turned = flip_rotate(np.random.default_rng(seed), img, boxes, rays=rays)
        # Replay the same draws on the polygon itself and measure its rays afresh.
        rng = np.random.default_rng(seed)
        h, w = img.shape
        p = polygon.copy()
        if rng.random() < 0.5:
            p[:, 0] = w - p[:, 0]
        if rng.random() < 0.5:
            p[:, 1] = h - p[:, 1]
        for _ in range(int(rng.integers(0, 4))):
            p = np.stack([p[:, 1], w - p[:, 0]], axis=1)
            h, w = w, h
        want = star_distances(p, (b[0, 0] + b[0, 2]) / 2, (b[0, 1] + b[0, 3]) / 2, 32)
        assert np.abs(turned[0, :32] - want).max() < 1e-3, seed


def test_crops_scale_the_rays_and_drop_the_target_of_cut_objects():
    img = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    boxes = np.array([[80, 80, 120, 110], [0, 150, 40, 190]], np.float32)
    rays = object_rays(boxes, [None, None], 32, 0.1)
    for seed in range(20):
        _, b, _, r = random_crop(np.random.default_rng(seed), img, boxes, np.zeros(2, np.int64), 96, 0.15, rays=rays)
        for box, ray in zip(b, r):
            whole = box[0] > 0 and box[1] > 0 and box[2] < 96 and box[3] < 96
            if ray[32] > 0:
                # Still the inscribed ellipse of the (rescaled) box.
                assert np.allclose(ray[:32], ellipse_distances(box, 32), rtol=1e-3), seed
            assert ray[32] > 0 or not whole


def test_targets_are_relative_to_the_box_ellipse_and_decode_back_to_the_polygon():
    polygon = ellipse(64, 60, 16, 12, wobble=0.2)
    box = np.array([[polygon[:, 0].min(), polygon[:, 1].min(), polygon[:, 0].max(), polygon[:, 1].max()]], np.float32)
    rays = object_rays(box, [polygon], 32, 0.1)
    t = draw_ray_targets(box, rays, 128)
    cx, cy = (box[0, 0] + box[0, 2]) / 2, (box[0, 1] + box[0, 3]) / 2
    ix, iy = int(cx / 4), int(cy / 4)
    assert t["rays"].shape == (32, 32, 32) and t["ray_weight"][iy, ix] == 1.0
    assert t["ray_weight"][iy - 1: iy + 2, ix - 1: ix + 2].min() == 1.0 and t["ray_weight"].sum() == 9
    assert LOG_RAY_RANGE[0] < t["rays"][:, iy, ix].min() and t["rays"][:, iy, ix].max() < LOG_RAY_RANGE[1]
    # What the graph does with those targets at the same cell gives the polygon's rays back.
    log_rays = torch.from_numpy(t["rays"])[None]
    size = torch.tensor([[[box[0, 2] - box[0, 0]], [box[0, 3] - box[0, 1]]]], dtype=torch.float32)
    out = decode_outlines(log_rays, torch.tensor([[iy * 32 + ix]]), torch.tensor([[cx]]), torch.tensor([[cy]]), size)
    back = out[0, 0].numpy().reshape(-1, 2)
    assert np.abs(np.hypot(back[:, 0] - cx, back[:, 1] - cy) - rays[0, :32]).max() < 1e-3
    assert math.isclose(area_equivalent_diameter(back), area_equivalent_diameter(polygon), rel_tol=0.01)


def test_the_channel_reader_keeps_each_object_polygon(tmp_path):
    import json
    from PIL import Image
    root = tmp_path / "ch"
    (root / "images").mkdir(parents=True)
    Image.new("L", (64, 64), 128).save(root / "images" / "a.png")
    obj = lambda box, polygon: {"box": box, "class_name": "exosome", "polygon": polygon, "source": {"file": "a.json", "line": None}}
    doc = {"format": "exodetect-truth", "version": 1, "dataset": "d", "channel": "train", "class_names": ["exosome"],
           "declared_classes": None, "problems": [],
           "images": [{"file": "images/a.png", "width": 64, "height": 64, "nm_per_px": 2.0, "nm_per_px_source": "dataset",
                       "nm_per_px_detail": None, "labelled_by": "a.json", "source_image_id": None,
                       "objects": [obj([10, 10, 30, 30], [12, 12, 28, 12, 28, 28, 12, 28]), obj([40, 40, 50, 50], None)]}]}
    (root / "truth.json").write_text(json.dumps(doc))
    data = load_channel(str(root), training_nm_per_px=2.0)
    polygons = data.images[0].polygons
    assert len(polygons) == 2 and polygons[1] is None
    assert polygons[0].shape == (4, 2) and math.isclose(area_equivalent_diameter(polygons[0]), math.sqrt(4 * 256 / math.pi))
