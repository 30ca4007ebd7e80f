"""The CPU shims (cmae_mm.engine.cpu_compat) and the scoped checkpoint allowlist (cmae_mm.engine.checkpoint), each shown to be needed, used through the repo's tools.

* weights_only allowlist: a checkpoint written by the real mmengine Runner (``tools/train.py`` on a
  tiny ImageNet-style folder dataset) holds exactly the allowlisted globals, fails to load without
  them (the error users hit), and is resumed (``tools/train.py --resume``) and loaded
  (``load_from``: ``tools/test.py``, and the Runner in-process) with torch's default
  ``weights_only=True``.
* SyncBN -> BN: a SyncBN model raises on CPU once a process group exists; converted, it trains.
* fp32 on CPU: ``AmpOptimWrapper`` cannot be built without a GPU; ``--amp`` warns and trains in fp32.
* launcher environment: a launcher run without its variables fails with a clear message.
"""
import contextlib
import os
import pickle
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator, List

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner

import cmae_mm.components  # noqa: F401  (registration)
from cmae_mm.engine import checkpoint as safe
from cmae_mm.engine import cpu_compat as compat
from cmae_mm.engine.entrypoints import apply_train_args
from cmae_mm.engine.runner import load_config, prepare_config, register_scope, run
from helpers import (REPO, free_port, load_runner_checkpoint, output_of, photo_crops, run_logs, run_tool,
                     run_tool_in_process, load_tool_module, write_classifier_config)

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU shims are no-ops with CUDA')

HB_ERROR = 'Unsupported global: GLOBAL mmengine.logging.history_buffer.HistoryBuffer'


@contextlib.contextmanager
def only_safe_globals(entries: List) -> Iterator[None]:
    """Temporarily replace torch's user allowlist by ``entries`` (restored afterwards)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(entries)
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


def entry_name(entry) -> str:
    """The qualified name an allowlist entry answers to."""
    return entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'


@pytest.fixture(scope='module')
def trained(tmp_path_factory, shared_imagenet_folder):
    """Two epochs of the tiny classifier through ``tools/train.py --amp`` (4 iterations + val each).

    ``epoch_2.pth`` holds everything a Runner checkpoint can hold here: the message hub has the
    training scalars and the validation metrics of epoch 1 (checkpoints are saved before the
    epoch's validation), ``runtime_info`` the best score.
    """
    root = tmp_path_factory.mktemp('compat')
    config = write_classifier_config(root / 'tiny_cls.py', shared_imagenet_folder, max_epochs=2)
    work_dir = root / 'work'
    result = run_tool(['tools/train.py', config, '--work-dir', work_dir, '--amp'], cwd=root)
    assert result.returncode == 0, output_of(result)[-4000:]
    return SimpleNamespace(root=root, config=config, work_dir=work_dir,
                           ckpt1=work_dir / 'epoch_1.pth', ckpt=work_dir / 'epoch_2.pth',
                           output=output_of(result))


# ----------------------------------------------------------------------------------------------
# (a) weights_only allowlist
# ----------------------------------------------------------------------------------------------
def test_the_allowlist_is_scoped_to_trusted_globals():
    """``import cmae_mm`` changes no global torch state; the allowlist holds inside the block only."""
    ours = {entry_name(e) for e in safe.runner_checkpoint_safe_globals()}
    assert not ours & {entry_name(e) for e in torch.serialization.get_safe_globals()}
    with safe.trusted_globals():
        assert ours <= {entry_name(e) for e in torch.serialization.get_safe_globals()}
    assert not ours & {entry_name(e) for e in torch.serialization.get_safe_globals()}


def test_trusted_globals_nest_and_the_outer_block_keeps_the_allowlist(trained):
    """A nested block (a backbone loading its ``init_cfg`` checkpoint inside ``run``) must not end
    the outer one's allowlist: a fine-tuning run's ``--resume`` loads after the backbone's load."""
    ours = {entry_name(e) for e in safe.runner_checkpoint_safe_globals()}
    with safe.trusted_globals():
        with safe.trusted_globals():
            torch.load(trained.ckpt)
        assert ours <= {entry_name(e) for e in torch.serialization.get_safe_globals()}
        torch.load(trained.ckpt)  # what the Runner's resume does after the backbone's load
    assert not ours & {entry_name(e) for e in torch.serialization.get_safe_globals()}


def test_runner_checkpoint_needs_exactly_the_allowlist(trained):
    with only_safe_globals([]):
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(trained.ckpt)))
        with pytest.raises(pickle.UnpicklingError, match=re.escape(HB_ERROR)):
            torch.load(trained.ckpt)  # torch's default: weights_only=True
    multiarray = 'numpy._core.multiarray' if np.__version__ >= '2' else 'numpy.core.multiarray'
    assert unsafe == {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr', 'numpy.ndarray',
                      'numpy.dtype', f'{multiarray}._reconstruct', f'{multiarray}.scalar'}

    entries = safe.runner_checkpoint_safe_globals()
    with safe.trusted_globals():
        ckpt = torch.load(trained.ckpt)  # torch's default weights_only=True, scoped allowlist
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.data[0].dtype == np.float64
    assert 'val/accuracy/top1' in ckpt['message_hub']['log_scalars']
    assert 'best_score' in ckpt['message_hub']['runtime_info']

    # every entry is needed, except the other numpy major's aliases of the same two functions
    not_needed = set()
    for i, entry in enumerate(entries):
        with only_safe_globals(entries[:i] + entries[i + 1:]):
            try:
                torch.load(trained.ckpt)
                not_needed.add(entry_name(entry))
            except pickle.UnpicklingError:
                pass
    other = 'numpy.core.multiarray' if multiarray == 'numpy._core.multiarray' else 'numpy._core.multiarray'
    assert not_needed == {f'{other}._reconstruct', f'{other}.scalar'}


