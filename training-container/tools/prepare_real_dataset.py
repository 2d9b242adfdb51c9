"""Lays out the VISN negative-stain TEM set (../shared/datasets/visn-train, never part of the project) as
SageMaker channels for measuring the trainer on real micrographs: symlinks only, a seeded 200/56 split by
image (split.json per channel), and dataset.json with per-image nm/px = 200 nm / the length in px of the
burned-in "200 nm" scale bar (the bars are 66, 81 or 105 px: the set is not uniformly 3 nm/px)."""
import argparse
import json
import os

import numpy as np
from PIL import Image


def scale_bar_px(path: str) -> int:
    """Longest dark horizontal run in the bottom-right corner, where the set burns in its scale bar."""
    dark = np.asarray(Image.open(path).convert('L'))[-80:, -400:] < 40
    best = 0
    for row in dark:
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, ends = np.where(edges == 1)[0], np.where(edges == -1)[0]
        if len(starts):
            best = max(best, int((ends - starts).max()))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--src', default=os.path.join(os.path.dirname(__file__), '../../../shared/datasets/visn-train'))
    parser.add_argument('--out', required=True, help='base dir; channels go to <out>/input/data/{train,validation}')
    parser.add_argument('--val-images', type=int, default=56)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    src = os.path.abspath(args.src)
    names = sorted(os.listdir(f'{src}/images'))
    bar = {n: scale_bar_px(f'{src}/images/{n}') for n in names}
    missing = [n for n, px in bar.items() if px < 20]
    if missing:
        raise SystemExit(f'no scale bar found in {len(missing)} images, e.g. {missing[:3]}')
    perm = np.random.default_rng(args.seed).permutation(len(names))
    val = sorted(names[i] for i in perm[: args.val_images])
    train = sorted(names[i] for i in perm[args.val_images :])
    nm_per_px = {f'images/{n}': {'nm_per_px': round(200.0 / bar[n], 4)} for n in names}
    for channel, members in (('train', train), ('validation', val)):
        out = os.path.join(args.out, 'input', 'data', channel)
        os.makedirs(f'{out}/images', exist_ok=True)
        for n in names:
            if not os.path.lexists(f'{out}/images/{n}'):
                os.symlink(f'{src}/images/{n}', f'{out}/images/{n}')
        if not os.path.lexists(f'{out}/annotations.coco.json'):
            os.symlink(f'{src}/annotations.coco.json', f'{out}/annotations.coco.json')
        with open(f'{out}/split.json', 'w') as f:
            json.dump({'images': [f'images/{n}' for n in members]}, f)
        with open(f'{out}/dataset.json', 'w') as f:
            json.dump({'classes': ['particle'], 'images': nm_per_px}, f)
    print(f'train {len(train)} images, validation {len(val)} images, nm/px values {sorted(set(round(200.0 / v, 2) for v in bar.values()))}')


if __name__ == '__main__':
    main()
