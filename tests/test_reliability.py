"""Reliability and security of the tools, run as users run them (fresh processes).

* every registered name a tool or README command uses resolves after ``import cmae_mm`` alone;
* checkpoints never run code: a pickled callable is refused, a stored config is never evaluated;
* ``--resume`` after a SIGKILL continues with the same per-iteration losses as a run never stopped;
* ``tools/dist_train.sh`` with 2 processes equals one process with the same total batch;
* bad configs, missing data roots, unknown types, existing work dirs fail before training starts;
* a NaN loss stops the run before the optimizer step, naming the iteration and the resume command;
* importing cmae_mm replaces no upstream component; every training config chooses the suite's
  checkpoint hook, atomic backend and reliability hooks by name;
* the tools report the suite's input errors in one line and keep the traceback of anything else.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import textwrap
from pathlib import Path
from typing import Dict

import pytest
import torch

from helpers import PYTHON, REPO, output_of, run_tool, run_tool_in_process, tool_env

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU path')


# ---- 1. registered names resolve in a fresh process ------------------------------------------
def test_every_registered_name_resolves_after_import_cmae_mm_components():
    code = textwrap.dedent('''
        import cmae_mm.components
        from mmengine.registry import HOOKS, LOOPS, OPTIM_WRAPPER_CONSTRUCTORS, RUNNERS
        from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS
        from mmseg.registry import DATASETS as SEG_DATASETS
        names = {
            LOOPS: ['RobustnessTestLoop'],
            RUNNERS: ['CMAERunner'],
            HOOKS: ['NonFiniteLossHook', 'RNGStateHook', 'ResumeCheckHook', 'SafeCheckpointHook',
                    'OptimStepParamSchedulerHook'],
            OPTIM_WRAPPER_CONSTRUCTORS: ['BackboneLayerDecayOptimWrapperConstructor'],
            TRANSFORMS: ['PatchOcclusion', 'PatchShuffle', 'LoadRandomResizedCrop'],
            DATASETS: ['ImageNet100', 'StanfordDogs', 'TinyImageNet', 'FashionMNISTLabelSubset',
                       'UnlabeledImageFolder'],
            SEG_DATASETS: ['FashionMNISTScenesSegDataset'],
            MODELS: ['ConditionalMAE', 'CMAEViT', 'CMAEPretrainHead', 'TransferViT',
                     'CMAESimMIM', 'CMAESimMIMSwinTransformer', 'TransferSwin',
                     'FCMAE', 'FCMAEConvNeXt', 'FCMAEDecoder', 'TransferConvNeXt'],
        }
        missing = [n for reg, ns in names.items() for n in ns if reg.get(n) is None]
        print('MISSING', missing)
    ''')
    result = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True, env=tool_env(),
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert 'MISSING []' in result.stdout


def test_import_cmae_mm_and_the_orchestration_modules_load_no_model_stack():
    """``import cmae_mm`` registers nothing; the study runner, the report, claims, Model Zoo and
    recipe-table modules load without torch or the OpenMMLab model packages (each tool launch
    paid about 5 s of CPU for them before), and ``cmae_mm.ShotSchedule`` still resolves."""
    code = textwrap.dedent('''
        import sys
        import cmae_mm
        import cmae_mm.study.claims, cmae_mm.study.dense_search, cmae_mm.study.report
        import cmae_mm.study.runner, cmae_mm.study.zoo
        heavy = sorted(m for m in ('torch', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'mmseg')
                       if m in sys.modules)
        print('HEAVY', heavy)
        print('SCHEDULE', cmae_mm.ShotSchedule.__module__)
    ''')
    result = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True, env=tool_env(),
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert 'HEAVY []' in result.stdout
    assert 'SCHEDULE cmae_mm.masking' in result.stdout


@pytest.fixture(scope='module')
def import_report() -> str:
    """What ``import cmae_mm`` changed, in a fresh process whose mmengine, mmpretrain, mmdet and
    mmseg registries are complete before the import (``CHANGED``: every registered name and file
    backend that is another object afterwards; ``UPSTREAM``: mmengine's ``CheckpointHook`` and
    ``local`` backend; ``ADDED``: the suite's own)."""
    code = textwrap.dedent('''
        import importlib
        import mmengine.fileio.backends as backends
        from mmengine.registry import Registry

        def snapshot():
            entries = {}
            for scope in ('mmengine', 'mmpretrain', 'mmdet', 'mmseg'):
                module = importlib.import_module(f'{scope}.registry')
                for attr, registry in vars(module).items():
                    if isinstance(registry, Registry):
                        for name, obj in registry.module_dict.items():
                            entries[(scope, attr, name)] = obj
            entries.update({('backend', k): v for k, v in backends.backends.items()})
            entries.update({('prefix', k): v for k, v in backends.prefix_to_backends.items()})
            return entries

        for scope in ('mmpretrain', 'mmdet', 'mmseg'):  # every upstream module registered first
            importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
        before = snapshot()
        import cmae_mm.components
        after = snapshot()
        changed = sorted(str(key) for key, obj in before.items() if after.get(key) is not obj)
        print('CHANGED', changed)
        from mmengine.fileio import LocalBackend, get_file_backend
        from mmengine.hooks import CheckpointHook
        from mmengine.registry import HOOKS
        print('UPSTREAM', HOOKS.get('CheckpointHook') is CheckpointHook,
              type(get_file_backend('work_dirs/x.pth')) is LocalBackend)
        print('ADDED', HOOKS.get('SafeCheckpointHook').__name__, backends.backends['atomic_local'].__name__)
    ''')
    result = subprocess.run([PYTHON, '-c', code], capture_output=True, text=True, env=tool_env(),
                            cwd=REPO, timeout=600)
    assert result.returncode == 0, output_of(result)[-3000:]
    return result.stdout


def test_import_cmae_mm_keeps_mmengines_checkpoint_hook_and_local_backend(import_report):
    """The suite once registered its checkpoint hook as ``CheckpointHook`` and its atomic file
    backend as ``local`` with ``force=True``, changing every mmengine program that imported it; it
    now adds ``SafeCheckpointHook`` and ``atomic_local``, which configs choose."""
    assert 'UPSTREAM True True' in import_report, import_report
    assert 'ADDED SafeCheckpointHook AtomicLocalBackend' in import_report


def test_import_cmae_mm_replaces_no_upstream_component(import_report):
    """No name that mmengine, mmpretrain, mmdet or mmseg register, and no file backend, is another
    object after ``import cmae_mm``: the suite adds components under its own names only."""
    assert 'CHANGED []' in import_report, import_report


IN100 = REPO / 'configs' / 'selfsup' / 'in100'
#: Every training config of the suite (all configs outside _base_ train). The 168 generated
#: ImageNet-100 configs are two-line children of two bases: those are loaded instead, and each
#: generated file is checked to set nothing but the model.
TRAINING_CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                          if '_base_' not in p.parts and p.parent != IN100)


