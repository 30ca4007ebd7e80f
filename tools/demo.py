"""The embedded demo: what pre-training with Conditional MAE buys, on a real benchmark, in minutes.

1. Prepares Fashion-MNIST (60,000 + 10,000 real 28x28 photographs of clothing, 10 classes) in
   data/fashion_mnist from Debian's package dataset-fashion-mnist (tools/dataset_converters/
   prepare_fashion_mnist.py). If it cannot be prepared, says so in one line and falls back to the
   earlier digits demo (scikit-learn's digits, linear probe).
2. Pre-trains configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py, L(0,10; 0.75,0.1), on a subset
   of the training images (labels unused) with tools/train.py.
3. Fine-tunes the same classifier twice on the same 100 labelled images per class: from the
   pre-trained encoder (configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-
   mnist.py, layer decay 0.75) and from scratch with the control's own recipe (vit-tiny-p4_scratch_
   fashion-mnist.py, no layer decay), both for the demo's short length (tools/train.py, then
   tools/test.py on the 10,000 test images). Prints both top-1 accuracies. The demo shows the
   workflow in minutes; the evidence, with validated lengths, seeds and baselines without a
   network, is docs/evidence_fashion_mnist.md.
4. Saves a PNG grid: original / visible input after each shot / reconstruction.

The console shows one progress line per epoch and the results; every tool's full log goes to a
file in the run folder. Every run writes into a new folder work_dirs/demo/<timestamp>/ and never
touches earlier runs.
"""
import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py'
FINETUNE = 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py'
SCRATCH = 'configs/classification/fashion_mnist/vit-tiny-p4_scratch_fashion-mnist.py'
DIGITS = 'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py'
FMNIST_ROOT = 'data/fashion_mnist'


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


