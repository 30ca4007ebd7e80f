"""Distributed training on CPU through the repo's launch scripts.

``tools/dist_train.sh`` starts two torchrun processes on this CPU-only machine: without the CPU
shims mmengine's pytorch launcher calls ``torch.cuda.set_device`` and its DDP wrapper asks for a
GPU ("Found no NVIDIA driver"), and the config's SyncBN layers cannot be wrapped ("SyncBatchNorm
layers only work with GPU modules"). ``tools/slurm_train.sh`` runs one task through a stand-in
``srun`` that sets the variables slurm sets (marked slow: run with ``-m slow``).
"""
import pickle
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import cmae_mm  # noqa: F401  (torch.load of Runner checkpoints)
from helpers import free_port, output_of, run_logs, run_tool, tool_env, write_classifier_config

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
    ckpt = torch.load(dist_run.work_dir / 'epoch_1.pth')
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
