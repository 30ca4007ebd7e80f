"""The GPU acceptance run (``tools/gpu_check.sh``): does every family train here, how fast, in how
much memory.

For each pre-training model of :data:`CHECKS` (built by :func:`~.models.model_specs` from its
config, with the config's optimizer wrapper, AMP when the config asks for it and the device is a
GPU, and the config's per-GPU batch size), :func:`check_model` runs ``warmup`` untimed and
``iters`` timed training steps (``model.train_step`` as mmengine's loop calls it, batches from
:class:`~.models.BatchMaker`) and records the median ms per iteration (CUDA events on a GPU),
images/s and the peak memory (``torch.cuda.max_memory_allocated`` over the timed steps; on CPU the
resident-set growth of one step, :class:`~.memory.CpuMemoryProbe`). Then one training iteration
of the UperNet (ADE20K) and the Mask R-CNN (COCO) configs on synthetic batches in their real
sample structures (Mask R-CNN is skipped, with the reason, when mmcv has no CUDA ops on a GPU),
and, with two or more GPUs, ``tools/dist_train.sh`` with two processes on a small ImageNet-layout
folder of noise images the run writes.

Models run one after the other (not interleaved as in :func:`~.run.run_benchmark`): this run
answers "does it train, and roughly how fast", the ratios to the stock baselines are ratios of
medians of one run. The ViT-L pair gives the ratio the paper's footnote 4 reports (two-shot
650 ms/iter vs MAE 670 ms/iter, ViT-L).

Each pre-training model is then compiled as ``tools/train.py --compile`` compiles it (the
forward, :func:`cmae_mm.engine.compile.compile_model`, the optimizer step eager) and measured again
in the same process, after its eager steps: ``compile_s`` is the first compiled step minus the
compiled median, ``compiled_ms_per_iter`` the compiled median and ``compiled_ratio`` compiled /
eager (the same model, weights and optimizer state, one after the other, not interleaved).
``compile_backend`` chooses torch.compile's backend (``inductor`` by default; ``None`` skips the
compiled step).

``smoke=True`` (``--cpu-smoke``) shrinks every model to a CPU size with the same structure (depth,
shot schedule, heads, necks) and runs 1 warm-up and 2 timed steps at batch 2: the tool proven end
to end on any machine in about a minute.

A failure of one check is recorded (with its error) and the others still run;
:func:`run_acceptance` returns the report, whose ``first_failure`` names the first failed check.
"""
import copy
import gc
import importlib
import json
import statistics
import subprocess
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ...engine.compile import compile_model
from .memory import CpuMemoryProbe
from .models import ROOT, BatchMaker, build_model, build_optimizer, load_config, model_specs
from .report import environment, silence_mmengine_logs
from .timing import timed

#: (benchmark model name, ViT arch) of every pre-training check, in run order.
CHECKS: Tuple[Tuple[str, str], ...] = (
    ('mae', 'b'), ('cmae-1shot', 'b'), ('cmae-2shot', 'b'), ('cmae-3shot', 'b'),
    ('simmim', 'b'), ('cmae-simmim-1shot', 'b'), ('cmae-simmim-2shot', 'b'),
    ('fcmae-1shot', 'b'), ('fcmae-2shot', 'b'),
    ('mae', 'l'), ('cmae-2shot', 'l'),
)

SEG_CONFIG = 'configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
DET_CONFIG = 'configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'
DIST_CONFIG = 'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

#: Footnote 4 of the paper: ViT-L ms per iteration, two-shot vs MAE (their hardware).
PAPER_VIT_L_MS = {'cmae-2shot': 650.0, 'mae': 670.0}

# --cpu-smoke sizes: the structure of each config at a size that steps in well under a second.
SMOKE_BATCH = 2
SMOKE_VIT = dict(img=64, patch=8, dim=32)
SMOKE_SWIN = dict(img=96, window=3, arch=dict(embed_dims=16, depths=[1, 1, 1, 1],
                                              num_heads=[1, 1, 1, 1]))
SMOKE_CONVNEXT = dict(img=96, arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]))
SMOKE_DENSE_SIZE = (128, 128)  # UperNet and Mask R-CNN input (encoder img_size, crop)


