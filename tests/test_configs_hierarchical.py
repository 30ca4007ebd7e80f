"""The hierarchical configs (SimMIM Swin-B, FCMAE ConvNeXt V2-B) on CPU, shrunk but whole.

* Every pre-training config (one- and two-shot; ImageNet-1K 800e/100e, ImageNet-100 300e) runs one
  iteration through the real mmengine Runner on a tiny dataset in the real on-disk layout
  (mmpretrain's ann-file layout for ``ImageNet``, class folders of the real ImageNet-100 wnids for
  ``ImageNet100``, nested folders of images for the ``_own-images`` configs) with a CPU-sized
  encoder of the same structure and the same shot schedule: Swin with 4 one-block stages at 96 px,
  window 3 (a 3x3 grid of 32-px mask cells, one stage-3 token each: shot 1 masks ceil(9 x 0.6) = 6
  cells, shot 2 keeps int(3 x 0.9) = 2 and masks 1 more), ConvNeXt V2 with widths 8-64 at 96 px
  (the same 3x3 cells). Each one-shot baseline equals its two-shot sibling (both children of one
  recipe base in configs/_base_/recipes/) but for the shot schedule.
* Every fine-tuning config loads the checkpoint of its matching pre-training run strictly
  (``TransferSwin`` / ``TransferConvNeXt``), trains one iteration and evaluates; the keys a Swin
  checkpoint leaves unused are exactly the shots' mask tokens.
* ``tools/dist_train.sh <shrunk two-shot config> 2`` trains with two CPU processes (gloo).
"""
import functools
import gc
import json
import logging
import math
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from PIL import Image

import cmae_mm.components  # noqa: F401
from cmae_mm.datasets import IMAGENET100_CLASSES
from cmae_mm.engine.checkpoint import encoder_state, read_state_dict
from cmae_mm.engine.cpu_compat import disable_amp_on_cpu
from helpers import (CONVNEXT_ARCH, HIER_IMG as IMG, REPO, RESIZED_CROPS, SWIN_ARCH, SWIN_WINDOW,
                     load_runner_checkpoint, photos, run_logs, shrink_hierarchical_model, tool_env,
                     write_imagenet_annfile_layout)

SEL = 'configs/selfsup'
SIMMIM = {  # pre-training config -> number of shots
    f'{SEL}/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py': 2,
    f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py': 2,
    f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb32-amp-coslr-300e_in100-192px.py': 2,
    f'{SEL}/simmim/simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py': 1,
    f'{SEL}/simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py': 1,
    f'{SEL}/simmim/simmim_swin-base-w6_8xb32-amp-coslr-300e_in100-192px.py': 1,
    # a folder of unlabelled images
    f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_own-images-192px.py': 2,
}
FCMAE = {
    f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py': 2,
    f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py': 2,
    f'{SEL}/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py': 1,
    f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_8xb32-amp-coslr-300e_in100.py': 2,
    f'{SEL}/fcmae/fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py': 1,
    f'{SEL}/fcmae/fcmae_convnext-v2-base_8xb32-amp-coslr-300e_in100.py': 1,
    # a folder of unlabelled images
    f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_own-images.py': 2,
}
PRETRAIN = {**SIMMIM, **FCMAE}
CLS = 'configs/classification'
# fine-tuning config -> the pre-training run whose checkpoint its init_cfg names by default
FINETUNE = {
    f'{CLS}/imagenet1k/simmim_swin-base_ft-100e_in1k.py':
        f'{SEL}/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py',
    f'{CLS}/imagenet100/simmim_swin-base_ft-100e_in100.py':
        f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb32-amp-coslr-300e_in100-192px.py',
    f'{CLS}/imagenet1k/fcmae_convnext-v2-base_ft-100e_in1k.py':
        f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py',
    f'{CLS}/imagenet100/fcmae_convnext-v2-base_ft-100e_in100.py':
        f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_8xb32-amp-coslr-300e_in100.py',
}