def test_every_training_config_has_the_safe_checkpoint_hook_the_reliability_hooks_and_the_components():
    import warnings

    from mmengine.config import Config

    in100_bases = set()
    for path in sorted(IN100.glob('*.py')):
        code = [line for line in path.read_text().splitlines() if line and not line.startswith('#')]
        assert len(code) == 2 and code[0].startswith("_base_ = '../../_base_/") and \
            code[1].startswith('model = dict(backbone='), path.name
        in100_bases.add((IN100 / code[0].split("'")[1]).resolve())
    assert len(in100_bases) == 2
    wrong = []
    for path in TRAINING_CONFIGS + sorted(in100_bases):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            cfg = Config.fromfile(str(path))
        hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
        missing = [h for h in ('RNGStateHook', 'NonFiniteLossHook', 'ResumeCheckHook') if h not in hooks]
        checkpoint = cfg.default_hooks.checkpoint
        safe = checkpoint.type == 'SafeCheckpointHook' and \
            checkpoint.get('backend_args') == dict(backend='atomic_local')
        # the bare package registers nothing: the components module must be imported
        imports = cfg.get('custom_imports', {}).get('imports', [])
        registers = 'cmae_mm.components' in imports and 'cmae_mm' not in imports
        if missing or not safe or not registers:
            wrong.append(f'{path.relative_to(REPO)}: missing {missing}, checkpoint {checkpoint}, '
                         f'custom_imports {imports}')
    assert len(TRAINING_CONFIGS) >= 70 and not wrong, '\n'.join(wrong)