class EpochProgress(threading.Thread):
    """Prints a line per finished epoch (every ``epochs // 6``-th of long runs, and the last) of a
    training tool, read from its scalars file."""

    def __init__(self, work_dir: Path, label: str, epochs: int, keys=('loss', )) -> None:
        super().__init__(daemon=True)
        self.work_dir, self.label, self.epochs, self.keys = work_dir, label, epochs, keys
        self.stop = threading.Event()
        self.shown = 0
        self.t0 = time.time()

    def poll(self) -> None:
        last = {}
        for path in sorted(self.work_dir.glob('*/vis_data/scalars.json')):
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if 'epoch' in entry and all(k in entry for k in self.keys):
                    last[int(entry['epoch'])] = entry
        every = max(1, self.epochs // 6)
        for epoch in sorted(e for e in last if e > self.shown):
            if epoch == max(last) and epoch < self.epochs:
                break  # this epoch may still be logging
            self.shown = epoch
            if epoch % every and epoch != self.epochs:
                continue
            values = ' '.join(f'{k} {last[epoch][k]:.4f}' for k in self.keys)
            print(f'    {self.label} epoch {epoch}/{self.epochs}: {values} '
                  f'({time.time() - self.t0:.0f} s)', flush=True)

    def run(self) -> None:
        while not self.stop.wait(2.0):
            self.poll()


def run_tool(cmd, log: Path, progress: EpochProgress = None) -> None:
    """Run ``python <tool> ...`` in the repository root, output to ``log``; exit on failure."""
    with open(log, 'a') as f:
        if progress is not None:
            progress.start()
        proc = subprocess.run([sys.executable] + cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        if progress is not None:
            progress.stop.set()
            progress.join()
            progress.poll()
    if proc.returncode != 0:
        tail = '\n'.join(log.read_text(errors='replace').splitlines()[-15:])
        print(f'{cmd[0]} failed (exit code {proc.returncode}); full log: {log}\n{tail}')
        sys.exit(1)


def schedule_args(epochs: int, warmup: int) -> list:
    """``--cfg-options`` of a warm-up + cosine schedule of ``epochs`` epochs."""
    return [f'train_cfg.max_epochs={epochs}', f'param_scheduler.0.end={warmup}',
            f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.end={epochs}',
            f'param_scheduler.1.T_max={epochs - warmup}']


def fashion_mnist_demo(args, run_dir: Path) -> dict:
    from cmae_mm.study.evaluations import finetune_top1, schedule_options

    pre_dir = run_dir / 'pretrain'
    step(f'[2/4] pre-training L(0,10; 0.75,0.1) for {args.epochs} epochs on '
         f'{args.pretrain_images} unlabelled training images (tools/train.py; log: '
         f'{pre_dir / "train.log"})')
    pre_dir.mkdir()
    run_tool(['tools/train.py', PRETRAIN, '--work-dir', str(pre_dir), '--cfg-options',
              f'train_dataloader.dataset.data_root={ROOT / args.data_root}',
              f'train_dataloader.dataset.indices={args.pretrain_images}',
              'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=20']
             + schedule_args(args.epochs, max(1, args.epochs // 4)), pre_dir / 'train.log',
             EpochProgress(pre_dir, 'pre-training', args.epochs, ('loss', 'rec_err_trivial')))
    ckpt = pre_dir / f'epoch_{args.epochs}.pth'

    data_root = str(ROOT / args.data_root)
    options = {'train_dataloader.dataset.labels_per_class': args.labels_per_class,
               **{f'{s}_dataloader.dataset.data_root': data_root for s in ('train', 'val', 'test')},
               **schedule_options(args.ft_epochs)}
    results = {}
    # the control has its own recipe (no layer decay, a prior for pre-trained weights only)
    for name, config, init in (
            ('pre-trained', FINETUNE, {'model.backbone.init_cfg.checkpoint': str(ckpt)}),
            ('from scratch', SCRATCH, {'model.backbone.init_cfg': None})):
        work = run_dir / ('finetune' if name == 'pre-trained' else 'scratch')
        step(f'[3/4] fine-tuning {name} on {10 * args.labels_per_class} labelled images for '
             f'{args.ft_epochs} epochs, then testing on 10,000 (log: {work / "finetune.log"})')
        progress = EpochProgress(work, name, args.ft_epochs)
        progress.start()
        try:
            results[name] = finetune_top1(config, work, {**options, **init})
        finally:
            progress.stop.set()
            progress.join()
        print(f'    test top-1 ({name}): {results[name]:.2f} %', flush=True)
    return dict(ckpt=ckpt, config=PRETRAIN, results=results)


def digits_demo(args, run_dir: Path) -> dict:
    """The fallback: digits written to the run folder, pre-training, linear probe vs random init."""
    from mmengine.config import Config

    from cmae_mm.study.data import write_digits
    from cmae_mm.study.evaluations import build_model, probe_accuracy

    data_root = run_dir / 'data'
    n_train, n_val = write_digits(data_root, 32)
    pre_dir = run_dir / 'pretrain'
    pre_dir.mkdir()
    step(f'[2/4] pre-training L(0,10; 0.75,0.1) on {n_train} digits for {args.epochs} epochs')
    run_tool(['tools/train.py', DIGITS, '--work-dir', str(pre_dir), '--cfg-options',
              f'train_dataloader.dataset.data_root={data_root}',
              f'default_hooks.checkpoint.interval={args.epochs}']
             + schedule_args(args.epochs, max(1, args.epochs // 4)), pre_dir / 'train.log',
             EpochProgress(pre_dir, 'pre-training', args.epochs))
    ckpt = pre_dir / f'epoch_{args.epochs}.pth'
    step(f'[3/4] linear probe on the digit labels ({n_train} train / {n_val} val)')
    cfg = Config.fromfile(str(ROOT / DIGITS))
    results = {'linear probe, pre-trained': probe_accuracy(build_model(cfg, ckpt), data_root),
               'linear probe, random init': probe_accuracy(build_model(cfg, None), data_root)}
    return dict(ckpt=ckpt, config=DIGITS, results=results, data_root=data_root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-root', default=str(ROOT / 'work_dirs' / 'demo'),
                        help='parent of the per-run folders (default: work_dirs/demo)')
    parser.add_argument('--data', choices=('auto', 'fashion_mnist', 'digits'), default='auto',
                        help='auto: Fashion-MNIST, or digits when it cannot be prepared')
    parser.add_argument('--data-root', default=FMNIST_ROOT,
                        help='where Fashion-MNIST is prepared (default: %(default)s, shared by runs)')
    parser.add_argument('--epochs', type=int, default=4,
                        help='pre-training epochs (at least 2: warm-up + cosine)')
    parser.add_argument('--pretrain-images', type=int, default=20000,
                        help='unlabelled training images used for pre-training (Fashion-MNIST)')
    parser.add_argument('--ft-epochs', type=int, default=30, help='fine-tuning epochs')
    parser.add_argument('--labels-per-class', type=int, default=100,
                        help='labelled images per class for fine-tuning (Fashion-MNIST)')
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error(f'--epochs={args.epochs}: must be at least 2 (warm-up + cosine)')
    for name in ('pretrain_images', 'labels_per_class'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")}={getattr(args, name)}: must be positive')
    if args.ft_epochs < 2:
        parser.error(f'--ft-epochs={args.ft_epochs}: must be at least 2 (warm-up + cosine)')

    import cmae_mm  # noqa: F401  (registers the models, applies the compat layer)
    import torch
    from mmengine.config import Config
    from mmengine.runner import set_random_seed

    from cmae_mm.analysis import save_reconstruction_grid
    from cmae_mm.datasets.fashion_mnist import FashionMNISTSourceError, prepare_fashion_mnist
    from cmae_mm.study.evaluations import build_model, iter_batches

    t0 = time.time()
    run_dir = new_run_dir(Path(args.work_root))
    step(f'[1/4] data (outputs in {run_dir})')
    data = args.data
    if data in ('auto', 'fashion_mnist'):
        try:
            print('    ' + prepare_fashion_mnist(str(ROOT / args.data_root)))
            data = 'fashion_mnist'
        except (FashionMNISTSourceError, ValueError) as e:
            if data == 'fashion_mnist':
                print(f'error: {e}')
                return 1
            print(f'    Fashion-MNIST could not be prepared ({str(e).splitlines()[0][:160]}); '
                  'falling back to the digits demo (linear probe)')
            data = 'digits'
    out = fashion_mnist_demo(args, run_dir) if data == 'fashion_mnist' else \
        digits_demo(args, run_dir)

    step('[4/4] reconstruction grid')
    cfg = Config.fromfile(str(ROOT / out['config']))
    model = build_model(cfg, out['ckpt'])
    if data == 'fashion_mnist':
        batches = iter_batches(model, ROOT / args.data_root, 'test', batch_size=64)
    else:
        batches = iter_batches(model, out['data_root'], 'val')
    batch = next(batches)
    labels = [int(s.gt_label) for s in batch['data_samples']]
    images = batch['inputs'][[labels.index(c) for c in range(8)]]  # one image of classes 0-7
    set_random_seed(1)
    pre = cfg.data_preprocessor
    png = save_reconstruction_grid(model, images, run_dir / 'reconstruction.png',
                                   mean=pre.mean, std=pre.std)

    results = {k: round(v, 2) for k, v in out['results'].items()}
    summary = dict(data=data, schedule=str(model.backbone.schedule), epochs=args.epochs,
                   results=results, wall_time_s=round(time.time() - t0, 1),
                   torch_threads=torch.get_num_threads(), reconstruction_png=str(png),
                   work_dir=str(run_dir))
    if data == 'fashion_mnist':
        summary.update(pretrain_images=args.pretrain_images, ft_epochs=args.ft_epochs,
                       labels_per_class=args.labels_per_class)
    (run_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    print('\n' + '=' * 72)
    if data == 'fashion_mnist':
        print(f'Fashion-MNIST, {10 * args.labels_per_class} labels, test top-1 on 10,000 images '
              f'(the same classifier and schedule, {args.ft_epochs} epochs):')
        print(f'  fine-tuned from the pre-trained encoder : {results["pre-trained"]:6.2f} %')
        print(f'  trained from scratch                    : {results["from scratch"]:6.2f} %')
    else:
        print(f'Digits (fallback): linear probe top-1')
        for k, v in results.items():
            print(f'  {k:<40}: {v:6.2f} %')
    print(f'  reconstruction grid : {png}')
    print(f'  outputs and logs    : {run_dir}   (wall time {summary["wall_time_s"]:.0f} s)')
    print('=' * 72)
    return 0


if __name__ == '__main__':
    sys.exit(main())