def _vit_depth(arch) -> int:
    from mmpretrain.models.backbones import VisionTransformer

    if isinstance(arch, dict):
        return arch['num_layers']
    return VisionTransformer.arch_zoo[arch.lower()]['num_layers']


def _shrink_vit_encoder(backbone, img: int) -> None:
    """A 32-d ViT of the same depth (the shot schedule and ``out_indices`` stay valid)."""
    dim = SMOKE_VIT['dim']
    backbone.arch = dict(embed_dims=dim, num_layers=_vit_depth(backbone.arch), num_heads=2,
                         feedforward_channels=2 * dim)
    backbone.update(img_size=img, patch_size=SMOKE_VIT['patch'])


def shrink_pretrain(cfg) -> None:
    """``--cpu-smoke``: shrink a pre-training config's model in place (same family and schedule).

    Args:
        cfg: A pre-training config of one of the three families (ViT MAE / Conditional MAE,
            SimMIM Swin, FCMAE ConvNeXt V2).

    Raises:
        ValueError: For a model type this run does not know.
    """
    model = cfg.model
    if model.type in ('MAE', 'ConditionalMAE'):
        img, patch, dim = SMOKE_VIT['img'], SMOKE_VIT['patch'], SMOKE_VIT['dim']
        _shrink_vit_encoder(model.backbone, img)
        model.neck.update(num_patches=(img // patch)**2, patch_size=patch, embed_dim=dim,
                          decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
        model.head.patch_size = patch
    elif model.type in ('SimMIM', 'CMAESimMIM'):
        model.backbone.update(arch=SMOKE_SWIN['arch'], img_size=SMOKE_SWIN['img'],
                              stage_cfgs=dict(block_cfgs=dict(window_size=SMOKE_SWIN['window'])))
        model.neck.in_channels = SMOKE_SWIN['arch']['embed_dims'] * 2**3
        for t in cfg.train_dataloader.dataset.pipeline:
            if t['type'] == 'SimMIMMaskGenerator':
                t['input_size'] = SMOKE_SWIN['img']
    elif model.type == 'FCMAE':
        model.backbone.update(arch=SMOKE_CONVNEXT['arch'], img_size=SMOKE_CONVNEXT['img'])
        model.neck.update(in_channels=SMOKE_CONVNEXT['arch']['channels'][-1], embed_dims=16)
    else:
        raise ValueError(f'--cpu-smoke: no small size for model type {model.type!r}')


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _measure(step: Callable[[], Any], device: torch.device, warmup: int,
             iters: int) -> Dict[str, Any]:
    """Warm-up, then ``iters`` timed steps: median ms/iter and peak memory."""
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        times = [timed(step, device) for _ in range(iters)]
        peak = torch.cuda.max_memory_allocated(device)
        memory = dict(peak_memory_bytes=peak, memory_method='torch.cuda.max_memory_allocated')
    else:
        probe = CpuMemoryProbe()
        times = [timed(step, device) for _ in range(iters)]
        # one more step, untimed: returning memory to the OS slows the step after it
        memory = dict(peak_memory_bytes=probe.measure(step), memory_method=probe.method)
    ms = statistics.median(times) * 1e3
    return dict(ms_per_iter=ms, iter_ms=[t * 1e3 for t in times], **memory)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == 'cuda':
        torch.cuda.empty_cache()


def check_model(name: str, arch: str, device: torch.device, iters: int, warmup: int,
                smoke: bool, batch_size: Optional[int] = None,
                compile_backend: Optional[str] = 'inductor') -> Dict[str, Any]:
    """Train one pre-training model for ``warmup`` + ``iters`` steps and measure it.

    Args:
        name: A :data:`~.models.MODEL_NAMES` name.
        arch: ViT arch for the ViT models (``'b'`` or ``'l'``).
        device: Where to train.
        iters: Timed iterations.
        warmup: Untimed iterations first.
        smoke: Shrink the model (:func:`shrink_pretrain`) and use batch 2.
        batch_size: Override of the config's per-GPU batch size.
        compile_backend: torch.compile backend of the compiled step after the eager ones (None:
            no compiled step).

    Returns:
        dict: ``check``, ``group``, ``config``, ``schedule``, ``baseline``, ``batch_size``,
        ``amp``, ``ms_per_iter``, ``images_per_s``, ``peak_memory_bytes``, ``status`` ``ok``,
        and with a compiled step ``compile_backend``, ``compile_s``, ``compiled_ms_per_iter``,
        ``compiled_ratio``.
    """
    (spec, ) = model_specs([name], [arch])
    cfg = load_config(spec.config, spec.overrides, spec.drop)
    if smoke:
        shrink_pretrain(cfg)
    batch = batch_size or (SMOKE_BATCH if smoke else int(cfg.train_dataloader.batch_size))
    amp = device.type == 'cuda' and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper'
    torch.manual_seed(0)
    model = build_model(cfg, device)
    optim_wrapper = build_optimizer(cfg, model, amp)
    batches = BatchMaker(cfg, batch, seed=0)
    step = lambda: model.train_step(batches(), optim_wrapper)  # noqa: E731
    measured = _measure(step, device, warmup, iters)
    if compile_backend is not None:
        compile_model(model, dict(target='forward', backend=compile_backend))
        first = timed(step, device)  # compiles
        compiled = _measure(step, device, max(warmup - 1, 0), iters)
        measured.update(compile_backend=compile_backend,
                        compiled_ms_per_iter=compiled['ms_per_iter'],
                        compiled_iter_ms=compiled['iter_ms'],
                        compile_s=first - compiled['ms_per_iter'] / 1e3,
                        compiled_ratio=compiled['ms_per_iter'] / measured['ms_per_iter'])
        torch._dynamo.reset()
    del model, optim_wrapper, batches
    _free(device)
    return dict(check=f'{name} ({spec.group})', name=name, group=spec.group, config=spec.config,
                schedule=spec.schedule, baseline=spec.baseline, batch_size=batch, amp=amp,
                images_per_s=batch / measured['ms_per_iter'] * 1e3, status='ok', **measured)


def _dense_cfg(config: str, smoke: bool):
    """A dense config without its pre-trained checkpoint, SyncBN off in one process, AMP off on
    CPU; ``smoke`` shrinks the encoder, neck, heads and crop."""
    from mmengine.config import Config

    from ...engine.cpu_compat import disable_amp_on_cpu

    cfg = Config.fromfile(str(ROOT / config))
    cfg.model.backbone.init_cfg = None  # the run measures training, not a checkpoint
    disable_amp_on_cpu(cfg)
    if smoke:
        dim = SMOKE_VIT['dim']
        _shrink_vit_encoder(cfg.model.backbone, SMOKE_DENSE_SIZE[0])
        if cfg.default_scope == 'mmseg':
            cfg.model.neck.embed_dim = dim
            cfg.model.decode_head.update(in_channels=[dim] * 4, channels=dim)
            cfg.model.auxiliary_head.update(in_channels=dim, channels=dim // 2)
            cfg.model.data_preprocessor.size = SMOKE_DENSE_SIZE
        else:
            pyramid, fpn = cfg.model.neck
            pyramid.embed_dim, fpn.in_channels = dim, [dim] * 4
    return cfg


def _dense_input_size(cfg, smoke: bool) -> Tuple[int, int]:
    if smoke:
        return SMOKE_DENSE_SIZE
    if cfg.default_scope == 'mmseg':
        return tuple(cfg.model.data_preprocessor.size)
    return (800, 1216)  # a resized COCO image (scale (1333, 800), keep ratio), padded to 32


def _seg_batch(cfg, size: Tuple[int, int], batch: int, gen: torch.Generator) -> dict:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    classes = int(cfg.model.decode_head.num_classes)
    h, w = size
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, h, w), generator=gen))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen)
              for _ in range(batch)]
    return dict(inputs=inputs, data_samples=samples)