# ---- 2. checkpoints never run code -------------------------------------------------------------
class Evil:
    """Pickles as a call to ``os.system`` (what a malicious checkpoint would hold)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


@pytest.fixture
def evil(tmp_path: Path, pretrained) -> Dict[str, Path]:
    """A real pre-training checkpoint with a pickled callable added, and one whose stored config
    text calls ``os.system`` when evaluated; both would create ``marker``."""
    from cmae_mm.engine.checkpoint import trusted_globals

    marker = tmp_path / 'PWNED'
    with trusted_globals():
        ckpt = torch.load(pretrained[12])
    callable_ckpt = dict(ckpt, extra=Evil(marker))
    torch.save(callable_ckpt, tmp_path / 'callable.pth')
    cfg_ckpt = dict(ckpt, meta=dict(ckpt['meta'], cfg=(
        f"model = dict(backbone=dict(arch=dict(embed_dims=32, num_layers=12, feedforward_channels=64, "
        f"num_heads=__import__('os').system('touch {marker}'))))\n")))
    torch.save(cfg_ckpt, tmp_path / 'cfg.pth')
    return dict(marker=marker, callable=tmp_path / 'callable.pth', cfg=tmp_path / 'cfg.pth')


def test_converter_refuses_a_pickled_callable_and_never_evaluates_the_stored_config(evil, tmp_path):
    out = tmp_path / 'out.pth'
    converter = 'tools/model_converters/convert_cmae.py'
    result = run_tool_in_process([converter, evil['callable'], out], cwd=tmp_path)
    assert result.returncode == 1 and 'refused to load' in result.stderr, output_of(result)
    assert 'Traceback' not in result.stderr
    # the config's arch holds a call, not a literal: the head count is unknown, --arch is asked for
    result = run_tool_in_process([converter, evil['cfg'], out], cwd=tmp_path)
    assert result.returncode == 1 and 'pass --arch' in result.stderr, output_of(result)
    result = run_tool_in_process([converter, evil['cfg'], out, '--arch', '{"num_heads": 2}'],
                                 cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert not evil['marker'].exists() and not (tmp_path / 'out.pth.tmp').exists()


def test_transfer_vit_refuses_a_pickled_callable(evil):
    from cmae_mm.engine.checkpoint import UnsafeCheckpointError
    from mmpretrain.registry import MODELS

    backbone = MODELS.build(dict(
        type='TransferViT', arch=dict(embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64),
        img_size=64, patch_size=8, init_cfg=dict(type='Pretrained', checkpoint=str(evil['callable']))))
    with pytest.raises(UnsafeCheckpointError, match='refused to load .*posix.system'):
        backbone.init_weights()
    assert not evil['marker'].exists()


def test_train_resume_and_test_load_refuse_a_pickled_callable(evil, tmp_path, tiny_data):
    config = write_pretrain_config(tmp_path / 'tiny_pretrain.py', tiny_data)
    result = run_tool_in_process(['tools/train.py', config, '--work-dir', tmp_path / 'w',
                                  '--resume', evil['callable']], cwd=tmp_path)
    assert result.returncode == 1 and 'refused to load' in result.stderr, output_of(result)[-3000:]
    result = run_tool_in_process(['tools/train.py', config, '--work-dir', tmp_path / 'w2',
                                  '--cfg-options', f"load_from={evil['callable']}"],
                                 cwd=tmp_path)
    assert result.returncode == 1 and 'refused to load' in result.stderr, output_of(result)[-3000:]
    assert not evil['marker'].exists()


# ---- 3. exact resume ---------------------------------------------------------------------------
KILLER = '''
import os, signal
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """SIGKILL this process after iteration ``CMAE_KILL_AT_ITER`` (fault injection for tests)."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == int(os.environ.get('CMAE_KILL_AT_ITER', '0')):
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class NaNAtIterHook(Hook):
    """Make iteration ``CMAE_NAN_AT_ITER``'s loss NaN (a NaN weight during that iteration only)."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.saved = None
        if runner.iter + 1 == int(os.environ.get('CMAE_NAN_AT_ITER', '0')):
            weight = runner.model.backbone.patch_embed.projection.weight
            self.saved = weight.detach().clone()
            weight.data.fill_(float('nan'))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.saved is not None:
            runner.model.backbone.patch_embed.projection.weight.data.copy_(self.saved)
'''


def write_pretrain_config(path: Path, data_root: Path, max_epochs: int = 1,
                          extra: str = '') -> Path:
    """The digits demo's encoder on the ImageNet ann-file data of ``data_root``, as a config file
    inheriting the suite's pre-training runtime (RNG and NaN hooks included)."""
    path.write_text(textwrap.dedent(f'''\
        _base_ = ['{REPO}/configs/selfsup/cmae_vit-tiny-p4_digits_demo.py']
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(_delete_=True, type='ImageNet', data_root='{data_root}', split='train',
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0),
                                        backend='pillow', interpolation='bicubic'),
                                   dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')]))
        train_cfg = dict(max_epochs={max_epochs})
        default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                             checkpoint=dict(interval=1))  # the suite's SafeCheckpointHook
        resume = False
        ''') + extra)
    return path


def losses(work_dir: Path, key: str = 'loss') -> Dict[int, float]:
    """iteration -> logged ``key`` (training loss), from every run's ``vis_data/scalars.json``."""
    out = {}
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if key in row:
                out[row['iter']] = row[key]
    return out


