"""``tools/train.py --keep-batch``: the recipe's total batch on fewer processes by accumulation.

* Equivalence: the tiny Conditional MAE trained 3 optimizer steps with 1 process x batch 2 x
  accumulation 4 ends with the weights of 1 process x batch 8 (the recipe), through the real
  Runner, with an iteration-based warm-up, an epoch-converted warm-up and a cosine schedule.
  Without the suite's scheduler hook (mmengine's accumulation alone) the weights differ.
* The same with 2 gloo processes x batch 2 x accumulation 2 through ``tools/dist_train.sh``.
* Refusal: a per-GPU batch x process count that does not divide the total stops
  ``tools/train.py`` with one line naming the three numbers, before anything is written.
* Arithmetic: world sizes 1, 2 and 8 from each launcher's environment; ``--auto-scale-lr`` with
  the effective batch; the configs it refuses or adapts.
"""
import collections
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import cmae_mm.components  # noqa: F401  (registers the models and hooks)
from cmae_mm.engine.checkpoint import read_state_dict
from cmae_mm.engine.cpu_compat import LauncherEnvError
from cmae_mm.engine.entrypoints import apply_train_args
from cmae_mm.engine.errors import ConfigError
from cmae_mm.engine.hooks import OptimStepParamSchedulerHook
from cmae_mm.engine.keep_batch import (apply_auto_scale_lr, apply_keep_batch,
                                       keep_batch_accumulation, world_size_from_env)
from cmae_mm.masking import random_keep
from cmae_mm.models.backbones import cmae_vit
from helpers import LAUNCHER_ENV, REPO, output_of, run_tool, shrink_pretrain_cfg, tool_env

# total batch 4096 = 8 GPUs x 512
CONFIG = 'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
MICRO, ACCUMULATION = 2, 4  # the 8 images of shared_imagenet_folder = one optimizer step
EPOCHS = 3


class PerSampleMasks:
    """:func:`cmae_mm.masking.random_keep` drawing each sample's noise from its own generator.

    The encoder draws one ``torch.rand(B, L)`` per shot from the global RNG, so a batch of 8 and
    four batches of 2 consume the stream in different orders (shot 2's draw of micro-batch 1
    comes before shot 1's of micro-batch 2) and would mask the same image differently. Here row
    ``r`` of the run's draws at ``L`` visible tokens (``L`` identifies the shot: 64 tokens at
    shot 1, 16 at shot 2) runs the real ``random_keep`` for one sample under a generator seeded
    with ``(L, r)``, forked from the global one (which is left as it was). The data order is the
    same in both runs (checked by :class:`RecordInputs`), so row ``r`` is the same image in both,
    and every image gets the same masks of both shots however the batch is split.
    """

    def __init__(self) -> None:
        self.rows = collections.Counter()
        self.keeps = []  # (L, row, kept positions) of every draw

    def __call__(self, batch_size: int, num_visible: int, ratio: float, device: torch.device,
                 len_keep=None):
        keeps, removes = [], []
        for _ in range(batch_size):
            row = self.rows[num_visible]
            self.rows[num_visible] += 1
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(100_000 * num_visible + row)
                keep, remove = random_keep(1, num_visible, ratio, device, len_keep)
            keeps.append(keep)
            removes.append(remove)
            self.keeps.append((num_visible, row, keep.tolist()))
        return torch.cat(keeps), torch.cat(removes)


class RecordInputs(Hook):
    """Records the initial weights and every training image (path and a checksum of the augmented
    pixels), in order."""

    def __init__(self) -> None:
        self.seen = []
        self.initial = {}

    def before_train(self, runner) -> None:
        self.initial = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        for img, sample in zip(data_batch['inputs'], data_batch['data_samples']):
            self.seen.append((Path(sample.img_path).name, int(img.long().sum()), tuple(img.shape)))