def _det_batch(cfg, size: Tuple[int, int], batch: int, gen: torch.Generator) -> dict:
    from mmdet.testing import demo_mm_inputs

    classes = int(cfg.model.roi_head.bbox_head.num_classes)
    seed = int(torch.randint(0, 2**31 - 1, (1, ), generator=gen))
    import numpy as np
    np.random.seed(seed)
    return demo_mm_inputs(batch_size=batch, image_shapes=[(3, *size)] * batch,
                          num_items=[4] * batch, num_classes=classes, with_mask=True)


def check_dense(config: str, device: torch.device, smoke: bool) -> Dict[str, Any]:
    """One training iteration of a segmentation or detection config on a synthetic batch.

    The batch has the config's per-GPU batch size (2 in both) and the sample structure its
    dataset pipeline produces (``SegDataSample`` with a random ``gt_sem_seg``; mmdet's
    ``demo_mm_inputs`` boxes, labels and masks).

    Returns:
        dict: ``check``, ``config``, ``batch_size``, ``amp``, ``ms_per_iter``,
        ``peak_memory_bytes``, ``status`` (``ok``, or ``skipped`` with ``detail``).
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope

    from ...engine.cpu_compat import MMCVOpsError, check_mmcv_ops
    from ...engine.runner import register_scope

    cfg = _dense_cfg(config, smoke)
    label = 'UperNet ADE20K' if cfg.default_scope == 'mmseg' else 'Mask R-CNN COCO'
    row = dict(check=label, name=label, group='dense', config=config)
    try:
        check_mmcv_ops(cfg)
    except MMCVOpsError as e:
        return dict(row, status='skipped', detail=str(e))
    scope = register_scope(cfg)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    batch = int(cfg.train_dataloader.batch_size)
    amp = device.type == 'cuda' and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper'
    with DefaultScope.overwrite_default_scope(scope):
        torch.manual_seed(0)
        model = registry.build(copy.deepcopy(cfg.model))
        model.init_weights()
        model = revert_sync_batchnorm(model).to(device).train()
        optim_wrapper = build_optimizer(cfg, model, amp)
        gen = torch.Generator().manual_seed(0)
        make = _seg_batch if scope == 'mmseg' else _det_batch
        data = make(cfg, _dense_input_size(cfg, smoke), batch, gen)
        measured = _measure(lambda: model.train_step(copy.copy(data), optim_wrapper), device,
                            warmup=0, iters=1)
    del model, optim_wrapper
    _free(device)
    return dict(row, batch_size=batch, amp=amp, images_per_s=batch / measured['ms_per_iter'] * 1e3,
                status='ok', **measured)


def write_noise_imagenet(root: Path, num_images: int, size: int = 256) -> Path:
    """An ImageNet folder in mmpretrain's ann-file layout with one class of noise JPEGs.

    ``<root>/train/n00000000/img_<k>.JPEG`` and ``<root>/meta/train.txt``.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / 'train' / 'n00000000'
    folder.mkdir(parents=True, exist_ok=True)
    (root / 'meta').mkdir(exist_ok=True)
    lines = []
    for k in range(num_images):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f'img_{k}.JPEG', quality=90)
        lines.append(f'n00000000/img_{k}.JPEG 0')
    (root / 'meta' / 'train.txt').write_text('\n'.join(lines) + '\n')
    return root


