"""FCMAE initialisation: upstream's (std 1.0) against std 0.02, in a short CPU pre-training.

Both models are built from the FCMAE ConvNeXt V2 pre-training config (one-shot L(0; 0.6),
norm-pix loss, AdamW betas (0.9, 0.95), weight decay 0.05, the config's parameter-wise settings)
with a ConvNeXt V2-Atto encoder (depths 2-2-6-2, widths 40-320) at 128 px (a 4x4 grid of 32-px
cells), and trained for the same steps on the same batches and masks (same seed) on Fashion-MNIST
training images (bilinearly resized to 128 px, grey replicated to 3 channels). Only
``model.weight_init`` differs. Per seed and lr the script prints the loss every ``--every`` steps,
whether the loss stayed finite, and the mean loss of the last 10 % of the steps; with
``--out-dir`` it writes ``results.json`` and ``loss_curves.png``.

    .venv/bin/python tools/analysis/compare_fcmae_init.py --steps 300 --seeds 0 1 2 \\
        --out-dir docs/results/fcmae_init

The lrs: ``--lrs`` in units of the config's lr at its full batch (1.5e-4 x 4096 / 256 = 2.4e-3);
the default ``0.0625 1`` is the lr linearly scaled to this batch of 16 (1.5e-4 x 16 / 256) and the
config's full-batch lr (a stability test at 16x the scaled lr). Warm-up: linear over the first
10 % of the steps, then constant.
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]  # the config and the default data, from any folder

CONFIG = 'configs/selfsup/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
ATTO = dict(depths=[2, 2, 6, 2], channels=[40, 80, 160, 320])
INITS = ('fcmae', 'trunc_normal_0.02')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=128)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--lrs', type=float, nargs='+', default=[0.0625, 1.0],
                        help="multiples of the config's full-batch lr (2.4e-3)")
    parser.add_argument('--every', type=int, default=25, help='print the loss every N steps')
    parser.add_argument('--data-root', default='data/fashion_mnist')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out-dir', help='write results.json and loss_curves.png here')
    args = parser.parse_args(argv)
    for name in ('steps', 'batch_size', 'img_size', 'every'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")}={getattr(args, name)} must be >= 1')
    if args.img_size % 32:
        parser.error(f'--img-size={args.img_size} must be a multiple of the 32-px mask cell')
    return args


def load_images(root: Path, count: int) -> torch.Tensor:
    """The first ``count`` Fashion-MNIST training images as (count, 28, 28) uint8."""
    path = root / 'train-images-idx3-ubyte'
    if not path.is_file():
        raise SystemExit(f'compare_fcmae_init.py: error: {path} not found; prepare the data with '
                         'tools/dataset_converters/prepare_fashion_mnist.py')
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8, offset=16)
    return torch.from_numpy(raw.reshape(-1, 28, 28)[:count].copy())


def build(weight_init: str, img_size: int) -> torch.nn.Module:
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.model.backbone.update(arch=ATTO, img_size=img_size, mask_layers=[0], mask_ratios=[0.6])
    cfg.model.neck.update(in_channels=ATTO['channels'][-1])
    cfg.model.weight_init = weight_init
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, cfg


def train(weight_init: str, seed: int, lr: float, images: torch.Tensor,
          args: argparse.Namespace) -> List[float]:
    from mmengine.optim import build_optim_wrapper

    torch.manual_seed(seed)
    model, cfg = build(weight_init, args.img_size)
    model.train()
    optim_cfg = dict(cfg.optim_wrapper)
    optim_cfg['type'] = 'OptimWrapper'  # fp32 on CPU (no AMP)
    optim_cfg.pop('loss_scale', None)
    optim_cfg['optimizer'] = dict(optim_cfg['optimizer'], lr=lr)
    optim = build_optim_wrapper(model, optim_cfg)
    gen = torch.Generator().manual_seed(1000 + seed)  # batches: the same for both inits
    warmup = max(1, args.steps // 10)
    base_lrs = [group['lr'] for group in optim.optimizer.param_groups]
    losses = []
    for step in range(args.steps):
        for group, base in zip(optim.optimizer.param_groups, base_lrs):
            group['lr'] = base * min(1.0, (step + 1) / warmup)
        idx = torch.randint(0, images.shape[0], (args.batch_size, ), generator=gen)
        x = images[idx].float().div(255).unsqueeze(1)
        x = F.interpolate(x, size=args.img_size, mode='bilinear', align_corners=False)
        x = ((x - 0.286) / 0.353).expand(-1, 3, -1, -1).contiguous()
        torch.manual_seed(10_000 * seed + step)  # masks: the same for both inits
        parsed, log = model.parse_losses(model.loss(x, None))
        if not math.isfinite(parsed.item()):
            losses.append(float('nan'))
            break
        optim.update_params(parsed)
        losses.append(parsed.item())
    return losses


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import cmae_mm.components  # noqa: F401
    from mmengine.logging import MMLogger

    MMLogger.get_instance('compare_fcmae_init', log_level='WARNING')
    images = load_images(REPO / args.data_root if not Path(args.data_root).is_absolute()
                         else Path(args.data_root), 20_000)
    full_lr = 1.5e-4 * 4096 / 256
    runs: List[Dict] = []
    t0 = time.time()
    for lr_mult in args.lrs:
        for seed in args.seeds:
            for weight_init in INITS:
                losses = train(weight_init, seed, lr_mult * full_lr, images, args)
                tail = losses[-max(1, len(losses) // 10):]
                finite = all(math.isfinite(v) for v in losses) and len(losses) == args.steps
                run = dict(weight_init=weight_init, seed=seed, lr=lr_mult * full_lr,
                           lr_mult=lr_mult, finite=finite, first=losses[0],
                           final=statistics.fmean(tail) if finite else None, losses=losses)
                runs.append(run)
                shown = ' '.join(f'{losses[i]:.3f}' for i in range(0, len(losses), args.every))
                print(f'lr {lr_mult * full_lr:.2e} seed {seed} {weight_init:>17}: '
                      f'{"finite" if finite else "DIVERGED"}, first {losses[0]:.3f}, '
                      f'last-10% mean {run["final"] if finite else float("nan"):.4f} | {shown}',
                      flush=True)
    print(f'\nwall time {time.time() - t0:.0f} s, {torch.get_num_threads()} threads')
    print('\n| lr | weight_init | seeds finite | last-10 % loss, mean ± std | paired diff '
          'fcmae − 0.02 (mean, per seed) |')
    print('|---|---|---|---|---|')
    for lr_mult in args.lrs:
        by = {w: [r for r in runs if r['lr_mult'] == lr_mult and r['weight_init'] == w]
              for w in INITS}
        diffs = [a['final'] - b['final'] for a, b in zip(by['fcmae'], by['trunc_normal_0.02'])
                 if a['final'] is not None and b['final'] is not None]
        for w in INITS:
            finals = [r['final'] for r in by[w] if r['final'] is not None]
            spread = (f'{statistics.fmean(finals):.4f} ± '
                      f'{statistics.stdev(finals) if len(finals) > 1 else 0:.4f}') if finals else '—'
            diff = (f'{statistics.fmean(diffs):+.4f} ({", ".join(f"{d:+.4f}" for d in diffs)})'
                    if diffs and w == 'fcmae' else '')
            print(f'| {lr_mult * full_lr:.2e} | {w} | {len(finals)}/{len(by[w])} | {spread} | '
                  f'{diff} |')
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta = dict(config=CONFIG, arch=ATTO, img_size=args.img_size, batch_size=args.batch_size,
                    steps=args.steps, data='Fashion-MNIST train (first 20k), 128 px, 3 channels',
                    torch=torch.__version__, threads=torch.get_num_threads())
        (out / 'results.json').write_text(json.dumps(dict(meta=meta, runs=runs), indent=1) + '\n')
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(args.lrs), figsize=(6 * len(args.lrs), 4), squeeze=False)
        for ax, lr_mult in zip(axes[0], args.lrs):
            for r in runs:
                if r['lr_mult'] == lr_mult:
                    ax.plot(r['losses'], color='C0' if r['weight_init'] == 'fcmae' else 'C1',
                            alpha=0.7, label=f"{r['weight_init']} seed {r['seed']}")
            ax.set_title(f'lr {lr_mult * full_lr:.2e}')
            ax.set_xlabel('step')
            ax.set_ylabel('norm-pix loss')
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / 'loss_curves.png', dpi=100)
        print(f'wrote {out}/results.json and loss_curves.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