def tiny_cfg(data_root: Path, work_dir: Path, batch_size: int) -> Config:
    """The shrunk ViT-B recipe (32-d tokens, 12 blocks, L(0,10; 0.75,0.1)) for EPOCHS epochs of 8
    images (mmpretrain's CustomDataset: its ImageNet class wants 1000 class folders), with an
    iteration-based warm-up (2 optimizer steps in the recipe), an epoch-converted warm-up
    (epochs 0-2) and a cosine (epochs 2-EPOCHS), and a total batch of 8."""
    cfg = shrink_pretrain_cfg(Config.fromfile(str(REPO / CONFIG)), data_root, work_dir,
                              batch_size=batch_size)
    dataset = cfg.train_dataloader.dataset  # the recipe's pipeline on 8 images of 2 folders
    cfg.train_dataloader.dataset = dict(type='CustomDataset', data_root=str(data_root),
                                        data_prefix='train', pipeline=dataset.pipeline)
    cfg.train_cfg.max_epochs = EPOCHS
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.25, by_epoch=False, begin=0, end=2),
        dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
             convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=2, eta_min=1e-4, by_epoch=True, begin=2, end=EPOCHS,
             convert_to_iter_based=True),
    ]
    cfg.auto_scale_lr = dict(base_batch_size=MICRO * ACCUMULATION)
    cfg.default_hooks.checkpoint = None
    return cfg


def train(cfg: Config, monkeypatch) -> SimpleNamespace:
    """Train ``cfg`` with per-sample masks; the weights, the lr and what was seen."""
    masks, inputs = PerSampleMasks(), RecordInputs()
    with monkeypatch.context() as patch:
        patch.setattr(cmae_vit, 'random_keep', masks)
        runner = Runner.from_cfg(cfg)
        runner.register_hook(inputs)
        runner.train()
    state = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
    lrs = [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups]
    return SimpleNamespace(state=state, initial=inputs.initial, lrs=lrs, masks=masks.keeps,
                           seen=inputs.seen, iters=runner.iter,
                           log=next(Path(cfg.work_dir).glob('*/*.log')).read_text())


def split_key_biases(state: dict) -> dict:
    """The float tensors of ``state``, each attention's ``qkv.bias`` split into its q, k, v parts.

    The key bias gets no gradient: adding ``b_k`` to every key adds ``q . b_k`` to all logits of
    a query, which the softmax cancels. In floats its gradient is rounding noise, which AdamW's
    ``m / (sqrt(v) + eps)`` turns into steps of up to the lr, different in any two summation
    orders; those parameters are compared separately.
    """
    out = {}
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        if key.endswith('qkv.bias'):
            c = value.shape[0] // 3
            out.update({f'{key}[q]': value[:c], f'{key}[k]': value[c:2 * c],
                        f'{key}[v]': value[2 * c:]})
        else:
            out[key] = value
    return out


def max_difference(a: dict, b: dict, keys: bool = False) -> float:
    """Max |a - b| over the weights (``keys=False``) or over the key biases only (``keys=True``)."""
    a, b = split_key_biases(a), split_key_biases(b)
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item()
               for k in a if k.endswith('[k]') == keys)


def test_accumulation_gives_the_weights_of_the_total_batch(tmp_path, shared_imagenet_folder,
                                                           monkeypatch):
    """1 process x batch 2 x accumulation 4 == 1 process x batch 8, 3 optimizer steps.

    Equal in both runs: the model's initial weights (same seed), the images and their
    augmentation, in the same order (the sampler's permutation depends on the seed and epoch,
    not the batch size; the pipeline's draws come in sample order from the same seeded RNG:
    checked), and each image's masks of both shots (:class:`PerSampleMasks`: checked). The loss
    is a mean over samples with the same number of removed patches each, so the mean of four
    micro-batch losses / 4 (mmengine's accumulation) has the gradient of the batch-8 loss; only the
    summation order differs (float rounding). The schedules must count optimizer steps for the
    lrs to match: without OptimStepParamSchedulerHook the same run ends elsewhere.
    """
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    reference = train(tiny_cfg(shared_imagenet_folder, tmp_path / 'recipe', MICRO * ACCUMULATION),
                      monkeypatch)

    cfg = tiny_cfg(shared_imagenet_folder, tmp_path / 'keep', MICRO)
    effective = apply_keep_batch(cfg, CONFIG, 'none')
    assert effective == dict(per_gpu=MICRO, processes=1, accumulation=ACCUMULATION,
                             total=MICRO * ACCUMULATION)
    kept = train(cfg, monkeypatch)

    # mmengine's accumulation alone: the same run with its ParamSchedulerHook
    plain_cfg = tiny_cfg(shared_imagenet_folder, tmp_path / 'plain', MICRO)
    plain_cfg.optim_wrapper.accumulative_counts = ACCUMULATION
    plain = train(plain_cfg, monkeypatch)

    assert (reference.iters, kept.iters) == (EPOCHS, EPOCHS * ACCUMULATION)
    assert kept.seen == reference.seen
    assert set(collections.Counter(name for name, _, _ in kept.seen).values()) == {EPOCHS}
    # every (shot, sample) has the same mask; only the order of the draws differs (shot 2 of
    # micro-batch 1 is drawn before shot 1 of micro-batch 2)
    assert sorted(kept.masks) == sorted(reference.masks)
    assert len(kept.masks) == 2 * MICRO * ACCUMULATION * EPOCHS
    assert 'effective batch: 2 per GPU x 1 processes x 4 accumulation = 8' in kept.log

    diff = max_difference(kept.state, reference.state)
    key_diff = max_difference(kept.state, reference.state, keys=True)
    assert max_difference(kept.initial, reference.initial) == 0
    moved = max_difference(reference.state, reference.initial)
    plain_diff = max_difference(plain.state, reference.state)
    report = (f'max |w_keep - w_recipe| = {diff:.3g} (key biases, gradient 0 up to rounding: '
              f'{key_diff:.3g}); mmengine alone: {plain_diff:.3g}; training moved weights by up '
              f'to {moved:.3g} in {EPOCHS} optimizer steps')
    print(report)
    assert diff < 1e-6, report
    assert key_diff < 1e-4, report
    assert kept.lrs == pytest.approx(reference.lrs, rel=1e-6)
    assert plain_diff > 1000 * diff, report  # the schedule handling is what makes them equal