def check_dist_train(gpus: int, timeout: float = 300) -> Dict[str, Any]:
    """``tools/dist_train.sh`` of the ViT-B two-shot config with ``gpus`` processes, one epoch of
    4 iterations of 8 images per GPU on a noise-image folder this writes."""
    row = dict(check=f'tools/dist_train.sh {gpus} GPUs', name='dist_train', group='dist',
               config=DIST_CONFIG)
    per_gpu = 8
    with tempfile.TemporaryDirectory(prefix='cmae_gpu_check_') as tmp:
        data = write_noise_imagenet(Path(tmp) / 'imagenet', per_gpu * gpus * 4)
        work_dir = Path(tmp) / 'work'
        cmd = ['bash', str(ROOT / 'tools/dist_train.sh'), str(ROOT / DIST_CONFIG), str(gpus),
               '--work-dir', str(work_dir), '--cfg-options', f'train_dataloader.batch_size={per_gpu}',
               f'train_dataloader.dataset.data_root={data}', 'train_dataloader.num_workers=2',
               'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']
        start = time.perf_counter()
        # no PORT of its own: dist_launch.sh's standalone rendezvous picks a free port
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not (work_dir / 'epoch_1.pth').is_file():
            tail = '\n'.join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise RuntimeError(f'dist_train.sh exited {proc.returncode} without epoch_1.pth:\n{tail}')
    return dict(row, status='ok', wall_s=seconds, detail='1 epoch of 4 iterations, epoch_1.pth written')