def test_getattr_in_allowlist_only_resolves_history_buffer_statistics(tmp_path):
    class Reach:
        def __init__(self, owner, name):
            self.owner, self.name = owner, name

        def __reduce__(self):
            return getattr, (self.owner, self.name)

    torch.save({'ok': Reach(HistoryBuffer, 'mean')}, tmp_path / 'ok.pth')
    with safe.trusted_globals():
        assert torch.load(tmp_path / 'ok.pth')['ok'] is HistoryBuffer.mean
    for owner, name in [(HistoryBuffer, 'update'), (HistoryBuffer, '__init__'), (np.ndarray, 'tofile')]:
        torch.save({'x': Reach(owner, name)}, tmp_path / 'bad.pth')
        with safe.trusted_globals(), pytest.raises(
                pickle.UnpicklingError, match='resolves builtins.getattr only for HistoryBuffer'):
            torch.load(tmp_path / 'bad.pth')


def test_runner_resume_and_load_fail_without_the_allowlist(trained, tmp_path):
    cfg = Config.fromfile(str(trained.config))
    register_scope(cfg)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'resume_in_process_{os.getpid()}'
    runner = Runner.from_cfg(cfg)
    with only_safe_globals([]):
        with pytest.raises(pickle.UnpicklingError, match=re.escape(HB_ERROR)):
            runner.resume(str(trained.ckpt))
        with pytest.raises(pickle.UnpicklingError, match=re.escape(HB_ERROR)):
            runner.load_checkpoint(str(trained.ckpt))
    with safe.trusted_globals():
        runner.resume(str(trained.ckpt))
    assert (runner.epoch, runner.iter) == (2, 8)