# IMG (96 px: 3x3 mask cells of 32 px), SWIN_ARCH, SWIN_WINDOW and CONVNEXT_ARCH: tests/helpers.py.
# Fine-tuning keeps the pre-training window: mmpretrain's resize of the relative position bias
# tables for a new window (the real 192 px / w6 -> 224 px / w7) fails with SciPy >= 1.14, see
# test_transfer_swin_resizes_the_bias_tables_for_a_new_window.
FT_SWIN_IMG, FT_SWIN_WINDOW = IMG, SWIN_WINDOW
NUM_CLASSES = 2
LOADED = re.compile(r'(TransferSwin|TransferConvNeXt): loaded (\d+) tensors from (\S+); '
                    r'new by design: (\[.*?\]); unused by design: (\[.*?\])')


def rel(path: str) -> str:
    return path.split('configs/', 1)[1]


def load(path: str) -> Config:
    """``Config.fromfile``, without yapf formatting of ``pretty_text``: the Runner prints, dumps and
    checkpoints the config five times per run, half the time of a tiny run (mmengine 0.10.7's
    ``fromfile`` drops its ``format_python_code`` argument, hence the copy)."""
    cfg = Config.fromfile(str(REPO / path))
    return Config(cfg.to_dict(), cfg_text=cfg.text, filename=cfg.filename, format_python_code=False)


@pytest.fixture(scope='module', autouse=True)
def fast_runner_setup():
    """Test speed only, same results: mmengine re-reads mmpretrain's 85 metafiles for every
    ``mmpretrain::`` base and re-runs ``collect_env`` (subprocesses; only logged) for every Runner
    (both memoised here), and a dataset's ``gc.collect()`` walks the whole pytest heap (frozen)."""
    import mmengine.config.utils as cfg_utils
    import mmengine.runner.runner as runner_module

    gc.collect()
    gc.freeze()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cfg_utils, 'load', functools.lru_cache()(cfg_utils.load))
        mp.setattr(runner_module, 'collect_env', functools.lru_cache()(runner_module.collect_env))
        yield
    gc.unfreeze()


# ---- data in the real layouts ------------------------------------------------------------------
def write_imagenet100_folders(root: Path, splits=('train', 'val'), num_images: int = 2) -> Path:
    """ImageNet-100 as built by tools/dataset_converters/build_imagenet100.py: one folder per
    ImageNet-100 wnid under each split; the photographs go to the first two classes (labels 0 and
    1), the other 98 folders stay empty."""
    imgs = photos(IMG)
    for split in splits:
        for wnid in IMAGENET100_CLASSES:
            (root / split / wnid).mkdir(parents=True, exist_ok=True)
        for i in range(num_images):
            wnid = IMAGENET100_CLASSES[i % NUM_CLASSES]
            Image.fromarray(imgs[i]).save(root / split / wnid / f'{wnid}_{i}.JPEG', quality=95)
    return root


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Dict[str, Path]:
    """Dataset type -> root of a tiny copy in its real layout (2 photographs per split, 2 classes)."""
    tmp = tmp_path_factory.mktemp('hier_data')
    imagenet = write_imagenet_annfile_layout(tmp / 'imagenet', num_images=2)
    return dict(ImageNet=imagenet, ImageNet100=write_imagenet100_folders(tmp / 'imagenet100'),
                UnlabeledImageFolder=imagenet / 'train')  # 2 photographs in nested folders


# ---- shrinking ---------------------------------------------------------------------------------
def shrink_runtime(cfg: Config, work_dir: Path, name: str) -> Config:
    """One epoch, fp32, log and checkpoint every iteration, gloo, a unique experiment name."""
    disable_amp_on_cpu(cfg)
    schedulers = cfg.param_scheduler
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        # an open end is the real run's last epoch
        scheduler.setdefault('end', cfg.train_cfg.max_epochs)
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name  # two Runners of one second would share a logger otherwise
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint.interval = 1  # the configs save every 10 epochs
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    return cfg


def shrink_loader(loader, data: Dict[str, Path], batch_size: int = 2) -> None:
    loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = str(data[loader.dataset.type])


