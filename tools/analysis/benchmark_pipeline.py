"""Images/s of a data pipeline on one CPU thread: stock vs LoadRandomResizedCrop.

``--pipeline pretrain`` (default): the MAE pre-training pipeline, below. ``--pipeline finetune``:
the ViT fine-tuning pipeline, stock = mmpretrain's ``mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py``
``train_pipeline`` (LoadImageFromFile -> RandomResizedCrop(224, pillow, bicubic) -> RandomFlip ->
RandAugment -> RandomErasing -> PackInputs), fast = the suite's
``configs/_base_/classification/mae_finetune_100e.py`` (LoadRandomResizedCrop in place of the
first two steps), both read from the config files.

Stock (mmpretrain's MAE pipeline, as in configs/_base_/datasets/imagenet_bs512_mae.py)::

    LoadImageFromFile -> RandomResizedCrop(224, (0.2, 1.0), bicubic, pillow)
        -> RandomFlip -> PackInputs

Fast (cmae_mm.datasets.transforms.LoadRandomResizedCrop)::

    LoadRandomResizedCrop(224, (0.2, 1.0), bicubic) -> RandomFlip -> PackInputs

Both are built from config dicts with ``mmengine.dataset.Compose`` and run in this process on the
same files, one thread (torch and OpenCV), interleaved: every round runs both pipelines (in
alternating order) over the same ``--images`` files with the same numpy seed, so they sample the
same crop boxes. Reported: images/s per pipeline, median over rounds, and the ratio.

Without ``--files`` the images are ImageNet-sized JPEGs (500x375, 500x333, 375x500) re-encoded at
qualities 75-95 from crops of scikit-learn's sample photographs (china.jpg, flower.jpg), written
to a temporary directory. Examples::

    .venv/bin/python tools/analysis/benchmark_pipeline.py
    .venv/bin/python tools/analysis/benchmark_pipeline.py --files data/imagenet/train/n01440764 \\
        --json work_dirs/pipeline_speed.json
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence


CROP = dict(scale=224, crop_ratio_range=(0.2, 1.0), interpolation='bicubic', backend='pillow')
PIPELINES = {
    'stock': [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', **CROP),
              dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')],
    'fast': [dict(type='LoadRandomResizedCrop', **CROP),
             dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')],
}
FINETUNE_CONFIGS = {
    'stock': 'mmpretrain:mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    'fast': 'configs/_base_/classification/mae_finetune_100e.py',
}


def finetune_pipelines() -> Dict[str, List[dict]]:
    """The stock and fast fine-tuning ``train_pipeline`` of :data:`FINETUNE_CONFIGS`
    (``mmpretrain:`` names a config shipped with the installed mmpretrain)."""
    import mmpretrain
    from mmengine.config import Config

    roots = {'mmpretrain': Path(mmpretrain.__file__).parent / '.mim' / 'configs',
             '': Path(__file__).resolve().parents[2]}
    out = {}
    for name, config in FINETUNE_CONFIGS.items():
        package, _, rel = config.rpartition(':')
        path = str(roots[package] / rel)
        out[name] = [dict(t) for t in Config.fromfile(path).train_dataloader.dataset.pipeline]
    return out


# (width, height) of the generated files: ImageNet's most common sizes.
SIZES = ((500, 375), (500, 333), (500, 375), (375, 500))
QUALITIES = (75, 85, 90, 95)
IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def make_files(out_dir: Path, num_files: int) -> List[Path]:
    """Write ``num_files`` ImageNet-sized JPEGs cut from scikit-learn's sample photographs.

    File ``k`` takes photo ``k % 2``, a window of that file's aspect ratio covering 100%, 85% or
    70% of the largest such window at one of several positions, resized (bicubic) to
    ``SIZES[k % 4]`` and saved at quality ``QUALITIES[(k // 2) % 4]``.

    Args:
        out_dir: Directory to write to (must exist).
        num_files: Number of files.

    Returns:
        The paths written.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(a) for a in load_sample_images().images]
    paths = []
    for k in range(num_files):
        photo = photos[k % len(photos)]
        out_w, out_h = SIZES[k % len(SIZES)]
        frac = (1.0, 0.85, 0.7)[(k // 2) % 3]
        pw, ph = photo.size
        win_w = min(pw, ph * out_w / out_h) * frac
        win_h = win_w * out_h / out_w
        fx, fy = ((k // 6) % 3) / 2, ((k // 18) % 3) / 2
        left, top = (pw - win_w) * fx, (ph - win_h) * fy
        img = photo.resize((out_w, out_h), Image.Resampling.BICUBIC,
                           box=(left, top, left + win_w, top + win_h))
        path = out_dir / f'img{k:03d}_{out_w}x{out_h}_q{QUALITIES[(k // 2) % 4]}.JPEG'
        img.save(path, quality=QUALITIES[(k // 2) % 4])
        paths.append(path)
    return paths


def find_files(root: Path, limit: int) -> List[Path]:
    """Images under ``root`` (recursive, sorted), at most ``limit`` of them (0: all)."""
    files = sorted(p for p in root.rglob('*') if p.suffix.lower() in IMG_SUFFIXES and p.is_file())
    if not files:
        raise SystemExit(f'no images ({"/".join(IMG_SUFFIXES)}) under {root}')
    return files[:limit] if limit else files


def build(cfg: Sequence[dict]) -> Callable[[dict], dict]:
    """A ``Compose`` of the transforms, built through mmpretrain's ``TRANSFORMS``."""
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS

    return Compose([TRANSFORMS.build(dict(t)) for t in cfg])


def time_pass(pipeline: Callable[[dict], dict], files: Sequence[Path], seed: int) -> float:
    """Seconds to run ``pipeline`` once over ``files`` after seeding numpy with ``seed``."""
    import numpy as np

    np.random.seed(seed)
    start = time.perf_counter()
    for path in files:
        pipeline(dict(img_path=str(path)))
    return time.perf_counter() - start


def draft_share(pipeline, files: Sequence[Path], seed: int) -> float:
    """Fraction of ``files`` whose crop the fast pipeline decoded DCT-scaled (an untimed pass)."""
    load = pipeline.transforms[0]
    factors = []
    original = load.draft_factor
    load.draft_factor = lambda w, h: factors.append(original(w, h)) or factors[-1]
    try:
        time_pass(pipeline, files, seed)
    finally:
        del load.draft_factor
    return sum(f > 1 for f in factors) / len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--files', type=Path, help='use the images under this directory '
                        '(recursive) instead of generated ones')
    parser.add_argument('--num-files', type=int, default=None,
                        help='generated files (default 16), or the first N of --files '
                        '(default all)')
    parser.add_argument('--images', type=int, default=256,
                        help='images per pipeline per round (cycling through the files)')
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--pipeline', choices=('pretrain', 'finetune'), default='pretrain',
                        help='the MAE pre-training pipeline (default) or the ViT fine-tuning one')
    parser.add_argument('--json', type=Path, help='also write the numbers to this JSON file')
    args = parser.parse_args()
    if args.rounds < 1 or args.images < 1:
        parser.error('--rounds and --images must be >= 1')

    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    import cmae_mm.components  # noqa: F401  (registers LoadRandomResizedCrop)

    with tempfile.TemporaryDirectory(prefix='pipeline_bench_') as tmp:
        if args.files is not None:
            files = find_files(args.files, args.num_files or 0)
            source = str(args.files)
        else:
            files = make_files(Path(tmp), 16 if args.num_files is None else args.num_files)
            source = 'generated from sklearn sample images (china.jpg, flower.jpg)'
        if not files:
            parser.error('--num-files must be >= 1')
        work = [files[i % len(files)] for i in range(args.images)]
        configs = PIPELINES if args.pipeline == 'pretrain' else finetune_pipelines()
        pipelines = {name: build(cfg) for name, cfg in configs.items()}
        for pipeline in pipelines.values():  # warm-up: imports, caches, page cache
            time_pass(pipeline, files, args.seed)
        rates: Dict[str, List[float]] = {name: [] for name in pipelines}
        for r in range(args.rounds):
            order = list(pipelines) if r % 2 == 0 else list(pipelines)[::-1]
            for name in order:
                rates[name].append(len(work) / time_pass(pipelines[name], work, args.seed + r))
        share = draft_share(pipelines['fast'], work, args.seed)

    median = {name: statistics.median(v) for name, v in rates.items()}
    ratio = median['fast'] / median['stock']
    print(f'{len(files)} files ({source}); {len(work)} images per pipeline per round, '
          f'{args.rounds} rounds, 1 thread (torch {torch.get_num_threads()}, '
          f'cv2 {cv2.getNumThreads()})')
    print(f'pipeline: {args.pipeline}')
    for name, cfg in configs.items():
        print(f"  {name:<6}: {' -> '.join(t['type'] for t in cfg)}")
    print(f"{'pipeline':<10}{'images/s (median)':>19}{'min':>9}{'max':>9}")
    for name, values in rates.items():
        print(f'{name:<10}{median[name]:>19.1f}{min(values):>9.1f}{max(values):>9.1f}')
    print(f'speed-up fast/stock: {ratio:.2f}x; DCT-scaled (draft) decoding used for '
          f'{100 * share:.0f}% of the crops')
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(
            files=len(files), source=source, images_per_round=len(work), rounds=args.rounds,
            seed=args.seed, pipeline=args.pipeline, pipelines=configs,
            images_per_s={name: dict(median=median[name], rounds=v) for name, v in rates.items()},
            speedup=ratio, draft_share=share), indent=2))
        print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