def test_resume_after_sigkill_repeats_the_uninterrupted_losses(tmp_path, tiny_data):
    (tmp_path / 'killer.py').write_text(KILLER)
    hooks = "custom_hooks = [dict(type='RNGStateHook'), dict(type='NonFiniteLossHook'), dict(type='KillAtIterHook')]\n"
    config = write_pretrain_config(tmp_path / 'cfg.py', tiny_data, max_epochs=3,
                                   extra="custom_imports = dict(imports=['cmae_mm.components', 'killer'])\n" + hooks)
    env = tool_env(PYTHONPATH=str(tmp_path))
    full = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'full'], cwd=tmp_path, env=env)
    assert full.returncode == 0, output_of(full)[-3000:]
    reference = losses(tmp_path / 'full')
    assert sorted(reference) == [1, 2, 3, 4, 5, 6]  # 4 images, batch 2: 2 iterations per epoch

    killed = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'cut'], cwd=tmp_path,
                      env=dict(env, CMAE_KILL_AT_ITER='5'))  # mid-epoch 3, after epoch_2.pth
    assert killed.returncode == -signal.SIGKILL, output_of(killed)[-3000:]
    assert (tmp_path / 'cut' / 'epoch_2.pth').is_file() and not (tmp_path / 'cut' / 'epoch_3.pth').exists()
    resumed = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'cut', '--resume'],
                       cwd=tmp_path, env=env)
    assert resumed.returncode == 0, output_of(resumed)[-3000:]
    after = losses(tmp_path / 'cut')
    assert [after[i] for i in (5, 6)] == [reference[i] for i in (5, 6)]  # exact, from the resume point
    assert [after[i] for i in (1, 2, 3, 4)] == [reference[i] for i in (1, 2, 3, 4)]

    # Without RNGStateHook (mmengine alone) the resumed run re-seeds: its masks and crops, so its
    # losses, differ from the uninterrupted run's -- the hook is what makes resume exact.
    plain = write_pretrain_config(tmp_path / 'plain.py', tiny_data, max_epochs=3, extra='custom_hooks = []\n')
    first = run_tool(['tools/train.py', plain, '--work-dir', tmp_path / 'plain', '--cfg-options',
                      'train_cfg.max_epochs=2'], cwd=tmp_path)
    assert first.returncode == 0, output_of(first)[-3000:]
    again = run_tool(['tools/train.py', plain, '--work-dir', tmp_path / 'plain', '--resume'], cwd=tmp_path)
    assert again.returncode == 0, output_of(again)[-3000:]
    plain_losses = losses(tmp_path / 'plain')
    assert [plain_losses[i] for i in (1, 2, 3, 4)] == [reference[i] for i in (1, 2, 3, 4)]
    assert plain_losses[5] != reference[5]


def test_fine_tuning_resume_repeats_the_uninterrupted_losses(tmp_path, shared_imagenet_folder):
    """The same for a classification run (random crops and flips, SGD with momentum, a step lr):
    killed mid-epoch 2 and resumed, its epoch-2 losses equal those of a run never stopped.
    (Stopping with a smaller ``max_epochs`` instead would not do: mmengine ends epoch-based lr
    schedules at ``max_epochs``, and that end is saved with the scheduler.)"""
    from helpers import write_classifier_config

    (tmp_path / 'killer.py').write_text(KILLER)
    config = write_classifier_config(tmp_path / 'cls.py', shared_imagenet_folder, max_epochs=2)
    config.write_text(config.read_text() + "custom_imports = dict(imports=['cmae_mm.components', 'killer'])\n"
                      "custom_hooks = [dict(type='RNGStateHook'), dict(type='KillAtIterHook')]\n")
    env = tool_env(PYTHONPATH=str(tmp_path))
    full = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'full', '--no-validate'],
                    cwd=tmp_path, env=env)
    assert full.returncode == 0, output_of(full)[-3000:]
    killed = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'cut', '--no-validate'],
                      cwd=tmp_path, env=dict(env, CMAE_KILL_AT_ITER='6'))
    assert killed.returncode == -signal.SIGKILL, output_of(killed)[-3000:]
    resumed = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'cut', '--no-validate',
                        '--resume'], cwd=tmp_path, env=env)
    assert resumed.returncode == 0, output_of(resumed)[-3000:]
    reference, after = losses(tmp_path / 'full'), losses(tmp_path / 'cut')
    assert sorted(reference) == sorted(after) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [after[i] for i in range(5, 9)] == [reference[i] for i in range(5, 9)]


