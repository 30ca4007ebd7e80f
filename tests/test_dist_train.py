"""Distributed training on CPU through the repo's launch scripts.

``tools/dist_train.sh`` starts two torchrun processes on this CPU-only machine: without the CPU
shims mmengine's pytorch launcher calls ``torch.cuda.set_device`` and its DDP wrapper asks for a
GPU ("Found no NVIDIA driver"), and the config's SyncBN layers cannot be wrapped ("SyncBatchNorm
layers only work with GPU modules"). ``tools/slurm_train.sh`` runs one task through a stand-in
``srun`` that sets the variables slurm sets (marked slow: run with ``-m slow``).
"""
import json
import pickle
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import cmae_mm.components  # noqa: F401  (torch.load of Runner checkpoints)
from helpers import (free_port, load_runner_checkpoint, output_of, run_logs, run_tool, tool_env,
                     write_classifier_config)

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory, shared_imagenet_folder):
    """``tools/dist_train.sh <tiny SyncBN classifier> 2``: one epoch with two CPU processes."""
    root = tmp_path_factory.mktemp('dist')
    config = write_classifier_config(root / 'tiny_syncbn.py', shared_imagenet_folder, norm='SyncBN')
    env = tool_env(PORT=str(free_port()), OMP_NUM_THREADS='1')
    result = run_tool(['tools/dist_train.sh', config, '2'], cwd=root, env=env)
    return SimpleNamespace(root=root, config=config, env=env, result=result,
                           work_dir=root / 'work_dirs' / 'tiny_syncbn')  # default: work_dirs/<config stem>


def test_dist_train_sh_two_cpu_processes(dist_run):
    out = output_of(dist_run.result)
    assert dist_run.result.returncode == 0, out[-6000:]
    log = run_logs(dist_run.work_dir)
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert "'backend': 'gloo'" in log
    # 8 training images, 2 per batch and process: 2 iterations per epoch with 2 processes (4 with 1)
    assert 'Epoch(train) [1][2/2]' in log and 'Epoch(train) [1][3/' not in log
    assert 'Epoch(val) [1][1/1]' in log  # 4 validation images over 2 processes
    assert 'model.backbone.norm_cfg: SyncBN -> BN' in out
    ranks = set(re.findall(r'gloo process group, rank (\d) of 2', out))
    assert ranks == {'0', '1'}, out[-6000:]
    ckpt = load_runner_checkpoint(dist_run.work_dir / 'epoch_1.pth')
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 2


def test_dist_test_sh_gathers_both_processes(dist_run, shared_imagenet_folder):
    ckpt = dist_run.work_dir / 'epoch_1.pth'
    if not ckpt.is_file():
        pytest.skip('dist_train.sh failed (see test_dist_train_sh_two_cpu_processes)')
    preds, work_dir = dist_run.root / 'preds.pkl', dist_run.root / 'test'
    env = dict(dist_run.env, PORT=str(free_port()))
    result = run_tool(['tools/dist_test.sh', dist_run.config, ckpt, '2', '--work-dir', work_dir,
                       '--out', preds], cwd=dist_run.root, env=env)
    assert result.returncode == 0, output_of(result)[-6000:]
    log = run_logs(work_dir)
    assert f'Load checkpoint from {ckpt}' in log
    assert 'GPU number: 2' in log and 'Epoch(test) [1/1]' in log
    with open(preds, 'rb') as f:
        names = sorted(Path(p['img_path']).name for p in pickle.load(f))
    assert names == sorted(p.name for p in (shared_imagenet_folder / 'val').rglob('*.JPEG'))


def test_dist_train_sh_rejects_bad_process_count(tmp_path):
    result = run_tool(['tools/dist_train.sh', 'config.py', 'two'], cwd=tmp_path)
    assert result.returncode == 2 and 'GPUS must be a positive integer' in result.stderr
    result = run_tool(['tools/dist_train.sh', 'config.py'], cwd=tmp_path)
    assert result.returncode == 2 and 'usage:' in result.stderr