def shrink_pretrain(path: str, data: Dict[str, Path], work_dir: Path) -> Config:
    """A pre-training config at CPU size: same algorithm, shot schedule, pipeline and runtime."""
    cfg = shrink_hierarchical_model(load(path))
    shrink_loader(cfg.train_dataloader, data)
    return shrink_runtime(cfg, work_dir, Path(path).stem)


@pytest.fixture(scope='module')
def pretrain_runs(tmp_path_factory, data):
    """Pre-training config -> (runner, work_dir) of its one-iteration run, run on first use."""
    runs = {}

    def run(path: str):
        if path not in runs:
            work = tmp_path_factory.mktemp(Path(path).stem[:40])
            runner = Runner.from_cfg(shrink_pretrain(path, data, work))
            runner.train()
            runs[path] = (runner, work)
        return runs[path]

    return run


# ---- 1. pre-training ---------------------------------------------------------------------------
@pytest.mark.parametrize('path', list(PRETRAIN), ids=rel)
def test_pretrain_config_runs_one_runner_iteration(path, pretrain_runs):
    runner, work = pretrain_runs(path)
    shots = PRETRAIN[path]
    backbone = runner.model.backbone
    assert len(backbone.schedule.layers) == shots
    assert runner.iter == 1 and (work / 'epoch_1.pth').is_file()
    assert type(runner.optim_wrapper).__name__ == 'OptimWrapper'  # AMP -> fp32 on CPU
    if runner.model.__class__.__name__ == 'CMAESimMIM':
        # shot 1 masks ceil(9 x 0.6) = 6 of the 9 cells, shot 2 one more (int(3 x 0.9) = 2 kept)
        assert backbone.visible_counts == [3, 2][:shots]
        assert backbone.stage_mask_token_names == ['mask_token_stage3'][:shots - 1]
    (scalars, ) = work.glob('*/vis_data/scalars.json')
    step = json.loads(scalars.read_text().splitlines()[0])
    assert math.isfinite(step['loss'])
    for s in range(1, 3):
        assert (f'rec_err_shot{s}' in step) == (s <= shots), step
    assert [step[f'masked_cells_shot{s}'] for s in range(1, shots + 1)] == [6, 1][:shots]


def test_one_shot_configs_differ_from_their_two_shot_twins_in_the_schedule_only():
    for one, two in ((p, p.replace('/simmim_', '/cmae-simmim_').replace('/fcmae_', '/cmae-fcmae_'))
                     for p in PRETRAIN if PRETRAIN[p] == 1):
        a, b = load(one).to_dict(), load(two).to_dict()
        assert (a['model']['backbone'].pop('mask_layers'), b['model']['backbone'].pop('mask_layers')) == (
            [0], [0, 3])
        assert (a['model']['backbone'].pop('mask_ratios'), b['model']['backbone'].pop('mask_ratios')) == (
            [0.6], [0.6, 0.1])
        assert a == b