# ---- 5. fail fast ------------------------------------------------------------------------------
def test_bad_knobs_fail_before_training(tmp_path, tiny_data):
    """A typo in a type name and a missing data root: one error line from the tool, nothing written."""
    config = write_pretrain_config(tmp_path / 'cfg.py', tiny_data)
    cases = [
        (['model.backbone.type=CMAEVit'], "did you mean 'CMAEViT'"),
        (['train_dataloader.dataset.data_root=/nowhere/imagenet'],
         "data_root '/nowhere/imagenet' does not exist"),
    ]
    for options, message in cases:
        result = run_tool_in_process(['tools/train.py', config, '--work-dir', tmp_path / 'w',
                                      '--cfg-options', *options], cwd=tmp_path)
        assert result.returncode == 1 and message in result.stderr, (options, output_of(result)[-3000:])
        assert 'Traceback' not in result.stderr
        assert not list((tmp_path / 'w').glob('*.pth'))
    # a config of one's own that still lists the bare package, which registers nothing
    bare = tmp_path / 'bare.py'
    bare.write_text("_base_ = './cfg.py'\ncustom_imports = dict(imports=['cmae_mm'])\n")
    result = run_tool_in_process(['tools/train.py', bare, '--work-dir', tmp_path / 'w2'],
                                 cwd=tmp_path)
    assert result.returncode == 1 and "custom_imports lists 'cmae_mm', which registers nothing; " \
        "list 'cmae_mm.components'" in result.stderr, output_of(result)[-3000:]
    assert 'Traceback' not in result.stderr and not (tmp_path / 'w2').exists()


