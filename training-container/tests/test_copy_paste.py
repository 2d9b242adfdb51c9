"""Copy-paste augmentation (copy_paste.py, CropDataset's copy_paste)."""
import numpy as np

from exodetect_train.copy_paste import BACKGROUND_MASK, paste_particles, particle_bank
from exodetect_train.data import CropDataset, ScaledImage
from exodetect_train.outline import object_rays


def disc_image(level, particles, size=200, value=0.2):
    """A flat field with dark discs at (cx, cy, r); boxes are the discs' boxes."""
    img = np.full((size, size), level, np.float32)
    yy, xx = np.mgrid[:size, :size]
    boxes = []
    for cx, cy, r in particles:
        img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = value
        boxes.append([cx - r, cy - r, cx + r, cy + r])
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return ScaledImage(None, img, 1.0, boxes, np.zeros(len(boxes), np.int64), object_rays(boxes, [None] * len(boxes), 8, 0.1))


def test_bank_takes_whole_lone_particles_only():
    # (100, 100): alone. (10, 100): its patch would leave the image. (150, 40) and (160, 44): each patch holds the other's centre.
    si = disc_image(0.8, [(100, 100, 20), (10, 100, 15), (150, 40, 12), (160, 44, 10)])
    bank = particle_bank([si], max_edge=128)
    assert len(bank) == 1
    p = bank[0]
    assert p.patch.shape == p.mask.shape == (52, 52)  # 40 px box + 15% of 40 on each side, rounded out
    assert np.allclose(p.box, [6, 6, 46, 46])
    assert p.mask[26, 26] > 0.99 and p.mask[0, 0] < BACKGROUND_MASK
    assert np.array_equal(p.rays, si.rays[0])
    assert particle_bank([si], max_edge=40) == []  # too large for the crop


def test_pasted_particle_lands_clear_of_boxes_with_its_targets_and_the_background_matched():
    source = disc_image(0.3, [(60, 60, 20)])  # a dark-stained grid
    bank = particle_bank([source], max_edge=128)
    crop = disc_image(0.8, [(40, 40, 15)])  # a bright one
    rng = np.random.default_rng(3)
    img, boxes, classes, rays = paste_particles(rng, crop.image, crop.boxes, crop.classes, crop.rays, bank, count=2)
    assert len(boxes) == 3 and len(classes) == 3 and rays.shape == (3, 9)
    assert np.array_equal(rays[1], source.rays[0]) and np.array_equal(rays[2], source.rays[0])
    for b in boxes[1:]:
        assert b[2] - b[0] == 40 and b[3] - b[1] == 40
        patch = [b[0] - 6, b[1] - 6, b[2] + 6, b[3] + 6]
        # Clear of the crop's own particle.
        assert not (patch[0] < 55 and patch[2] > 25 and patch[1] < 55 and patch[3] > 25)
        cx, cy = int((b[0] + b[2]) / 2), int((b[1] + b[3]) / 2)
        # The particle keeps its contrast to its background (0.2 against 0.3: 0.1 darker) on the bright field.
        assert abs(img[cy, cx] - 0.7) < 0.02
    # Away from every particle the crop is untouched.
    untouched = np.ones_like(img, bool)
    for b in boxes:
        untouched[max(0, int(b[1]) - 8):int(b[3]) + 8, max(0, int(b[0]) - 8):int(b[2]) + 8] = False
    assert np.array_equal(img[untouched], crop.image[untouched])


def test_crops_without_copy_paste_draw_the_same_random_stream():
    images = [disc_image(0.8, [(60, 60, 20), (140, 140, 18)]), disc_image(0.5, [(100, 60, 25)])]
    plain = CropDataset(images, 1, 96, 4, seed=1)
    off = CropDataset(images, 1, 96, 4, seed=1, copy_paste=0.0)
    on = CropDataset(images, 1, 96, 4, seed=1, copy_paste=1.0)
    assert len(on.bank) == 3
    added = 0
    for i in range(len(plain)):
        a, ta = plain[i]
        b, tb = off[i]
        assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(ta["mask"].numpy(), tb["mask"].numpy())
        added += int(on[i][1]["mask"].sum() - ta["mask"].sum())
    assert added > 0  # pasted particles are targets