# ---- 2. fine-tuning ----------------------------------------------------------------------------
def shrink_finetune(path: str, data: Dict[str, Path], work_dir: Path, checkpoint: Path) -> Config:
    cfg = load(path)
    backbone = cfg.model.backbone
    if backbone.type == 'TransferSwin':
        backbone.update(arch=SWIN_ARCH, img_size=FT_SWIN_IMG,
                        stage_cfgs=dict(block_cfgs=dict(window_size=FT_SWIN_WINDOW)))
        cfg.model.head.in_channels = SWIN_ARCH['embed_dims'] * 2**3
        size = FT_SWIN_IMG
    else:
        assert backbone.type == 'TransferConvNeXt'
        backbone.arch = CONVNEXT_ARCH
        cfg.model.head.in_channels = CONVNEXT_ARCH['channels'][-1]
        size = IMG
    backbone.init_cfg.checkpoint = str(checkpoint)
    # 2 classes: the head, and the one-hot labels of mixup / cutmix (data preprocessor)
    cfg.model.head.num_classes = NUM_CLASSES
    cfg.data_preprocessor.num_classes = NUM_CLASSES
    assert [a['type'] for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    cfg.val_evaluator.topk = cfg.test_evaluator.topk = (1, )  # no top-5 of 2 classes
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        shrink_loader(cfg[name], data)
        for t in cfg[name].dataset.pipeline:
            if t['type'] in RESIZED_CROPS:
                t['scale'] = size
            elif t['type'] == 'ResizeEdge':
                t['scale'] = size * 8 // 7
            elif t['type'] == 'CenterCrop':
                t['crop_size'] = size
    return shrink_runtime(cfg, work_dir, Path(path).stem)


def loaded_line(text: str, source: Path):
    """(class, tensors, missing, unused) of the strict loader's log line for ``source``."""
    found = [m for m in LOADED.finditer(text) if m.group(3) == str(source)]
    assert len(found) == 1, text[-3000:]
    cls, count, missing, unused = found[0].group(1, 2, 4, 5)
    return cls, int(count), eval(missing), eval(unused)


@pytest.mark.parametrize('path', list(FINETUNE), ids=rel)
def test_finetune_config_loads_pretrained_trains_and_evaluates(path, data, pretrain_runs, tmp_path):
    pre_runner, pre_work = pretrain_runs(FINETUNE[path])
    ckpt = pre_work / 'epoch_1.pth'
    cfg = shrink_finetune(path, data, tmp_path, ckpt)
    runner = Runner.from_cfg(cfg)
    runner.train()  # one iteration, then the validation of epoch 1
    assert runner.iter == 1
    (scalars, ) = tmp_path.glob('*/vis_data/scalars.json')
    train_step, val = [json.loads(line) for line in scalars.read_text().splitlines()]
    assert math.isfinite(train_step['loss']) and 0 <= val['accuracy/top1'] <= 100
    cls, count, missing, unused = loaded_line(run_logs(tmp_path), ckpt)
    pre_keys = [k for k in read_state_dict(str(ckpt)) if k.startswith('backbone.')]
    if cls == 'TransferSwin':
        assert missing == []
        assert unused == ['mask_token', 'mask_token_stage3']  # the two-shot checkpoints
        assert runner.model.backbone.stages[0].blocks[0].attn.w_msa.window_size == (FT_SWIN_WINDOW, ) * 2
    else:  # FCMAE pre-trains without a final norm: fine-tuning starts a fresh one
        assert missing == ['norm3.bias', 'norm3.weight']
        assert unused == []
    assert count == len(pre_keys) - len(unused)


@pytest.mark.parametrize('path', list(SIMMIM), ids=rel)
def test_transfer_swin_leaves_only_the_mask_tokens_of_each_checkpoint(path, pretrain_runs, tmp_path):
    """Every SimMIM checkpoint, one- or two-shot, loads strictly into the fine-tuning encoder."""
    from mmpretrain.registry import MODELS

    _, work = pretrain_runs(path)
    ckpt = work / 'epoch_1.pth'
    ft = load(f'{CLS}/imagenet1k/simmim_swin-base_ft-100e_in1k.py').model.backbone
    ft.update(arch=SWIN_ARCH, img_size=FT_SWIN_IMG, stage_cfgs=dict(block_cfgs=dict(window_size=FT_SWIN_WINDOW)))
    ft.init_cfg.checkpoint = str(ckpt)
    backbone = MODELS.build(ft)
    logger = MMLogger.get_current_instance()
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        backbone.init_weights()
    finally:
        logger.removeHandler(handler)
    _, count, missing, unused = loaded_line('\n'.join(seen), ckpt)
    expected = ['mask_token', 'mask_token_stage3'] if SIMMIM[path] == 2 else ['mask_token']
    assert (missing, unused) == ([], expected)
    pre = encoder_state(read_state_dict(str(ckpt)))
    own = backbone.state_dict()
    assert count == len(own) == len(pre) - len(expected)
    assert all(torch.equal(own[k], pre[k]) for k in own)


def test_transfer_swin_resizes_the_bias_tables_for_a_new_window(pretrain_runs):
    """The real fine-tuning changes the window (192 px / w6 -> 224 px / w7); here 96 px / w3 ->
    128 px / w4: every relative position bias table is resized from 5x5 to 7x7 offsets (TransferSwin
    does it itself: mmpretrain's resize calls scipy's interp2d, removed in SciPy 1.14), with the
    geometric-progression resize (checked against an independent reference in
    test_cmae_simmim.py)."""
    from mmpretrain.registry import MODELS

    from cmae_mm.models.backbones.transfer_hierarchical import resize_bias_table

    _, work = pretrain_runs(f'{SEL}/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py')
    ft = load(f'{CLS}/imagenet1k/simmim_swin-base_ft-100e_in1k.py').model.backbone
    ft.update(arch=SWIN_ARCH, img_size=128, stage_cfgs=dict(block_cfgs=dict(window_size=4)))
    ft.init_cfg.checkpoint = str(work / 'epoch_1.pth')
    backbone = MODELS.build(ft)
    backbone.init_weights()
    table = backbone.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (7 * 7, 1)
    pre = load_runner_checkpoint(work / 'epoch_1.pth')['state_dict']
    src = pre['backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table']  # (25, 1)
    torch.testing.assert_close(table.detach(), resize_bias_table(src, 49, 'geometric'))
    index = backbone.stages[0].blocks[0].attn.w_msa.relative_position_index
    assert index.shape == (16, 16) and int(index.max()) == 48  # the 4x4 window's own index


# ---- 3. tools/dist_train.sh --------------------------------------------------------------------
DIST = [f'{SEL}/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py',
        f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py']


def start_dist_train(path: str, root: Path) -> subprocess.Popen:
    """``tools/dist_train.sh <shrunk config> 2`` in the background (output in ``root/out.txt``):
    4 photographs in the ann-file layout, 2 per process and batch, 2 epochs of one iteration."""
    data_root = write_imagenet_annfile_layout(root / 'data', splits=('train', ), num_images=4)
    cfg = shrink_pretrain(path, dict(ImageNet=data_root), root / 'work')
    cfg.train_cfg.max_epochs = 2
    # the configs' RNGStateHook gathers every rank's RNG states before rank 0 saves (it once did
    # so inside the rank-0-only save and hung here): it must stay in
    assert 'RNGStateHook' in [h['type'] for h in cfg.custom_hooks]
    cfg.dump(str(root / 'tiny.py'))
    with open(root / 'out.txt', 'w') as out:
        return subprocess.Popen(['bash', str(REPO / 'tools' / 'dist_train.sh'), str(root / 'tiny.py'), '2'],
                                cwd=root, env=tool_env(OMP_NUM_THREADS='1'), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope='module', autouse=True)
def dist_runs(request, tmp_path_factory):
    """The selected dist_train.sh runs, started with the module so that their start-up (three
    interpreters each) overlaps the in-process tests; path -> (process, root)."""
    selected = {item.callspec.params['path'] for item in request.session.items
                if getattr(item, 'originalname', '') == 'test_dist_train_sh_two_cpu_processes'
                and item.module is request.module}
    runs = {p: (start_dist_train(p, root), root)
            for p in DIST if p in selected
            for root in [tmp_path_factory.mktemp('dist')]}
    yield runs
    for proc, _ in runs.values():
        if proc.poll() is None:  # a hung run: end the launcher and its workers (our session)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


@pytest.mark.parametrize('path', DIST, ids=rel)
def test_dist_train_sh_two_cpu_processes(path, dist_runs):
    proc, root = dist_runs[path]
    try:
        returncode = proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        returncode = None
    out = (root / 'out.txt').read_text()
    assert returncode == 0, out[-6000:]
    log = run_logs(root / 'work')
    assert 'GPU number: 2' in log and "'backend': 'gloo'" in log
    assert 'Distributed training: True' in log
    (last, ) = [line for line in log.splitlines() if 'Epoch(train) [2][1/1]' in line]
    assert 'rec_err_shot2' in last and 'loss: nan' not in last
    assert (root / 'work' / 'epoch_2.pth').is_file()
    ckpt = load_runner_checkpoint(root / 'work' / 'epoch_2.pth')
    assert len(ckpt['rng_state']) == 2  # both ranks' RNG states, for an exact --resume
