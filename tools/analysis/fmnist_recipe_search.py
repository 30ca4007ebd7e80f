"""Search the Fashion-MNIST pre-training recipe at which pre-training pays off under fine-tuning.

A fast, plain PyTorch loop around the suite's own configs and model classes (no Runner, no
per-image pipeline: the 60,000 images live in one tensor and are augmented per batch on the fly),
so that many settings fit in a CPU session. Each trial:

1. pre-trains ``configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py`` with the trial's overrides
   (``--cfg-options``-style ``key=value``) for ``--steps`` iterations (batch 256, random resized
   crop + flip, AdamW, linear warm-up then cosine) - or skips pre-training with ``--scratch``;
2. fine-tunes ``configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py``'s
   model (its optimiser with layer decay, label smoothing, crop + flip) on a balanced subset of
   ``--labels-per-class`` labelled images for ``--ft-epochs`` epochs;
3. reports test top-1 on the 10,000 test images, the final reconstruction loss, the loss of the
   predict-zero reconstruction on the same patches (``rec_err_trivial``) and the times,

and appends one JSON line to ``--out``. The study runner (tools/study/study.py) then runs the chosen
recipe through the Runner and the real tools; this script only chooses it.

Usage:
    python tools/analysis/fmnist_recipe_search.py --name scratch --scratch
    python tools/analysis/fmnist_recipe_search.py --name np1_3k --steps 3000
    python tools/analysis/fmnist_recipe_search.py --name np0_3k --steps 3000 \\
        --set model.head.norm_pix=False
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN_CFG = ROOT / 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py'
FINETUNE_CFG = ROOT / 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py'


def parse_value(text: str):
    """``key=value`` values as mmengine's DictAction reads them (numbers, bools, None, lists)."""
    from mmengine.config import DictAction
    return DictAction._parse_iterable(text)


def load_split(root: Path, train: bool):
    """(N, 1, 28, 28) float images normalised like the configs, and (N,) labels."""
    import torch
    from mmpretrain.datasets.mnist import read_image_file, read_label_file
    prefix = 'train' if train else 't10k'
    x = read_image_file(str(root / f'{prefix}-images-idx3-ubyte')).float()
    y = read_label_file(str(root / f'{prefix}-labels-idx1-ubyte'))
    return ((x - 72.94) / 90.0).unsqueeze(1).contiguous(), y.to(torch.long)


def random_resized_crop(x, area=(0.35, 1.0), flip=True):
    """Per-image random resized crop (bilinear) + horizontal flip of a batch (B, 1, H, W)."""
    import torch
    import torch.nn.functional as F
    B = x.shape[0]
    a = torch.empty(B).uniform_(*area)
    r = torch.exp(torch.empty(B).uniform_(math.log(3 / 4), math.log(4 / 3)))
    sw, sh = (a * r).sqrt().clamp(max=1), (a / r).sqrt().clamp(max=1)
    tx, ty = (1 - sw) * (2 * torch.rand(B) - 1), (1 - sh) * (2 * torch.rand(B) - 1)
    sign = torch.where(torch.rand(B) < 0.5, -1., 1.) if flip else torch.ones(B)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw * sign, tx, sh, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)


