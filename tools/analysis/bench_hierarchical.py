"""CPU step time of the hierarchical families: stock SimMIM vs CMAESimMIM one-/two-shot (Swin-B,
192 px) and FCMAE ConvNeXt V2-B one- vs two-shot (224 px).

A step is one training forward (``model.loss`` on preprocessed inputs) and its backward, no
optimizer step. The models of a family are built from their pre-training configs (fp32; the
stock SimMIM is the two-shot config with mmpretrain's ``SimMIM`` / ``SimMIMSwinTransformer``
types and no schedule) and timed interleaved (round r times every model once, after --warmup
untimed steps each), on the same batch of random images; the SimMIM models get real
``SimMIMMaskGenerator`` masks (ratio 0.6, 32-px cells). Reports the median over --rounds.

    .venv/bin/python tools/analysis/bench_hierarchical.py --rounds 5 --batch-size 2
"""
import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
SIMMIM_2SHOT = 'configs/selfsup/cmae_simmim_swinb_800e.py'
SIMMIM_1SHOT = 'configs/selfsup/simmim_swinb_800e.py'
FCMAE_2SHOT = 'configs/selfsup/cmae_fcmae_convnextv2b_800e.py'
FCMAE_1SHOT = 'configs/selfsup/fcmae_convnextv2b_800e.py'


def model_cfg(path: str) -> dict:
    return Config.fromfile(str(REPO / path)).model.to_dict()


def stock_simmim_cfg() -> dict:
    cfg = model_cfg(SIMMIM_2SHOT)
    cfg['type'] = 'SimMIM'
    cfg['backbone']['type'] = 'SimMIMSwinTransformer'
    for key in ('mask_layers', 'mask_ratios', 'mask_cell'):
        cfg['backbone'].pop(key, None)
    return cfg


def build(cfg: dict) -> torch.nn.Module:
    from mmpretrain.registry import MODELS

    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def simmim_samples(batch: int, size: int) -> list:
    from mmpretrain.datasets.transforms import SimMIMMaskGenerator
    from mmpretrain.structures import DataSample

    gen = SimMIMMaskGenerator(input_size=size, mask_patch_size=32, model_patch_size=4, mask_ratio=0.6)
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_mask(torch.from_numpy(gen.transform({})['mask']))
        samples.append(sample)
    return samples


def step_fn(model: torch.nn.Module, images: torch.Tensor, samples: list) -> Callable[[], float]:
    def step() -> float:
        start = time.perf_counter()
        loss = model.loss(images, samples)['loss']
        loss.backward()
        elapsed = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        return elapsed
    return step


def measure(steps: Dict[str, Callable[[], float]], rounds: int, warmup: int) -> Dict[str, List[float]]:
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(step())
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--families', nargs='+', default=['simmim', 'fcmae'], choices=['simmim', 'fcmae'])
    args = parser.parse_args(argv)
    import cmae_mm  # noqa: F401  (registers the models)
    from mmengine.logging import MMLogger

    MMLogger.get_current_instance().setLevel('WARNING')  # no per-parameter init report

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    print(f'torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, batch {args.batch_size}, '
          f'median of {args.rounds} interleaved steps (forward+backward, fp32) after {args.warmup} warm-up')
    rows = []
    families = []
    if 'simmim' in args.families:
        one, two = model_cfg(SIMMIM_1SHOT), model_cfg(SIMMIM_2SHOT)
        families.append(('Swin-B 192 px', 192, {
            'SimMIM (stock mmpretrain)': stock_simmim_cfg(),
            'CMAESimMIM one-shot L(0; 0.6)': one,
            'CMAESimMIM two-shot L(0,3; 0.6,0.1)': two}))
    if 'fcmae' in args.families:
        families.append(('ConvNeXt V2-B 224 px', 224, {
            'FCMAE one-shot L(0; 0.6)': model_cfg(FCMAE_1SHOT),
            'FCMAE two-shot L(0,3; 0.6,0.1)': model_cfg(FCMAE_2SHOT)}))
    for family, size, cfgs in families:
        images = torch.randn(args.batch_size, 3, size, size)
        samples = simmim_samples(args.batch_size, size)
        steps = {name: step_fn(build(cfg), images, samples) for name, cfg in cfgs.items()}
        times = measure(steps, args.rounds, args.warmup)
        base = None
        for name, ts in times.items():
            med = statistics.median(ts)
            base = base or med
            rows.append((family, name, med, med / base, min(ts), max(ts)))
        del steps
    print('| encoder | model | median step (s) | vs first | min | max |')
    print('|---|---|---|---|---|---|')
    for family, name, med, ratio, lo, hi in rows:
        print(f'| {family} | {name} | {med:.3f} | {ratio:.3f} | {lo:.3f} | {hi:.3f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
