"""Tokens, FLOPs and CPU time per pre-training step: MAE vs Conditional MAE schedules.

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode on the real forward (and
forward+backward) of the model built from a pre-training config, with the schedule overridden:
nothing is estimated analytically. Example (ViT-B/16, 224x224, one image):

    .venv/bin/python tools/analysis/benchmark_pretrain.py configs/selfsup/cmae_vitb_300e.py \
        --schedules "0:0.75" "0,10:0.75,0.1" "0,10,11:0.75,0.1,0.1"
"""
import argparse
import sys
import time
from itertools import groupby
from pathlib import Path
from typing import List, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]


def parse_schedule(text: str) -> Tuple[List[int], List[float]]:
    """'0,10:0.75,0.1' -> ([0, 10], [0.75, 0.1])."""
    try:
        layers, ratios = text.split(':')
        return [int(x) for x in layers.split(',')], [float(x) for x in ratios.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'schedule {text!r}: write it as LAYERS:RATIOS, e.g. 0,10:0.75,0.1')


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a pre-training config (its model is used)')
    parser.add_argument('--schedules', nargs='+', type=parse_schedule,
                        default=[parse_schedule('0:0.75'), parse_schedule('0,10:0.75,0.1')])
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3, help='timed steps per schedule')
    args = parser.parse_args()

    import cmae_mm  # noqa: F401
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(args.config)
    size = cfg.model.backbone.get('img_size', 224)
    images = torch.randn(args.batch_size, 3, size, size)
    print(f'{Path(args.config).name}: batch {args.batch_size} x 3 x {size} x {size}, '
          f'{torch.get_num_threads()} CPU threads')
    header = (f"{'schedule':<28}{'tokens per block':<40}{'enc fwd GFLOPs':>15}"
              f"{'fwd+bwd GFLOPs':>16}{'CPU s/step':>12}")
    print(header)
    print('-' * len(header))
    for layers, ratios in args.schedules:
        cfg.model.backbone.update(mask_layers=layers, mask_ratios=ratios)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        schedule = model.backbone.schedule
        tokens = schedule.tokens_per_layer(model.backbone.num_patches)
        runs = [f'{n}x{sum(1 for _ in g)}' for n, g in groupby(tokens)]
        with torch.no_grad():
            enc = count_flops(lambda: model.backbone(images))
        step = count_flops(lambda: model.loss(images, [])['loss'].backward())
        start = time.perf_counter()
        for _ in range(args.repeat):
            model.zero_grad()
            model.loss(images, [])['loss'].backward()
        seconds = (time.perf_counter() - start) / args.repeat
        print(f"{str(schedule):<28}{' '.join(runs):<40}{enc / 1e9:>15.2f}{step / 1e9:>16.2f}"
              f'{seconds:>12.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