def pad_crop_flip(x, pad=2):
    """Random crop with ``pad`` pixels of padding + horizontal flip, per image (B, 1, H, W)."""
    import torch
    import torch.nn.functional as F
    B, _, H, W = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=float(x.min()))
    dx, dy = torch.randint(0, 2 * pad + 1, (2, B))
    rows = (dy[:, None] + torch.arange(H)[None])[:, :, None].expand(B, H, W)
    cols = (dx[:, None] + torch.arange(W)[None])[:, None, :].expand(B, H, W)
    out = xp[torch.arange(B)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(B) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def set_lr(optim_wrapper, factor):
    for group in optim_wrapper.optimizer.param_groups:
        group.setdefault('initial_lr', group['lr'])
        group['lr'] = group['initial_lr'] * factor


def schedule(step, total, warmup, floor=0.):
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def pretrain(args, x_train, log):
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    from cmae_mm.study.evaluations import quiet_mmengine

    cfg = Config.fromfile(str(PRETRAIN_CFG))
    cfg.merge_from_dict({k: parse_value(v) for k, v in args.set})
    model = MODELS.build(cfg.model)
    with quiet_mmengine():
        model.init_weights()
    cfg.optim_wrapper.optimizer.lr = args.lr
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    n, bs = len(x_train), 256
    warmup = max(1, int(args.steps * args.warmup_frac))
    losses, trivial = [], []
    t0 = time.time()
    perm = torch.randperm(n)
    pos = 0
    for step in range(args.steps):
        if pos + bs > n:
            perm, pos = torch.randperm(n), 0
        batch = random_resized_crop(x_train[perm[pos:pos + bs]], area=(args.crop_min, 1.0))
        pos += bs
        set_lr(optim, schedule(step, args.steps, warmup))
        out = model.loss(batch, None)
        optim.update_params(out['loss'])
        losses.append(float(out['loss']))
        trivial.append(float(out.get('rec_err_trivial', float('nan'))))
        if (step + 1) % 200 == 0 or step + 1 == args.steps:
            k = min(200, len(losses))
            loss, triv = sum(losses[-k:]) / k, sum(trivial[-k:]) / k
            log(f'  pretrain step {step + 1}/{args.steps}: loss {loss:.4f} '
                f'(trivial {triv:.4f}, ratio {loss / triv:.3f}) {time.time() - t0:.0f} s')
    k = min(200, len(losses))
    return model, dict(pretrain_loss=sum(losses[-k:]) / k, rec_err_trivial=sum(trivial[-k:]) / k,
                       pretrain_time_s=round(time.time() - t0, 1), pretrain_cfg=cfg)


def finetune(args, encoder, x_train, y_train, x_test, y_test, log):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    from cmae_mm.datasets.fashion_mnist import balanced_subset
    from cmae_mm.study.evaluations import quiet_mmengine

    cfg = Config.fromfile(str(FINETUNE_CFG))
    cfg.model.backbone.init_cfg = None
    cfg.merge_from_dict({k: parse_value(v) for k, v in args.ft_set})
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    with quiet_mmengine():
        model.init_weights()
    if encoder is not None:
        state = {k: v for k, v in encoder.state_dict().items() if not k.startswith('ln1.')}
        missing, unexpected = model.backbone.load_state_dict(state, strict=False)
        assert all(k.startswith('ln2.') for k in missing) and not unexpected, (missing, unexpected)
    cfg.optim_wrapper.optimizer.lr = args.ft_lr
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    idx = torch.from_numpy(balanced_subset(y_train.numpy(), args.labels_per_class, args.seed))
    xs, ys = x_train[idx], y_train[idx]
    bs = 64
    steps_per_epoch = math.ceil(len(xs) / bs)
    total = steps_per_epoch * args.ft_epochs
    warmup = steps_per_epoch * min(5, args.ft_epochs // 4)
    t0, step = time.time(), 0
    model.train()
    for epoch in range(args.ft_epochs):
        perm = torch.randperm(len(xs))
        for i in range(0, len(xs), bs):
            b = perm[i:i + bs]
            set_lr(optim, schedule(step, total, warmup))
            logits = model.head(model.extract_feat(pad_crop_flip(xs[b])))
            loss = F.cross_entropy(logits, ys[b], label_smoothing=0.1)
            optim.update_params(loss)
            step += 1
        if (epoch + 1) % 25 == 0:
            log(f'  finetune epoch {epoch + 1}/{args.ft_epochs}: loss {float(loss.detach()):.3f} '
                f'{time.time() - t0:.0f} s')
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model.head(model.extract_feat(x_test[i:i + 1000])).argmax(1)
                          for i in range(0, len(x_test), 1000)])
    top1 = 100. * float((pred == y_test).float().mean())
    return dict(finetune_top1=round(top1, 2), finetune_time_s=round(time.time() - t0, 1),
                labels=int(len(xs)), per_class_acc=np.round(
                    [100. * float((pred[y_test == c] == c).float().mean()) for c in range(10)],
                    1).tolist())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--name', required=True, help='trial name (a row of the output)')
    parser.add_argument('--data-root', default='data/fashion_mnist')
    parser.add_argument('--out', default='docs/results/fmnist_recipe_search/trials.jsonl')
    parser.add_argument('--scratch', action='store_true', help='no pre-training (the control)')
    parser.add_argument('--steps', type=int, default=2000, help='pre-training iterations')
    parser.add_argument('--lr', type=float, default=1.5e-3, help='pre-training peak lr')
    parser.add_argument('--warmup-frac', type=float, default=0.1)
    parser.add_argument('--crop-min', type=float, default=0.35,
                        help='smallest crop area of the pre-training random resized crop')
    parser.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
                        help='pre-training config overrides')
    parser.add_argument('--ft-set', nargs='*', default=[], metavar='KEY=VALUE',
                        help='fine-tuning config overrides')
    parser.add_argument('--ft-lr', type=float, default=1e-3)
    parser.add_argument('--ft-epochs', type=int, default=100)
    parser.add_argument('--labels-per-class', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: all)')
    args = parser.parse_args()
    args.set = [tuple(s.split('=', 1)) for s in args.set]
    args.ft_set = [tuple(s.split('=', 1)) for s in args.ft_set]

    import torch

    import cmae_mm.components  # noqa: F401  (registers the models)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    def log(msg):
        print(msg, flush=True)

    root = Path(args.data_root)
    x_train, y_train = load_split(root, True)
    x_test, y_test = load_split(root, False)
    record = dict(name=args.name, scratch=args.scratch, seed=args.seed,
                  labels_per_class=args.labels_per_class, ft_epochs=args.ft_epochs,
                  ft_lr=args.ft_lr, ft_set=dict(args.ft_set), torch_threads=torch.get_num_threads())
    encoder = None
    if not args.scratch:
        model, info = pretrain(args, x_train, log)
        encoder = model.backbone
        info.pop('pretrain_cfg')
        record.update(steps=args.steps, lr=args.lr, warmup_frac=args.warmup_frac,
                      crop_min=args.crop_min, set=dict(args.set), **info)
        record['loss_over_trivial'] = round(info['pretrain_loss'] / info['rec_err_trivial'], 4)
    record.update(finetune(args, encoder, x_train, y_train, x_test, y_test, log))
    log(json.dumps(record))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, 'a') as f:
        f.write(json.dumps(record) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