def _attempt(rows: List[Dict[str, Any]], check: str, fn: Callable[[], Dict[str, Any]],
             out: Callable[[str], None]) -> None:
    out(f'{check}: running')
    try:
        row = fn()
    except Exception as e:  # noqa: BLE001  (recorded; the run goes on and exits non-zero)
        row = dict(check=check, name=check, status='failed', error=f'{type(e).__name__}: {e}',
                   traceback=traceback.format_exc())
        out(f'{check}: FAILED: {row["error"]}')
    else:
        shown = (f"{row['ms_per_iter']:.1f} ms/iter, {row['images_per_s']:.1f} img/s, peak "
                 f"{row['peak_memory_bytes'] / 2**20:.0f} MiB" if 'ms_per_iter' in row
                 else row.get('detail', ''))
        out(f"{check}: {row['status']} {shown}")
    rows.append(row)
    _free(torch.device('cuda') if torch.cuda.is_available() else torch.device('cpu'))


def _ratios(rows: List[Dict[str, Any]]) -> None:
    by = {(r.get('name'), r.get('group')): r for r in rows if r['status'] == 'ok'}
    for r in rows:
        base = by.get((r.get('baseline'), r.get('group')))
        if r['status'] == 'ok' and base is not None and 'ms_per_iter' in r:
            r['ms_ratio_to_baseline'] = r['ms_per_iter'] / base['ms_per_iter']
            r['memory_ratio_to_baseline'] = (r['peak_memory_bytes'] / base['peak_memory_bytes']
                                             if base['peak_memory_bytes'] else None)


def vit_l_ratio(rows: List[Dict[str, Any]]) -> Optional[Dict[str, float]]:
    """ViT-L two-shot vs MAE ms/iter here, next to the paper's footnote 4 (650 / 670)."""
    by = {r['name']: r for r in rows if r.get('group') == 'ViT-L/16' and r['status'] == 'ok'}
    if 'mae' not in by or 'cmae-2shot' not in by:
        return None
    return dict(ms_cmae_2shot=by['cmae-2shot']['ms_per_iter'], ms_mae=by['mae']['ms_per_iter'],
                ratio=by['cmae-2shot']['ms_per_iter'] / by['mae']['ms_per_iter'],
                paper_ratio=PAPER_VIT_L_MS['cmae-2shot'] / PAPER_VIT_L_MS['mae'])