def test_train_py_resume_auto_continues_the_work_dir(trained, tmp_path):
    work_dir = tmp_path / 'work'
    shutil.copytree(trained.work_dir, work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_2.pth'))  # as if trained here
    result = run_tool(['tools/train.py', trained.config, '--work-dir', work_dir, '--resume',
                       '--cfg-options', 'train_cfg.max_epochs=3'], cwd=tmp_path)
    log = run_logs(work_dir)
    assert result.returncode == 0, output_of(result)[-4000:]
    assert f'Load checkpoint from {work_dir / "epoch_2.pth"}' in log
    assert 'resumed epoch: 2, iter: 8' in log and 'Epoch(train) [3][4/4]' in log
    assert 'Epoch(train) [2]' not in log.split('resumed epoch')[1]
    assert (work_dir / 'epoch_3.pth').is_file() and (work_dir / 'epoch_1.pth').is_file()
    assert len(list(work_dir.glob('*/*.log'))) == 2  # the work dir is reused, not replaced


def load_train_tool():
    """tools/train.py as a module (for its argument parser)."""
    return load_tool_module('tools/train.py')


@pytest.mark.parametrize('argv, resume, load_from', [
    ([], False, None),
    (['--resume'], True, None),  # the Runner finds the latest checkpoint of the work dir
    (['--resume', 'ckpt/epoch_3.pth'], True, 'ckpt/epoch_3.pth'),
])
def test_train_py_resume_argument(argv, resume, load_from):
    tool = load_train_tool()
    cfg = Config(dict(resume=False, load_from=None, optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1))))
    apply_train_args(cfg, tool.parse_args(['config.py'] + argv))
    assert (cfg.resume, cfg.load_from) == (resume, load_from)


def test_train_py_no_validate_and_auto_scale_lr():
    tool = load_train_tool()
    cfg = Config(dict(val_cfg=dict(), val_dataloader=dict(batch_size=2),
                      val_evaluator=dict(type='Accuracy'), auto_scale_lr=dict(base_batch_size=256),
                      optim_wrapper=dict(optimizer=dict(type='SGD'))))
    apply_train_args(cfg, tool.parse_args(['config.py', '--no-validate', '--auto-scale-lr']))
    assert cfg.val_cfg is None and cfg.val_dataloader is None and cfg.val_evaluator is None
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    with pytest.raises(ValueError, match='--auto-scale-lr needs auto_scale_lr'):
        apply_train_args(Config(dict(optim_wrapper=dict())),
                              tool.parse_args(['c.py', '--auto-scale-lr']))


def test_test_py_loads_evaluates_and_dumps(trained, tmp_path):
    out = tmp_path / 'preds.pkl'
    result = run_tool(['tools/test.py', trained.config, trained.ckpt, '--work-dir', tmp_path / 'test',
                       '--out', out, '--show-dir', tmp_path / 'vis'], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-4000:]
    assert f'Load checkpoint from {trained.ckpt}' in run_logs(tmp_path / 'test')
    assert 'Epoch(test) [2/2]' in run_logs(tmp_path / 'test') and 'accuracy/top1' in output_of(result)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4 and {int(p['gt_label'][0]) for p in preds} == {0, 1}
    assert len(list((tmp_path / 'vis').rglob('*.png'))) == 4


# ----------------------------------------------------------------------------------------------
# fp32 on CPU
# ----------------------------------------------------------------------------------------------
def test_amp_flag_on_cpu_warns_and_trains_fp32(trained):
    assert '--amp: no CUDA device; AMP is for GPUs' in trained.output
    ckpt = load_runner_checkpoint(trained.ckpt)
    assert 'loss_scaler' not in ckpt['optimizer']  # an AmpOptimWrapper would have saved one
    assert {v.dtype for v in ckpt['state_dict'].values() if v.is_floating_point()} == {torch.float32}


def test_amp_optim_wrapper_config_becomes_fp32_on_cpu():
    cfg = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                                         optimizer=dict(type='SGD', lr=0.1))))
    model = torch.nn.Linear(2, 2)
    with pytest.raises(AssertionError):
        build_optim_wrapper(model, cfg.optim_wrapper)  # mmengine's AmpOptimWrapper needs a GPU
    assert compat.disable_amp_on_cpu(cfg)
    assert cfg.optim_wrapper == dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    assert type(build_optim_wrapper(model, cfg.optim_wrapper)).__name__ == 'OptimWrapper'
    assert not compat.disable_amp_on_cpu(cfg)


