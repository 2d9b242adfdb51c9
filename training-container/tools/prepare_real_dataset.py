"""Lays out the VISN negative-stain TEM set (../shared/datasets/visn-train, never part of the project) as
folders a facility would hand to exodetect: images (symlinks), the set's COCO file as it is (one file for the
whole project: in each folder it also names the images that are elsewhere, which exodetect reports and leaves
out) and dataset.json with per-image nm/px = 200 nm / the length in px of the burned-in "200 nm" scale bar
(66-107 px: the set is not uniformly 3 nm/px).

    python3 prepare_real_dataset.py --out DIR   ->  DIR/all (256), DIR/train-200, DIR/test-56, DIR/fewshot-30,
                                                    DIR/unlabelled-170, DIR/selftrain-30

The 56 test images and the 30 few-shot images (drawn from the 200) come from one seeded permutation. For
self-training, unlabelled-170 holds the other 170 of the 200 as a batch (images only: their labels hidden) and
selftrain-30 the 30 few-shot images with a COCO file of their own labels only, so that nothing labels the 170."""
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


def link_images(folder: str, src: str, names: list) -> None:
    os.makedirs(folder, exist_ok=True)
    for n in names:
        if not os.path.lexists(f'{folder}/{n}'):
            os.symlink(f'{src}/images/{n}', f'{folder}/{n}')


def write_folder(out: str, src: str, names: list, nm_per_px: dict, own_labels_only: bool = False) -> None:
    """images/, the COCO file (the project's as it is, or with own_labels_only one that labels these images only)
    and dataset.json."""
    link_images(f'{out}/images', src, names)
    if own_labels_only:
        with open(f'{src}/annotations.coco.json') as f:
            coco = json.load(f)
        keep = {im['id'] for im in coco['images'] if os.path.basename(im['file_name']) in set(names)}
        coco['images'] = [im for im in coco['images'] if im['id'] in keep]
        coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] in keep]
        if os.path.lexists(f'{out}/annotations.coco.json'):
            os.remove(f'{out}/annotations.coco.json')  # never write through a link to the project's file
        with open(f'{out}/annotations.coco.json', 'w') as f:
            json.dump(coco, f)
    elif not os.path.lexists(f'{out}/annotations.coco.json'):
        os.symlink(f'{src}/annotations.coco.json', f'{out}/annotations.coco.json')
    with open(f'{out}/dataset.json', 'w') as f:
        json.dump({'classes': ['particle'], 'images': {f'images/{n}': {'nm_per_px': nm_per_px[n]} for n in names}}, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--src', default=os.path.join(os.path.dirname(__file__), '../../../shared/datasets/visn-train'))
    parser.add_argument('--out', required=True)
    parser.add_argument('--test-images', type=int, default=56)
    parser.add_argument('--fewshot-images', type=int, default=30)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    src = os.path.abspath(args.src)
    names = sorted(os.listdir(f'{src}/images'))
    bar = {n: scale_bar_px(f'{src}/images/{n}') for n in names}
    missing = [n for n, px in bar.items() if px < 20]
    if missing:
        raise SystemExit(f'no scale bar found in {len(missing)} images, e.g. {missing[:3]}')
    nm_per_px = {n: round(200.0 / bar[n], 4) for n in names}
    perm = np.random.default_rng(args.seed).permutation(len(names))
    test = sorted(names[i] for i in perm[: args.test_images])
    train = [names[i] for i in perm[args.test_images:]]
    fewshot = sorted(train[: args.fewshot_images])
    write_folder(f'{args.out}/all', src, names, nm_per_px)
    write_folder(f'{args.out}/train-{len(train)}', src, sorted(train), nm_per_px)
    write_folder(f'{args.out}/test-{len(test)}', src, test, nm_per_px)
    write_folder(f'{args.out}/fewshot-{len(fewshot)}', src, fewshot, nm_per_px)
    unlabelled = sorted(set(train) - set(fewshot))
    link_images(f'{args.out}/unlabelled-{len(unlabelled)}', src, unlabelled)
    write_folder(f'{args.out}/selftrain-{len(fewshot)}', src, fewshot, nm_per_px, own_labels_only=True)
    print(json.dumps({'all': len(names), 'train': len(train), 'test': len(test), 'fewshot': len(fewshot),
                      'nm_per_px': sorted(set(round(v, 2) for v in nm_per_px.values()))}))


if __name__ == '__main__':
    main()