# ---- 2 processes x accumulation 2 == 1 process x batch 8 (gloo DDP on CPU) ----------------------
CONTENT_MASKS = '''"""Test only (tests/test_keep_batch.py): masks seeded with each image's pixels."""
import hashlib

import torch

from cmae_mm.masking import random_keep
from cmae_mm.models.backbones import cmae_vit

_forward = cmae_vit.CMAEViT.forward
_keys = []


def forward(self, x, mask=True):
    _keys[:] = [int(hashlib.sha1(img.detach().numpy().tobytes()).hexdigest()[:12], 16) for img in x]
    return _forward(self, x, mask)


def per_image(batch_size, num_visible, ratio, device, len_keep=None):
    keeps, removes = [], []
    for key in _keys[:batch_size]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((key + 7919 * num_visible) % 2**62)
            keep, remove = random_keep(1, num_visible, ratio, device, len_keep)
        keeps.append(keep)
        removes.append(remove)
    return torch.cat(keeps), torch.cat(removes)


cmae_vit.CMAEViT.forward = forward
cmae_vit.random_keep = per_image
'''


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')
def test_two_processes_with_accumulation_equal_one_process(tmp_path, shared_imagenet_folder):
    """``tools/dist_train.sh CFG 2 --keep-batch`` (2 x batch 2 x accumulation 2) and
    ``tools/train.py`` with batch 8: the same weights after 2 optimizer steps.

    The ranks see other samples (the sampler deals the shuffled order out in turn) and are seeded
    differently (diff_rank_seed), so the global RNG cannot give an image the same crop and masks
    in both runs: the pipeline is deterministic (resize) and each image's masks come from a
    generator seeded with its pixels (CONTENT_MASKS, imported by the configs). DDP averages the
    two ranks' accumulated gradients, each the mean of 2 micro-batch means: the batch-8 mean.
    """
    (tmp_path / 'content_masks.py').write_text(CONTENT_MASKS)
    configs = {}
    for name, batch in (('recipe', 8), ('keep', 2)):
        cfg = tiny_cfg(shared_imagenet_folder, tmp_path / name, batch)
        cfg.train_cfg.max_epochs = 2
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.25, by_epoch=False, begin=0,
                                    end=2),
                               dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
                                    end=2, convert_to_iter_based=True)]
        cfg.train_dataloader.dataset.pipeline = [dict(type='LoadImageFromFile'),
                                                 dict(type='Resize', scale=(64, 64)),
                                                 dict(type='PackInputs')]
        cfg.custom_imports = dict(imports=['cmae_mm.components', 'content_masks'], allow_failed_imports=False)
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
        configs[name] = tmp_path / f'{name}.py'
        cfg.dump(str(configs[name]))
    env = tool_env(OMP_NUM_THREADS='1', PYTHONPATH=str(tmp_path))
    dist = run_tool(['tools/dist_train.sh', configs['keep'], '2', '--keep-batch'], cwd=tmp_path,
                    env=env, timeout=240)
    assert dist.returncode == 0, output_of(dist)[-4000:]
    single = run_tool(['tools/train.py', configs['recipe']], cwd=tmp_path, env=env, timeout=240)
    assert single.returncode == 0, output_of(single)[-4000:]
    log = next((tmp_path / 'keep').glob('*/*.log')).read_text()
    assert 'effective batch: 2 per GPU x 2 processes x 2 accumulation = 8' in log
    assert 'Epoch(train) [2][2/2]' in log
    for epoch in (1, 2):  # after each optimizer step
        kept = read_state_dict(str(tmp_path / 'keep' / f'epoch_{epoch}.pth'))
        recipe = read_state_dict(str(tmp_path / 'recipe' / f'epoch_{epoch}.pth'))
        diff, key_diff = max_difference(kept, recipe), max_difference(kept, recipe, keys=True)
        report = f'step {epoch}: max |w_2x2x2 - w_1x8| = {diff:.3g} (key biases {key_diff:.3g})'
        print(report)
        assert diff < 1e-6 and key_diff < 1e-4, report
    moved = max_difference(recipe, read_state_dict(str(tmp_path / 'recipe' / 'epoch_1.pth')))
    assert moved > 1e-4, f'the second step moved the weights by only {moved:.3g}'