@pytest.mark.parametrize('override, message', [
    (dict(backbone=dict(mask_layers=[0, 12])), 'mask_layers=[0, 12] contains 12'),
    (dict(backbone=dict(mask_ratios=[0.75, 1.0])), 'mask_ratios=[0.75, 1.0] contains 1.0'),
    (dict(backbone=dict(img_size=30)), 'img_size=30 with patch_size=4'),
    (dict(head=dict(shot_weights=[1.0])), 'shot_weights=[1.0] has 1 entries'),
])
def test_bad_model_knobs_fail_when_the_model_is_built(override, message):
    """The Runner builds the model before any data is loaded: these fail at once, naming the value."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(str(REPO / 'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py'))
    cfg.merge_from_dict(dict(model=override))
    with pytest.raises(ValueError, match=re.escape(message)):
        MODELS.build(cfg.model)


def test_missing_imagenet100_root_names_the_builder(tmp_path):
    config = REPO / 'configs/selfsup/in100/cmae_vit-small-p16_L0-10_r0.75-0.1_in100.py'
    result = run_tool_in_process(['tools/train.py', config, '--work-dir', tmp_path / 'w'],
                                 cwd=tmp_path)
    assert result.returncode == 1, output_of(result)[-3000:]
    assert "data_root 'data/imagenet100/' does not exist" in result.stderr
    assert 'tools/dataset_converters/build_imagenet100.py' in result.stderr


# ---- 8. no lost outputs ------------------------------------------------------------------------
def test_a_new_run_never_overwrites_an_earlier_runs_checkpoints(tmp_path, tiny_data):
    config = write_pretrain_config(tmp_path / 'cfg.py', tiny_data)
    assert run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'w'], cwd=tmp_path).returncode == 0
    before = (tmp_path / 'w' / 'epoch_1.pth').read_bytes()
    again = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'w'], cwd=tmp_path)
    assert again.returncode == 1 and 'already holds checkpoints' in again.stderr
    assert '--resume' in again.stderr
    assert (tmp_path / 'w' / 'epoch_1.pth').read_bytes() == before


# ---- 7. numerical faults -----------------------------------------------------------------------
def nan_config(tmp_path: Path, tiny_data: Path, skip: bool) -> Path:
    (tmp_path / 'faults.py').write_text(KILLER)
    hook = "dict(type='NonFiniteLossHook', skip=True)" if skip else "dict(type='NonFiniteLossHook')"
    return write_pretrain_config(tmp_path / 'cfg.py', tiny_data, max_epochs=2,
                                 extra="custom_imports = dict(imports=['cmae_mm.components', 'faults'])\n"
                                       f"custom_hooks = [{hook}, dict(type='NaNAtIterHook')]\n")


def test_nan_loss_stops_before_the_step_and_says_how_to_resume(tmp_path, tiny_data):
    config = nan_config(tmp_path, tiny_data, skip=False)
    env = tool_env(PYTHONPATH=str(tmp_path), CMAE_NAN_AT_ITER='3')
    result = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'w'], cwd=tmp_path, env=env)
    assert result.returncode == 1, output_of(result)[-3000:]
    assert 'the training loss is nan at iteration 3 (epoch 2)' in result.stderr, result.stderr[-3000:]
    assert f"the last good checkpoint is {tmp_path / 'w' / 'epoch_1.pth'}" in result.stderr
    assert '--resume' in result.stderr and 'Traceback' not in result.stderr
    assert sorted(p.name for p in (tmp_path / 'w').glob('*.pth')) == ['epoch_1.pth']


def test_nan_loss_skipped_when_asked(tmp_path, tiny_data):
    config = nan_config(tmp_path, tiny_data, skip=True)
    env = tool_env(PYTHONPATH=str(tmp_path), CMAE_NAN_AT_ITER='3')
    result = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'w'], cwd=tmp_path, env=env)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert 'loss is nan at iteration 3 (epoch 2); step skipped (skip=True; 1 skipped so far' in output_of(result)
    ckpt = tmp_path / 'w' / 'epoch_2.pth'
    from cmae_mm.engine.checkpoint import read_state_dict
    assert all(torch.isfinite(v).all() for v in read_state_dict(str(ckpt)).values() if v.is_floating_point())


# ---- 9. GPU path stays honest -------------------------------------------------------------------
def test_cuda_makes_the_cpu_shims_no_ops_and_checks_mmcv_ops(monkeypatch):
    from mmengine.config import Config

    from cmae_mm.engine import cpu_compat

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(default_scope='mmdet', launcher='pytorch',
                      model=dict(backbone=dict(norm_cfg=dict(type='SyncBN'))),
                      optim_wrapper=dict(type='AmpOptimWrapper', optimizer=dict(type='SGD'))))
    before = cfg.to_dict()
    assert cpu_compat.replace_syncbn_on_cpu(cfg) == []
    assert not cpu_compat.disable_amp_on_cpu(cfg)
    assert not cpu_compat.setup_cpu_distributed(cfg)
    assert cfg.to_dict() == before
    with pytest.raises(cpu_compat.MMCVOpsError, match='CMAE_MMCV_CUDA=1'):
        cpu_compat.check_mmcv_ops(cfg)  # this mmcv has CPU ops only
    cpu_compat.check_mmcv_ops(Config(dict(default_scope='mmseg')))  # no mmcv op at run time


def lrs(work_dir: Path) -> Dict[int, float]:
    """iteration -> logged lr (see :func:`losses`)."""
    return losses(work_dir, 'lr')


def test_resume_with_a_changed_schedule_stops_or_replays_the_new_one(tmp_path, tiny_data):
    """A run of 2 epochs (warm-up 1, cosine to epoch 2) resumed with 3 epochs (cosine to 3):
    mmengine alone would keep the saved cosine end (its lr frozen through epoch 3); the suite
    stops with both values, and with --resume-schedule config the lr of epoch 3 is exactly that
    of a run started with the 3-epoch schedule. The checkpoint's stored config text is never
    executed."""
    def schedule(epochs):
        return ['train_cfg.max_epochs=%d' % epochs, 'param_scheduler.0.end=1',
                'param_scheduler.1.begin=1', 'param_scheduler.1.end=%d' % epochs,
                'param_scheduler.1.T_max=%d' % (epochs - 1)]

    config = write_pretrain_config(tmp_path / 'pre.py', tiny_data)
    first = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'run', '--cfg-options']
                     + schedule(2), cwd=tmp_path)
    assert first.returncode == 0, output_of(first)[-3000:]
    # Stored config text in the checkpoint: executed by mmengine's resume, dropped by the hook.
    ckpt = tmp_path / 'run' / 'epoch_2.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    marker = tmp_path / 'executed'
    state['meta']['config'] = f"open({str(marker)!r}, 'w').write('x')\n"
    torch.save(state, ckpt)

    refused = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'run', '--resume',
                        '--cfg-options'] + schedule(3), cwd=tmp_path)
    assert refused.returncode == 1, output_of(refused)[-3000:]
    line = refused.stderr.strip().splitlines()[-1]
    assert re.search(r'param_scheduler\[1\] CosineAnnealingLR\.end: config \d+, checkpoint \d+',
                     line), line
    assert '--resume-schedule config' in line and 'undo the change' in line
    assert not (tmp_path / 'run' / 'epoch_3.pth').exists() and ckpt.is_file()

    resumed = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'run', '--resume',
                        '--resume-schedule', 'config', '--cfg-options'] + schedule(3), cwd=tmp_path)
    assert resumed.returncode == 0, output_of(resumed)[-3000:]
    assert not marker.exists()
    fresh = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'fresh', '--cfg-options']
                     + schedule(3), cwd=tmp_path)
    assert fresh.returncode == 0, output_of(fresh)[-3000:]
    # max_keep_ckpts=1: each save removes the previous checkpoint once the new one is written
    assert [p.name for p in (tmp_path / 'fresh').glob('epoch_*.pth')] == ['epoch_3.pth']
    reference, after = lrs(tmp_path / 'fresh'), lrs(tmp_path / 'run')
    per_epoch = max(reference) // 3
    epoch3 = [i for i in reference if i > 2 * per_epoch]
    assert epoch3 and [after[i] for i in epoch3] == pytest.approx([reference[i] for i in epoch3],
                                                                   rel=1e-9, abs=1e-15)
    assert min(reference[i] for i in epoch3) > 1e-5  # the new cosine is still running


SLOW_SAVE = '''\
import os, time
import cmae_mm.engine.atomic_io as atomic_io

_write = atomic_io.write_chunks


def slow_write_chunks(f, data):
    """Fault injection: write in 64 KiB pieces, 20 ms apart (a save then takes seconds)."""
    if not os.environ.get('CMAE_SLOW_SAVE'):
        return _write(f, data)
    view = memoryview(data)
    for start in range(0, len(view), 1 << 16):
        f.write(view[start:start + (1 << 16)])
        f.flush()
        time.sleep(0.02)


atomic_io.write_chunks = slow_write_chunks
'''


def test_kill_during_checkpoint_save_leaves_no_truncated_checkpoint(tmp_path, tiny_data):
    """SIGKILL while epoch_2.pth is being written (a slowed write): no epoch_2.pth exists,
    last_checkpoint names epoch_1.pth, and --resume continues from it and finishes."""
    import time

    (tmp_path / 'slowsave.py').write_text(SLOW_SAVE)
    config = write_pretrain_config(
        tmp_path / 'pre.py', tiny_data, max_epochs=2,
        extra="custom_imports = dict(imports=['cmae_mm.components', 'slowsave'], allow_failed_imports=False)\n")
    work = tmp_path / 'work'
    env = tool_env(PYTHONPATH=str(tmp_path), CMAE_SLOW_SAVE='1')
    proc = subprocess.Popen([PYTHON, str(REPO / 'tools' / 'train.py'), str(config), '--work-dir',
                             str(work)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list(work.glob('.epoch_2.pth.*.part')):
            assert proc.poll() is None, 'training ended before the epoch-2 save was caught'
            time.sleep(0.05)
        assert list(work.glob('.epoch_2.pth.*.part')), 'no epoch-2 save seen'
        time.sleep(0.3)  # well inside the slowed write
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.name for p in work.glob('epoch_*.pth')) == ['epoch_1.pth']
    assert Path((work / 'last_checkpoint').read_text().strip()).name == 'epoch_1.pth'
    from cmae_mm.engine.checkpoint import read_checkpoint
    assert read_checkpoint(str(work / 'epoch_1.pth'))['meta']['epoch'] == 1

    resumed = run_tool(['tools/train.py', config, '--work-dir', work, '--resume'], cwd=tmp_path,
                       env=tool_env(PYTHONPATH=str(tmp_path)))
    assert resumed.returncode == 0, output_of(resumed)[-3000:]
    assert 'resumed epoch: 1' in output_of(resumed)
    assert read_checkpoint(str(work / 'epoch_2.pth'))['meta']['epoch'] == 2
    # max_keep_ckpts=1 (the digits config): epoch_1.pth is removed once epoch_2.pth is saved
    assert sorted(p.name for p in work.glob('epoch_*.pth')) == ['epoch_2.pth']


def test_full_disk_fails_with_one_line_and_keeps_the_previous_checkpoint(tmp_path, tiny_data):
    """On a tmpfs with room for one checkpoint: the second save fails with one line naming the
    file and the space needed, epoch_1.pth is intact and last_checkpoint names it."""
    config = write_pretrain_config(tmp_path / 'pre.py', tiny_data, max_epochs=2)
    probe = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'probe',
                      '--cfg-options', 'train_cfg.max_epochs=1'], cwd=tmp_path)
    assert probe.returncode == 0, output_of(probe)[-3000:]
    size = (tmp_path / 'probe' / 'epoch_1.pth').stat().st_size
    disk = tmp_path / 'disk'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={int(size * 1.6)}', 'tmpfs',
                              str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a size-limited tmpfs here: {mounted.stderr.strip()}')
    try:
        work = disk / 'work'
        full = run_tool(['tools/train.py', config, '--work-dir', work], cwd=tmp_path)
        assert full.returncode == 1, output_of(full)[-3000:]
        line = full.stderr.strip().splitlines()[-1]
        assert line.startswith('tools/train.py: error: ') and 'no space left' in line, line
        assert str(work / 'epoch_2.pth') in line and 'MiB are free' in line
        assert sorted(p.name for p in work.iterdir() if p.suffix in ('.pth', '.part')) == \
            ['epoch_1.pth']
        assert Path((work / 'last_checkpoint').read_text().strip()).name == 'epoch_1.pth'
        from cmae_mm.engine.checkpoint import read_checkpoint
        assert read_checkpoint(str(work / 'epoch_1.pth'))['meta']['epoch'] == 1
    finally:
        subprocess.run(['umount', str(disk)], capture_output=True)


# ---- 10. one line for the suite's input errors, a traceback for everything else ---------------
def train_args(config: Path, work_dir: Path, **overrides) -> argparse.Namespace:
    """``tools/train.py``'s parsed command line with its defaults."""
    args = dict(config=str(config), work_dir=str(work_dir), resume=None, resume_schedule=None,
                amp=False, compile=False, no_validate=False, auto_scale_lr=False, cfg_options=None,
                launcher='none', local_rank=0)
    return argparse.Namespace(**dict(args, **overrides))