def markdown(report: Dict[str, Any]) -> str:
    """The report as a markdown table (one row per check) and the ViT-L line."""
    env = report['environment']
    lines = [f"# GPU acceptance run{' (--cpu-smoke)' if report['settings']['smoke'] else ''}",
             '',
             f"{env['device']} ({env['device_name']}), {report['settings']['gpus']} GPU(s), torch "
             f"{env['torch']}; {report['settings']['warmup']} warm-up and "
             f"{report['settings']['iters']} timed iterations per pre-training model (medians); "
             f"{report['wall_s']:.0f} s in all.",
             '',
             '| check | schedule | batch/GPU | AMP | ms/iter | images/s | peak memory (MiB) | '
             'ms ratio to baseline | compiled ms/iter | compiled / eager | compile s | status |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in report['checks']:
        cells = [r['check'], r.get('schedule', ''), str(r.get('batch_size', '')),
                 'yes' if r.get('amp') else 'no']
        if r['status'] == 'ok' and 'ms_per_iter' in r:
            ratio = r.get('ms_ratio_to_baseline')
            cells += [f"{r['ms_per_iter']:.1f}", f"{r['images_per_s']:.1f}",
                      f"{r['peak_memory_bytes'] / 2**20:.0f}",
                      '-' if ratio is None else f'{ratio:.3f}']
            if 'compiled_ms_per_iter' in r:
                cells += [f"{r['compiled_ms_per_iter']:.1f}", f"{r['compiled_ratio']:.3f}",
                          f"{r['compile_s']:.1f}"]
            else:
                cells += ['-', '-', '-']
            cells.append('ok')
        else:
            why = (r.get('error') or r.get('detail') or '').splitlines()
            cells += ['-'] * 7 + [f"{r['status']}: {why[0] if why else ''}".rstrip(': ')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    vl = report.get('vit_l')
    if vl:
        lines += ['', f"ViT-L/16 two-shot vs MAE: {vl['ms_cmae_2shot']:.1f} vs {vl['ms_mae']:.1f} "
                  f"ms/iter, ratio {vl['ratio']:.3f} (paper footnote 4: 650 vs 670 ms/iter, "
                  f"ratio {vl['paper_ratio']:.3f}, on the authors' hardware)."]
    if report['first_failure']:
        lines += ['', f"FAILED: first failing check: {report['first_failure']}"]
    return '\n'.join(lines) + '\n'


def run_acceptance(out_dir: Path, smoke: bool = False, iters: int = 30, warmup: int = 3,
                   checks: Sequence[Tuple[str, str]] = CHECKS, dense: bool = True,
                   dist: bool = True, batch_size: Optional[int] = None,
                   compile_backend: Optional[str] = 'inductor',
                   out: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run every check and write ``gpu_check.json`` and ``gpu_check.md`` to ``out_dir``.

    Args:
        out_dir: Output folder (created).
        smoke: ``--cpu-smoke``: CPU, shrunk models, 1 warm-up and 2 timed iterations, no
            distributed check.
        iters: Timed iterations per pre-training model.
        warmup: Untimed iterations first.
        checks: (model name, ViT arch) pairs.
        dense: Also the UperNet and Mask R-CNN iteration.
        dist: Also ``tools/dist_train.sh`` with 2 processes when there are 2 or more GPUs.
        batch_size: Override of every pre-training config's per-GPU batch.
        compile_backend: torch.compile backend of each pre-training model's compiled step
            (None: eager only).
        out: Progress printer.

    Returns:
        dict: ``environment``, ``settings``, ``checks`` (one row each), ``vit_l``,
        ``first_failure`` (the ``check`` label of the first failed row, or None), ``wall_s``.

    Raises:
        ValueError: Without ``smoke`` on a machine without CUDA.
    """
    if smoke:
        device = torch.device('cpu')
        iters, warmup = 2, 1
    elif torch.cuda.is_available():
        device = torch.device('cuda')
    else:
        raise ValueError('no CUDA device: the acceptance run is for a GPU machine; '
                         'use --cpu-smoke to run it end to end on CPU with tiny models')
    silence_mmengine_logs()
    start = time.perf_counter()
    gpus = torch.cuda.device_count() if device.type == 'cuda' else 0
    rows: List[Dict[str, Any]] = []
    for name, arch in checks:
        (spec, ) = model_specs([name], [arch])
        _attempt(rows, spec.label, lambda: check_model(name, arch, device, iters, warmup, smoke,
                                                       batch_size, compile_backend), out)
    if dense:
        for config in (SEG_CONFIG, DET_CONFIG):
            _attempt(rows, config, lambda: check_dense(config, device, smoke), out)
    if dist and not smoke:
        if gpus >= 2:
            _attempt(rows, 'tools/dist_train.sh 2 GPUs', lambda: check_dist_train(2), out)
        else:
            rows.append(dict(check='tools/dist_train.sh 2 GPUs', name='dist_train',
                             status='skipped', detail=f'{gpus} GPU(s): needs 2'))
            out('tools/dist_train.sh 2 GPUs: skipped (needs 2 GPUs)')
    _ratios(rows)
    failed = [r['check'] for r in rows if r['status'] == 'failed']
    report = dict(environment=environment(device, device.type == 'cuda', ''),
                  settings=dict(smoke=smoke, iters=iters, warmup=warmup, gpus=gpus,
                                batch_size=batch_size, compile_backend=compile_backend),
                  checks=rows, vit_l=vit_l_ratio(rows),
                  first_failure=failed[0] if failed else None,
                  wall_s=time.perf_counter() - start)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'gpu_check.json').write_text(json.dumps(report, indent=2) + '\n')
    (out_dir / 'gpu_check.md').write_text(markdown(report))
    return report
