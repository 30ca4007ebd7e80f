"""The embedded demo: pre-train a small Conditional MAE on real images, then show what it learned.

1. Writes scikit-learn's handwritten digits (1,797 real 8x8 scans, 10 classes), upsampled to
   32x32, to disk in mmpretrain's folder layout (train/<digit>/*.png, val/<digit>/*.png; 80/20
   stratified split).
2. Pre-trains configs/selfsup/cmae_vit-tiny-p4_digits_demo.py, L(0,10; 0.75,0.1), with the real
   mmengine Runner (labels unused).
3. Linear probe (logistic regression on frozen, globally average-pooled patch features of the
   unmasked image) on the digit labels: the pre-trained encoder vs the same encoder randomly
   initialised. Prints both top-1 accuracies.
4. Saves a PNG grid: original / visible input after each shot / reconstruction.

Every run writes into a new folder work_dirs/demo/<timestamp>/ and never touches earlier runs.
"""
import argparse
import json
import sys
import time
from pathlib import Path
from typing import Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs' / 'selfsup' / 'cmae_vit-tiny-p4_digits_demo.py'


def step(msg: str) -> None:
    print(f'\n==> {msg}', flush=True)


def new_run_dir(base: Path) -> Path:
    """A fresh folder under ``base``; earlier runs are left as they are."""
    stamp = time.strftime('%Y%m%d_%H%M%S')
    for n in range(1000):
        run_dir = base / (stamp if n == 0 else f'{stamp}_{n}')
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f'could not create a new run folder under {base}')


def write_digits(data_root: Path, size: int, seed: int = 0) -> Tuple[int, int]:
    """Write the digits as RGB PNGs in the folder layout; returns (#train, #val)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    idx_train, idx_val = train_test_split(
        np.arange(len(digits.target)), test_size=0.2, stratify=digits.target, random_state=seed)
    for split, indices in (('train', idx_train), ('val', idx_val)):
        for i in indices:
            folder = data_root / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (digits.images[i] / 16. * 255).astype(np.uint8)  # values 0..16
            Image.fromarray(pixels).resize((size, size), Image.BICUBIC).convert('RGB').save(
                folder / f'{i:04d}.png')
    return len(idx_train), len(idx_val)


def iter_batches(model, data_root: Path, split: str, batch_size: int = 256):
    """Yield pre-processed batches (dict with ``inputs`` and ``data_samples``) of a split."""
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    dataset = DATASETS.build(dict(
        type='CustomDataset', data_root=str(data_root), data_prefix=split,
        pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    for start in range(0, len(dataset), batch_size):
        end = min(start + batch_size, len(dataset))
        yield model.data_preprocessor(default_collate([dataset[i] for i in range(start, end)]),
                                      False)


@torch.no_grad()
def extract(model, data_root: Path, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Average-pooled final patch features of the unmasked images, and their labels."""
    model.eval()
    feats, labels = [], []
    for data in iter_batches(model, data_root, split):
        tokens = model.backbone(data['inputs'], mask=None)[0]  # (B, 1 + N, C) after final norm
        feats.append(tokens[:, 1:].mean(dim=1).numpy())
        labels += [int(s.gt_label) for s in data['data_samples']]
    return np.concatenate(feats), np.array(labels)


def linear_probe(model, data_root: Path) -> float:
    """Top-1 (%) of a logistic-regression probe trained on train features, tested on val."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = extract(model, data_root, 'train')
    x_val, y_val = extract(model, data_root, 'val')
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
    probe.fit(x_train, y_train)
    return 100. * float((probe.predict(x_val) == y_val).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-root', default=str(ROOT / 'work_dirs' / 'demo'),
                        help='parent of the per-run folders (default: work_dirs/demo)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='pre-training epochs (default: the config\'s max_epochs)')
    args = parser.parse_args()
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs={args.epochs}: must be a positive number of epochs')

    import cmae_mm  # noqa: F401  (registers the models, applies the compat layer)
    from mmengine.config import Config
    from mmengine.runner import Runner, set_random_seed
    from mmpretrain.registry import MODELS

    from cmae_mm.analysis import save_reconstruction_grid

    t0 = time.time()
    run_dir = new_run_dir(Path(args.work_root))
    cfg = Config.fromfile(str(CONFIG))
    data_root = run_dir / 'data'
    step(f'[1/4] writing the digits dataset to {data_root}')
    n_train, n_val = write_digits(data_root, cfg.img_size)
    print(f'{n_train} train / {n_val} val images, 10 classes, {cfg.img_size}x{cfg.img_size}')

    cfg.work_dir = str(run_dir)
    cfg.train_dataloader.dataset.data_root = str(data_root)
    if args.epochs is not None:  # shorter run: keep warm-up <= half of it, then cosine
        warmup, cosine = cfg.param_scheduler
        warm = min(warmup.end, args.epochs // 2)
        warmup.end = warm
        cosine.update(begin=warm, end=args.epochs, T_max=args.epochs - warm)
        cfg.param_scheduler = ([warmup] if warm > 0 else []) + [cosine]
        cfg.train_cfg.max_epochs = args.epochs
        cfg.default_hooks.checkpoint.interval = args.epochs
    schedule = cfg.model.backbone
    step(f'[2/4] pre-training L({",".join(map(str, schedule.mask_layers))}; '
         f'{",".join(map(str, schedule.mask_ratios))}) for {cfg.train_cfg.max_epochs} epochs '
         f'(progress: the Runner log below)')
    runner = Runner.from_cfg(cfg)
    runner.train()
    t_train = time.time() - t0

    step('[3/4] linear probe on the digit labels (frozen encoder, unmasked images)')
    acc_pretrained = linear_probe(runner.model, data_root)
    set_random_seed(0)
    random_model = MODELS.build(cfg.model)
    random_model.init_weights()
    acc_random = linear_probe(random_model, data_root)

    step('[4/4] reconstruction grid')
    pre = cfg.data_preprocessor
    data = next(iter_batches(runner.model, data_root, 'val'))
    labels = [int(s.gt_label) for s in data['data_samples']]
    images = data['inputs'][[labels.index(c) for c in range(8)]]  # one image of digits 0-7
    set_random_seed(1)
    png = save_reconstruction_grid(runner.model, images, run_dir / 'reconstruction.png',
                                   mean=pre.mean, std=pre.std)

    summary = dict(
        schedule=str(runner.model.backbone.schedule), epochs=cfg.train_cfg.max_epochs,
        linear_probe_top1=dict(pretrained=round(acc_pretrained, 2), random_init=round(acc_random, 2)),
        wall_time_s=round(time.time() - t0, 1), pretrain_time_s=round(t_train, 1),
        reconstruction_png=str(png), work_dir=str(run_dir))
    (run_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    print('\n' + '=' * 72)
    print(f'Conditional MAE {summary["schedule"]} on digits ({n_train} train / {n_val} val)')
    print(f'  linear probe top-1, pre-trained encoder : {acc_pretrained:6.2f} %')
    print(f'  linear probe top-1, random init encoder : {acc_random:6.2f} %')
    print(f'  reconstruction grid : {png}')
    print(f'  outputs             : {run_dir}   (wall time {summary["wall_time_s"]:.0f} s)')
    print('=' * 72)
    return 0


if __name__ == '__main__':
    sys.exit(main())
