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

    from cmae_mm.analysis import save_reconstruction_grid
    from cmae_mm.study.data import write_digits
    from cmae_mm.study.evaluations import build_model, iter_batches, probe_accuracy

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
    acc_pretrained = probe_accuracy(runner.model, data_root)
    # the same encoder randomly initialised, with the config's data preprocessor (as the trained one)
    acc_random = probe_accuracy(build_model(cfg, None, seed=0), data_root)

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