# ----------------------------------------------------------------------------------------------
# (c) SyncBN -> BN
# ----------------------------------------------------------------------------------------------
def test_replace_syncbn_rewrites_every_norm_cfg():
    cfg = Config(dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        model=dict(backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True), act_cfg=dict(type='GELU')),
                   decode_head=dict(norm_cfg=dict(type='SyncBN', eps=1e-3)),
                   auxiliary_head=[dict(norm_cfg=dict(type='MMSyncBN')), dict(norm_cfg=dict(type='LN'))]),
        sync_bn='torch'))
    changed = compat.replace_syncbn_on_cpu(cfg)
    assert changed == ['norm_cfg: SyncBN -> BN', 'model.backbone.norm_cfg: SyncBN -> BN',
                       'model.decode_head.norm_cfg: SyncBN -> BN',
                       'model.auxiliary_head[0].norm_cfg: MMSyncBN -> BN',
                       "sync_bn: 'torch' -> removed"]
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert cfg.model.decode_head.norm_cfg == dict(type='BN', eps=1e-3)
    assert cfg.model.auxiliary_head[1].norm_cfg == dict(type='LN') and 'sync_bn' not in cfg
    assert compat.replace_syncbn_on_cpu(cfg) == []


def test_syncbn_in_mmseg_upernet_base_config(tmp_path):
    (tmp_path / 'upernet.py').write_text(
        "_base_ = 'mmseg::_base_/models/upernet_r50.py'\ndefault_scope = 'mmseg'\n")
    cfg = Config.fromfile(str(tmp_path / 'upernet.py'))
    assert register_scope(cfg) == 'mmseg'
    assert compat.replace_syncbn_on_cpu(cfg) == [
        'norm_cfg: SyncBN -> BN', 'model.backbone.norm_cfg: SyncBN -> BN',
        'model.decode_head.norm_cfg: SyncBN -> BN', 'model.auxiliary_head.norm_cfg: SyncBN -> BN']


def test_syncbn_model_fails_in_a_cpu_process_group_and_trains_after_replace(tmp_path):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(write_classifier_config(tmp_path / 'cfg.py', tmp_path, norm='SyncBN')))
    register_scope(cfg)
    imgs = torch.from_numpy(np.stack(photo_crops(('astronaut', 'coffee'), 2, 32))).permute(0, 3, 1, 2).float()

    torch_dist.init_process_group('gloo', init_method=f'file://{tmp_path / "pg"}', rank=0, world_size=1)
    try:
        syncbn_model = MODELS.build(cfg.model).train()
        with pytest.raises(ValueError, match='SyncBatchNorm expected input tensor to be on GPU'):
            syncbn_model.extract_feat(imgs)
        assert compat.replace_syncbn_on_cpu(cfg) == ['model.backbone.norm_cfg: SyncBN -> BN']
        model = MODELS.build(cfg.model).train()
        assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
        assert model.extract_feat(imgs)[-1].shape == (2, 64)
    finally:
        torch_dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------
# (b) launcher environment (the CPU distributed run itself is in test_dist_train.py)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('launcher, missing', [('pytorch', 'RANK'), ('slurm', 'SLURM_PROCID'),
                                               ('mpi', 'OMPI_COMM_WORLD_RANK')])
def test_launcher_without_its_environment_fails_clearly(launcher, missing, monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_PROCID',
                 'SLURM_NTASKS', 'SLURM_LOCALID', 'OMPI_COMM_WORLD_RANK'):
        monkeypatch.delenv(name, raising=False)
    cfg = Config(dict(launcher=launcher))
    with pytest.raises(compat.LauncherEnvError, match=f'--launcher {launcher} expects .*{missing}'):
        compat.setup_cpu_distributed(cfg)
    assert not torch_dist.is_initialized()