# ---- refusal, as a user runs it ---------------------------------------------------------------
def test_non_dividing_process_count_is_refused_in_one_line(tmp_path):
    """4096 = 8 x 512 cannot be kept on 3 processes of 512: exit 1, one line with the numbers,
    the work dir untouched."""
    work = tmp_path / 'work'
    work.mkdir()
    earlier = {'epoch_1.pth': b'an earlier run', 'last_checkpoint': b'work/epoch_1.pth',
               '20250101_000000/20250101_000000.log': b'earlier log\n'}
    for name, data in earlier.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    # what torchrun sets for 3 processes (the check runs before the process group would start)
    env = tool_env(WORLD_SIZE='3', RANK='0', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                   MASTER_PORT='29999')
    result = run_tool(['tools/train.py', REPO / CONFIG, '--keep-batch', '--launcher', 'pytorch',
                       '--work-dir', work], cwd=tmp_path, env=env, timeout=120)
    errors = [line for line in result.stderr.splitlines() if 'error' in line.lower()]
    assert result.returncode == 1, output_of(result)[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert errors == [result.stderr.strip().splitlines()[-1]], result.stderr[-3000:]
    assert errors[0] == (
        "tools/train.py: error: --keep-batch: the recipe's total batch 4096 is not a multiple of "
        '512 per GPU x 3 processes = 1536; use a process count and train_dataloader.batch_size '
        'whose product divides 4096')
    found = {str(p.relative_to(work)): p.read_bytes() for p in work.rglob('*') if p.is_file()}
    assert found == earlier


# ---- arithmetic -------------------------------------------------------------------------------
@pytest.mark.parametrize('launcher, variable, processes, accumulation', [
    ('none', None, 1, 8),
    ('pytorch', 'WORLD_SIZE', 1, 8), ('pytorch', 'WORLD_SIZE', 2, 4), ('pytorch', 'WORLD_SIZE', 8, 1),
    ('slurm', 'SLURM_NTASKS', 1, 8), ('slurm', 'SLURM_NTASKS', 2, 4), ('slurm', 'SLURM_NTASKS', 8, 1),
])
def test_accumulation_for_world_sizes(launcher, variable, processes, accumulation, monkeypatch):
    """ViT-B recipe: 4096 = 512 per GPU x P processes x A; P from the launcher's variable."""
    for name in LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)
    if variable is not None:
        monkeypatch.setenv(variable, str(processes))
    assert world_size_from_env(launcher) == processes
    cfg = Config.fromfile(str(REPO / CONFIG))
    lr = cfg.optim_wrapper.optimizer.lr
    effective = apply_keep_batch(cfg, CONFIG, launcher)
    expected = dict(per_gpu=512, processes=processes, accumulation=accumulation, total=4096)
    assert effective == expected == cfg.effective_batch
    assert cfg.optim_wrapper.accumulative_counts == accumulation
    assert cfg.default_hooks.param_scheduler == dict(type='OptimStepParamSchedulerHook',
                                                     effective_batch=expected)
    assert 'effective_batch = dict(' in cfg.pretty_text  # recorded in the dumped config
    apply_auto_scale_lr(cfg, launcher)  # --auto-scale-lr: the effective batch is the recipe's
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.auto_scale_lr.enable is (accumulation == 1)  # mmengine's ratio (1) without accumulation