@pytest.mark.slow  # ~15 s; the slurm CPU set-up itself is also covered in-process by test_compat.py
def test_slurm_train_sh_one_cpu_task(tmp_path, shared_imagenet_folder):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    # stand-in srun: record the command line, drop srun's options, set slurm's task variables, run
    srun.write_text('#!/usr/bin/env bash\n'
                    'echo "srun $*" > "$SRUN_RECORD"\n'
                    'while [[ $# -gt 0 && "$1" == -* ]]; do [[ "$1" == -p ]] && shift; shift; done\n'
                    'SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 exec "$@"\n')
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    config = write_classifier_config(tmp_path / 'tiny.py', shared_imagenet_folder)
    work_dir = tmp_path / 'slurm_work'
    env = tool_env(PATH=f'{bin_dir}:{tool_env()["PATH"]}', SRUN_RECORD=str(tmp_path / 'srun.txt'),
                   GPUS='1', GPUS_PER_NODE='0', CPUS_PER_TASK='2', SRUN_ARGS='--quotatype=auto',
                   MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    result = run_tool(['tools/slurm_train.sh', 'cpu', 'tiny', config, work_dir, '--no-validate'],
                      cwd=tmp_path, env=env)
    assert result.returncode == 0, output_of(result)[-6000:]
    record = (tmp_path / 'srun.txt').read_text()
    assert record.startswith('srun -p cpu --job-name=tiny --ntasks=1 --ntasks-per-node=1 --cpus-per-task=2 '
                             '--kill-on-bad-exit=1 --quotatype=auto ')
    assert f'--work-dir={work_dir} --launcher=slurm --no-validate' in record
    log = run_logs(work_dir)
    assert 'Distributed launcher: slurm' in log and 'GPU number: 1' in log
    assert 'Epoch(train) [1][4/4]' in log and 'Epoch(val)' not in log  # --no-validate
    assert (work_dir / 'epoch_1.pth').is_file()


def test_scripts_are_executable():
    tools = Path(__file__).resolve().parents[1] / 'tools'
    for name in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh'):
        assert (tools / name).stat().st_mode & stat.S_IXUSR, name


def deterministic_gn_config(path: Path, data_root: Path, batch_size: int) -> Path:
    """The tiny classifier with per-sample normalisation (GroupNorm), no random augmentation and
    an unshuffled sampler: every sample's gradient is independent of how samples are split into
    batches and processes, so 2 processes x batch B must equal 1 process x batch 2B."""
    write_classifier_config(path, data_root, norm='GN', batch_size=batch_size)
    text = path.read_text()
    text = text.replace("dict(type='GN', requires_grad=True)", "dict(type='GN', num_groups=4, requires_grad=True)")
    text = text.replace("    dict(type='RandomResizedCrop', scale=32),\n    dict(type='RandomFlip', prob=0.5, direction='horizontal'),\n",
                        "    dict(type='Resize', scale=(32, 32)),\n")
    text = text.replace("sampler=dict(type='DefaultSampler', shuffle=True)", "sampler=dict(type='DefaultSampler', shuffle=False)")
    assert 'RandomResizedCrop' not in text and 'shuffle=True' not in text
    path.write_text(text)
    return path


def test_dist_train_equals_one_process_with_the_same_total_batch(tmp_path, shared_imagenet_folder):
    """2 CPU processes x batch 2 and 1 process x batch 4, same seed: same weights after 2 steps
    (DDP averages the two halves' gradients; only the summation order differs)."""
    from cmae_mm.engine.checkpoint import read_state_dict

    dist_cfg = deterministic_gn_config(tmp_path / 'gn_dist.py', shared_imagenet_folder, batch_size=2)
    single_cfg = deterministic_gn_config(tmp_path / 'gn_single.py', shared_imagenet_folder, batch_size=4)
    env = tool_env(OMP_NUM_THREADS='1')
    dist = run_tool(['tools/dist_train.sh', dist_cfg, '2', '--work-dir', tmp_path / 'dist', '--no-validate'],
                    cwd=tmp_path, env=env)
    assert dist.returncode == 0, output_of(dist)[-4000:]
    single = run_tool(['tools/train.py', single_cfg, '--work-dir', tmp_path / 'single', '--no-validate'],
                      cwd=tmp_path, env=env)
    assert single.returncode == 0, output_of(single)[-4000:]
    assert 'Epoch(train) [1][2/2]' in run_logs(tmp_path / 'dist')
    assert 'Epoch(train) [1][2/2]' in run_logs(tmp_path / 'single')
    a = read_state_dict(str(tmp_path / 'dist' / 'epoch_1.pth'))
    b = read_state_dict(str(tmp_path / 'single' / 'epoch_1.pth'))
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)


def test_dist_test_metrics_equal_test_py(dist_run, tmp_path):
    ckpt = dist_run.work_dir / 'epoch_1.pth'
    if not ckpt.is_file():
        pytest.skip('dist_train.sh failed (see test_dist_train_sh_two_cpu_processes)')
    one = run_tool(['tools/test.py', dist_run.config, ckpt, '--work-dir', tmp_path / 'one'], cwd=tmp_path)
    two = run_tool(['tools/dist_test.sh', dist_run.config, ckpt, '2', '--work-dir', tmp_path / 'two'],
                   cwd=tmp_path, env=dist_run.env)
    assert one.returncode == 0 and two.returncode == 0, (output_of(one) + output_of(two))[-4000:]

    def metrics(work_dir: Path) -> dict:
        files = [p for p in work_dir.glob('*/*.json')]
        assert len(files) == 1, files
        return json.loads(files[0].read_text())

    assert metrics(tmp_path / 'one')['accuracy/top1'] == metrics(tmp_path / 'two')['accuracy/top1']