def test_no_launcher_changes_nothing():
    cfg = Config(dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert not compat.setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


def test_slurm_environment_initialises_gloo_and_cpu_wrapper(monkeypatch, tmp_path):
    for name, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0',
                            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(name, value)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.setenv(name, 'unset')  # registers them for restoring, then removes them
        monkeypatch.delenv(name)
    cfg = Config(dict(launcher='slurm', find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    try:
        assert compat.setup_cpu_distributed(cfg)
        assert torch_dist.is_initialized() and torch_dist.get_backend() == 'gloo'
        assert (os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['LOCAL_RANK']) == ('0', '1', '0')
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                         broadcast_buffers=False, find_unused_parameters=True)


def gloo_worker_threads() -> List[str]:
    """Names of this process's threads that belong to a live gloo process group."""
    names = [(task / 'comm').read_text().strip() for task in Path('/proc/self/task').iterdir()]
    return [name for name in names if name in ('pt_gloo_runloop', 'gloo_tcp_loop')]


@pytest.mark.skipif(not Path('/proc/self/task').is_dir(), reason='lists threads through /proc')
def test_run_destroys_the_process_group_before_interpreter_exit(trained, monkeypatch, tmp_path):
    """``cmae_mm.engine.run`` leaves no gloo worker thread behind once a distributed run returns.

    The Runner's DDP wrapper holds the process group: destroyed while the Runner lives, the group
    survives and its threads run into interpreter finalization, where one still releasing a
    tensor aborts the process (SIGABRT after a successful ``dist_test.sh``: about 1 run in 10).
    """
    for name, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                            MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(name, value)
    for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):  # the Runner sets them if unset
        monkeypatch.setenv(name, os.environ.get(name, 'unset'))
        if os.environ[name] == 'unset':
            monkeypatch.delenv(name)
    assert not gloo_worker_threads()
    cfg = load_config(str(trained.config), dict(load_from=str(trained.ckpt)))
    prepare_config(cfg, str(trained.config), str(tmp_path / 'work'), 'pytorch')
    seen = {}
    run(cfg, 'test', prepare=lambda runner: seen.update(threads=gloo_worker_threads(),
                                                           model=type(runner.model).__name__))
    assert seen['model'] == 'MMDistributedDataParallel' and 'pt_gloo_runloop' in seen['threads']
    assert not torch_dist.is_initialized()
    assert not gloo_worker_threads()


def test_run_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match=r"mode must be one of \('train', 'val', 'test'\), got 'fit'"):
        run(Config(dict()), 'fit')


def test_downstream_scopes_register_their_modules():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    assert register_scope(Config(dict(default_scope='mmdet'))) == 'mmdet' and DET_MODELS.get('MaskRCNN')
    assert register_scope(Config(dict(default_scope='mmseg'))) == 'mmseg' and SEG_MODELS.get('UPerHead')


def test_unknown_scope_is_named(tmp_path):
    cfg = Config(dict(default_scope='mmaction'))
    with pytest.raises(ValueError,
                       match="default_scope is 'mmaction'; supported scopes: mmpretrain, mmdet, mmseg"):
        register_scope(cfg)


def test_train_py_rejects_bad_input(tmp_path, shared_imagenet_folder):
    result = run_tool_in_process(['tools/train.py', tmp_path / 'missing.py'], cwd=tmp_path)
    assert result.returncode != 0 and f'config file not found: {tmp_path / "missing.py"}' in result.stderr
    config = write_classifier_config(tmp_path / 'cfg.py', shared_imagenet_folder)
    result = run_tool_in_process(['tools/train.py', config, '--launcher', 'torchrun'], cwd=tmp_path)
    assert result.returncode == 2 and "argument --launcher: invalid choice: 'torchrun'" in result.stderr
    assert not (tmp_path / 'work_dirs').exists()