@pytest.mark.parametrize('total, per_gpu, processes, message', [
    (4096, 512, 3, 'total batch 4096 is not a multiple of 512 per GPU x 3 processes = 1536'),
    (4096, 512, 16, '512 per GPU x 16 processes = 8192 exceeds the recipe\'s total batch 4096'),
    (16, 2, 0, 'positive integer process count, got 0'),
])
def test_bad_combinations_are_refused(total, per_gpu, processes, message):
    with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
        keep_batch_accumulation(total, per_gpu, processes)


def test_auto_scale_lr_counts_the_accumulation(monkeypatch):
    """A config's own accumulation (no --keep-batch): lr x b x P x A / base, not mmengine's b x P."""
    monkeypatch.setenv('WORLD_SIZE', '2')
    cfg = Config.fromfile(str(REPO / CONFIG))
    lr = cfg.optim_wrapper.optimizer.lr
    cfg.optim_wrapper.accumulative_counts = 2
    apply_auto_scale_lr(cfg, 'pytorch')  # 512 x 2 x 2 = 2048 of 4096
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr / 2)
    assert cfg.auto_scale_lr.enable is False  # applied; mmengine's ratio would be 1024 / 4096

    # a config that enables auto_scale_lr itself gets the same rule from tools/train.py
    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.auto_scale_lr.enable = True
    apply_train_args(cfg, Namespace(config=CONFIG, amp=False, resume=None, no_validate=False,
                                    keep_batch=True, auto_scale_lr=False, launcher='pytorch'))
    assert cfg.optim_wrapper.accumulative_counts == 4 and cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.auto_scale_lr.enable is False  # mmengine's ratio would be 1024 / 4096 here


def test_configs_it_cannot_keep(monkeypatch):
    """No stated total (the single-process Fashion-MNIST config), an iteration-based loop (mmseg),
    a launcher variable missing: one line each. An mmdet config (500-iteration warm-up) and an
    EMA config are kept."""
    for name in LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)
    fmnist = 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py'
    with pytest.raises(ConfigError, match='cmae_vit-tiny-p4_fashion-mnist.py does not state'):
        apply_keep_batch(Config.fromfile(str(REPO / fmnist)), fmnist, 'none')
    seg = 'configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
    cfg = Config.fromfile(str(REPO / seg))
    cfg.auto_scale_lr = dict(base_batch_size=16)
    with pytest.raises(ConfigError, match='needs an epoch-based train loop'):
        apply_keep_batch(cfg, seg, 'none')
    with pytest.raises(LauncherEnvError, match='SLURM_NTASKS, which is not set'):
        world_size_from_env('slurm')

    det = Config.fromfile(str(REPO / 'configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'))
    assert apply_keep_batch(det, 'det.py', 'none')['accumulation'] == 8  # 16 = 2 x 1 x 8
    ema = Config.fromfile(
        str(REPO / 'configs/classification/imagenet1k/fcmae_convnext-v2-base_ft-100e_in1k.py'))
    monkeypatch.setenv('WORLD_SIZE', '8')
    assert apply_keep_batch(ema, 'ema.py', 'pytorch')['accumulation'] == 4  # 1024 = 32 x 8 x 4
    hooks = {h['type']: h for h in ema.custom_hooks}
    assert hooks['EMAHook']['interval'] == 4  # one average per optimizer step


def test_hook_refuses_a_world_size_other_than_the_one_computed():
    hook = OptimStepParamSchedulerHook(effective_batch=dict(per_gpu=512, processes=2,
                                                            accumulation=4, total=4096))
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(batch_size=512), world_size=4)
    with pytest.raises(ConfigError, match='computed the accumulation for 2 processes from the '
                                          'launcher environment, but the run has 4'):
        hook.before_run(runner)