def test_train_reports_input_errors_in_one_line_and_keeps_internal_tracebacks(tmp_path, monkeypatch):
    from cmae_mm.engine import entrypoints

    monkeypatch.setenv('LOCAL_RANK', '0')
    config = REPO / 'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py'
    # bad input, found where the config is validated: one line, exit status 1
    with pytest.raises(SystemExit) as exit_info:
        entrypoints.train(train_args(config, tmp_path / 'w', cfg_options={'default_scope': 'mmfoo'}))
    assert str(exit_info.value.code).startswith("tools/train.py: error: config default_scope is 'mmfoo'")
    assert '\n' not in str(exit_info.value.code)

    # an internal error that happens to be a ValueError (a shape, a dtype, a torch check): raised
    # as it is, so the tool prints its traceback
    def broken_run(cfg, mode, prepare=None):
        raise ValueError('mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)')

    monkeypatch.setattr(entrypoints, 'run', broken_run)
    with pytest.raises(ValueError, match='shapes cannot be multiplied'):
        entrypoints.train(train_args(config, tmp_path / 'w'))


# ---- 11. the RNG states are gathered only when a checkpoint is saved -------------------------
def test_rng_state_hook_gathers_only_when_a_checkpoint_is_saved(tmp_path, monkeypatch):
    """An iteration-based run of 10 iterations saving every 4 (and the last): the states are
    gathered from the ranks 3 times, not 10, and each checkpoint holds them; the suite's
    checkpoint hook keeps only the newest checkpoint, written atomically."""
    import torch.distributed as dist
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch import nn

    import cmae_mm.engine.hooks.rng_state_hook as rng_state_hook
    from cmae_mm.engine.checkpoint import trusted_globals

    class Toy(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else out

    gathers = []

    def all_gather_object(output, obj):  # one rank of a distributed run
        gathers.append(obj)
        output[0] = obj

    monkeypatch.setattr(rng_state_hook, 'is_distributed', lambda: True)
    monkeypatch.setattr(rng_state_hook, 'get_world_size', lambda: 1)
    monkeypatch.setattr(dist, 'all_gather_object', all_gather_object)
    runner = Runner(
        model=Toy(), work_dir=str(tmp_path), default_scope='mmpretrain',
        train_dataloader=dict(dataset=[dict(inputs=torch.randn(2)) for _ in range(6)],
                              sampler=dict(type='DefaultSampler', shuffle=True), batch_size=2,
                              num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=10),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=4,
                                           max_keep_ckpts=1, backend_args=dict(backend='atomic_local'))),
        custom_hooks=[dict(type='RNGStateHook')])
    runner.train()
    assert len(gathers) == 3  # after iterations 4, 8 and 10 (the last)
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_10.pth']
    assert not list(tmp_path.glob('.*.part'))
    assert Path((tmp_path / 'last_checkpoint').read_text()).name == 'iter_10.pth'
    with trusted_globals():
        state = torch.load(tmp_path / 'iter_10.pth')['rng_state']
    assert len(state) == 1 and torch.equal(state[0]['torch'], gathers[-1]['torch'])


# ---- 12. tools use the installed package -------------------------------------------------------
def test_no_tool_edits_sys_path():
    """The package is installed (editable): no file under tools/ may put the repository on sys.path
    (or PYTHONPATH), which would hide an import that only works from a checkout."""
    offenders = [str(p.relative_to(REPO)) for p in sorted((REPO / 'tools').rglob('*'))
                 if p.is_file() and p.suffix in ('.py', '.sh')
                 and re.search(r'sys\.path\b|PYTHONPATH', p.read_text())]
    assert not offenders, offenders
