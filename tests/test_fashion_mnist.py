"""Fashion-MNIST: the preparation tool, the label-subset dataset, the pre-training and fine-tuning
configs (one real training iteration each, through the tools) and the study's ``finetune``
evaluation with its from-scratch control.

The tests write tiny idx files in the official format (``*-idx*-ubyte.gz``); one test prepares the
real data set from Debian's package when ``apt-get`` can fetch it, and is skipped otherwise.
"""
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cmae_mm.datasets.fashion_mnist import (FASHION_MNIST_FILES, FashionMNISTLabelSubset,
                                            balanced_subset, check_idx_file)
from helpers import REPO, output_of, run_tool

PRETRAIN = str(REPO / 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py')
FINETUNE = str(REPO / 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py')
STUDY = str(REPO / 'configs/study/fmnist_mae_vs_cmae.yml')


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte idx file (the MNIST format) holding ``array``."""
    header = (0x800 + array.ndim).to_bytes(4, 'big')
    header += b''.join(int(d).to_bytes(4, 'big') for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_tiny_fmnist(folder: Path, train_per_class: int = 6, test_per_class: int = 2,
                      gz: bool = True, seed: int = 0) -> Path:
    """Four idx files with a few 28x28 images per class: bright squares whose size is the class."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, per_class in (('train', train_per_class), ('t10k', test_per_class)):
        labels = np.repeat(np.arange(10), per_class)
        rng.shuffle(labels)
        images = rng.integers(0, 40, (len(labels), 28, 28))
        for k, c in enumerate(labels):
            side = 4 + 2 * int(c)
            images[k, 14 - side // 2:14 + side // 2, 14 - side // 2:14 + side // 2] = 220
        for kind, data in (('images-idx3', images), ('labels-idx1', labels)):
            name = f'{prefix}-{kind}-ubyte'
            raw = idx_bytes(data)
            if gz:
                with gzip.open(folder / f'{name}.gz', 'wb') as f:
                    f.write(raw)
            else:
                (folder / name).write_bytes(raw)
    return folder


def test_check_idx_file_names_the_failed_check():
    labels = np.repeat(np.arange(10), 3)
    check_idx_file(idx_bytes(labels), 'train-labels-idx1-ubyte', md5='')
    with pytest.raises(ValueError, match='60000'):  # official counts without md5=''
        check_idx_file(idx_bytes(labels), 'train-labels-idx1-ubyte')
    with pytest.raises(ValueError, match='truncated'):
        check_idx_file(idx_bytes(np.zeros((3, 28, 28)))[:-5], 't10k-images-idx3-ubyte', md5='')
    with pytest.raises(ValueError, match='expected 28x28'):
        check_idx_file(idx_bytes(np.zeros((3, 32, 32))), 't10k-images-idx3-ubyte', md5='')
    with pytest.raises(ValueError, match='label 12'):
        check_idx_file(idx_bytes(np.array([12])), 't10k-labels-idx1-ubyte', md5='')
    with pytest.raises(ValueError, match='MD5'):
        check_idx_file(idx_bytes(labels), 'train-labels-idx1-ubyte', md5='0' * 32)


def test_prepare_tool_from_a_folder_of_gz_files(tmp_path):
    source = write_tiny_fmnist(tmp_path / 'src')
    out = tmp_path / 'data'
    args = ['tools/dataset_converters/prepare_fashion_mnist.py', '--source', str(source),
            '--out', str(out), '--no-checksum']
    result = run_tool(args, cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert 'wrote 4 checked file(s)' in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(FASHION_MNIST_FILES)
    with gzip.open(source / 'train-labels-idx1-ubyte.gz') as f:
        assert (out / 'train-labels-idx1-ubyte').read_bytes() == f.read()
    # Re-running keeps the checked files.
    result = run_tool(args, cwd=tmp_path)
    assert result.returncode == 0 and 'kept the 4 checked files' in result.stdout
    # A file cut short is rewritten (in-process: the same function the tool calls); a corrupt
    # source fails naming the file and writes nothing.
    from cmae_mm.datasets.fashion_mnist import prepare_fashion_mnist
    cut = out / 't10k-images-idx3-ubyte'
    cut.write_bytes(cut.read_bytes()[:100])
    assert 'wrote 1 checked file(s)' in prepare_fashion_mnist(str(out), str(source), False)
    assert len(cut.read_bytes()) == 16 + 20 * 28 * 28
    cut.unlink()
    with gzip.open(source / 't10k-images-idx3-ubyte.gz', 'wb') as f:
        f.write(idx_bytes(np.zeros((20, 28, 28)))[:-7])
    result = run_tool(args, cwd=tmp_path)
    assert result.returncode == 1
    assert 't10k-images-idx3-ubyte' in result.stderr and 'truncated' in result.stderr
    assert not cut.exists() and not list(out.glob('.*.part'))


# The preparation tool, SIGKILLed as it renames its third checked file into place.
KILLED_PREPARE = """
import os, runpy, signal, sys
real_replace, calls = os.replace, []
def replace(src, dst):
    calls.append(dst)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
os.replace = replace
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def test_prepare_tool_killed_midway_then_rerun_gives_the_complete_set(tmp_path):
    import signal
    import subprocess

    from helpers import PYTHON, tool_env

    source = write_tiny_fmnist(tmp_path / 'src')
    out = tmp_path / 'data'
    args = [str(REPO / 'tools/dataset_converters/prepare_fashion_mnist.py'), '--source',
            str(source), '--out', str(out), '--no-checksum']
    killed = subprocess.run([PYTHON, '-c', KILLED_PREPARE] + args, cwd=tmp_path, env=tool_env(),
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, output_of(killed)
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith('.'))
    assert len(written) == 2  # two complete files; the third only as a hidden temporary
    result = run_tool(['tools/dataset_converters/prepare_fashion_mnist.py'] + args[1:],
                      cwd=tmp_path)
    assert result.returncode == 0, output_of(result)
    assert 'wrote 2 checked file(s)' in result.stdout and '(kept 2)' in result.stdout
    for name in FASHION_MNIST_FILES:
        with gzip.open(source / f'{name}.gz') as f:
            assert (out / name).read_bytes() == f.read()


def test_prepare_tool_without_a_source_says_both_ways(tmp_path):
    result = run_tool(['tools/dataset_converters/prepare_fashion_mnist.py', '--source',
                       str(tmp_path / 'nowhere'), '--out', str(tmp_path / 'data')], cwd=tmp_path)
    assert result.returncode == 1
    assert 'missing train-images-idx3-ubyte.gz' in result.stderr
    assert '--source' in result.stderr and 'dataset-fashion-mnist' in result.stderr
    assert not (tmp_path / 'data').exists()


@pytest.mark.skipif(shutil.which('apt-get') is None, reason='no apt-get on this machine')
def test_prepare_tool_from_debian_package(tmp_path):
    out = tmp_path / 'fmnist'
    result = run_tool(['tools/dataset_converters/prepare_fashion_mnist.py', '--out', str(out)],
                      cwd=tmp_path, timeout=300)
    if result.returncode != 0 and 'no source found' in result.stderr:
        pytest.skip('Debian package dataset-fashion-mnist not reachable (apt-get update?)')
    assert result.returncode == 0, output_of(result)
    from mmpretrain.datasets import FashionMNIST
    train = FashionMNIST(data_root=str(out), data_prefix='', test_mode=False, download=False)
    test = FashionMNIST(data_root=str(out), data_prefix='', test_mode=True, download=False)
    assert len(train) == 60000 and len(test) == 10000
    counts = np.bincount([int(train.get_data_info(i)['gt_label']) for i in range(len(train))])
    assert counts.tolist() == [6000] * 10


def test_balanced_subset_is_seeded_and_balanced(tmp_path):
    labels = np.repeat(np.arange(10), 7)
    a, b = balanced_subset(labels, 3, seed=1), balanced_subset(labels, 3, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, balanced_subset(labels, 3, seed=2))
    assert np.bincount(labels[a]).tolist() == [3] * 10
    with pytest.raises(ValueError, match='labels_per_class=8: class 0 has only 7'):
        balanced_subset(labels, 8, seed=0)
    root = write_tiny_fmnist(tmp_path / 'd', gz=False)
    full = FashionMNISTLabelSubset(data_root=str(root), data_prefix='', test_mode=False,
                                   download=False)
    few = FashionMNISTLabelSubset(data_root=str(root), data_prefix='', test_mode=False,
                                  download=False, labels_per_class=2, subset_seed=0)
    assert len(full) == 60 and len(few) == 20
    assert np.bincount([int(few.get_data_info(i)['gt_label']) for i in range(20)]).tolist() \
        == [2] * 10
    with pytest.raises(ValueError, match='labels_per_class=0'):
        FashionMNISTLabelSubset(data_root=str(root), data_prefix='', test_mode=False,
                                download=False, labels_per_class=0)


def test_pretrain_then_finetune_configs_train_through_the_tools(tmp_path):
    """One pre-training epoch (two iterations), then fine-tuning from it (strict load) and from
    scratch, then tools/test.py: all as a user runs them."""
    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=4)
    data = [f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')]
    pre = tmp_path / 'pre'
    result = run_tool(['tools/train.py', PRETRAIN, '--work-dir', str(pre), '--cfg-options',
                       f'train_dataloader.dataset.data_root={root}', 'train_cfg.max_epochs=1',
                       'train_dataloader.batch_size=20', 'default_hooks.logger.interval=1'],
                      cwd=tmp_path, timeout=300)
    assert result.returncode == 0, output_of(result)[-3000:]
    scalars = [json.loads(line) for line in
               next(pre.glob('*/vis_data/scalars.json')).read_text().splitlines()]
    steps = [s for s in scalars if 'loss' in s]
    assert len(steps) == 2 and all(s['loss'] > 0 for s in steps)
    assert all(s['rec_err_trivial'] > 0 and 'rec_err_shot2' in s for s in steps)
    ckpt = pre / 'epoch_1.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert state['backbone.patch_embed.projection.weight'].shape == (64, 1, 4, 4)

    for name, init in (('ft', f'model.backbone.init_cfg.checkpoint={ckpt}'),
                       ('scratch', 'model.backbone.init_cfg=None')):
        work = tmp_path / name
        result = run_tool(['tools/train.py', FINETUNE, '--work-dir', str(work), '--cfg-options',
                           init, 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                           'train_dataloader.dataset.labels_per_class=2',
                           'default_hooks.logger.interval=1'] + data, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, output_of(result)[-3000:]
        log = output_of(result)
        if name == 'ft':
            assert "new by design: ['ln2.bias', 'ln2.weight']" in log, log[-3000:]
            assert "unused by design: ['ln1.bias', 'ln1.weight']" in log
        else:
            assert 'loaded' not in log or 'TransferViT: loaded' not in log
        result = run_tool(['tools/test.py', FINETUNE, str(work / 'epoch_1.pth'), '--work-dir',
                           str(work / 'test')] + ['--cfg-options'] + data, cwd=tmp_path)
        assert result.returncode == 0, output_of(result)[-3000:]
        assert 'accuracy/top1' in output_of(result)


def test_finetune_config_refuses_a_mismatched_checkpoint(tmp_path):
    """A digits-demo checkpoint (3 channels, 32 px) cannot be loaded into the 1-channel encoder:
    the error names the mismatch; nothing trains."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import cmae_mm  # noqa: F401
    demo = Config.fromfile(str(REPO / 'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py'))
    model = MODELS.build(demo.model)
    ckpt = tmp_path / 'demo.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    root = write_tiny_fmnist(tmp_path / 'data', gz=False)
    result = run_tool(['tools/train.py', FINETUNE, '--work-dir', str(tmp_path / 'ft'),
                       '--cfg-options', f'model.backbone.init_cfg.checkpoint={ckpt}',
                       'train_cfg.max_epochs=1', 'train_dataloader.dataset.labels_per_class=2'] + [
                           f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val')],
                      cwd=tmp_path, timeout=300)
    assert result.returncode != 0
    assert 'patch_embed.projection.weight' in output_of(result)


def test_finetune_evaluation_and_its_shared_control(tmp_path):
    """The study evaluation: fine-tune + test through the tools, the from-scratch control once per
    seed in <study>/controls, reused by a second run of the same seed."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import cmae_mm  # noqa: F401
    from cmae_mm.study.evaluations import finetune

    root = write_tiny_fmnist(tmp_path / 'data', gz=False)
    cfg = Config.fromfile(PRETRAIN)
    runs = []
    for run in ('mae_seed0', 'cmae_seed0'):
        torch.manual_seed(len(run))
        model = MODELS.build(cfg.model)
        model.init_weights()
        (tmp_path / 'study' / run).mkdir(parents=True)
        ckpt = tmp_path / 'study' / run / 'epoch_1.pth'
        torch.save({'state_dict': model.state_dict()}, ckpt)
        runs.append(finetune(cfg, ckpt, 0, labels_per_class=2, epochs=2, data_root=str(root)))
    for metrics in runs:
        assert set(metrics) == {'finetune_top1', 'finetune_top1_from_scratch'}
        assert all(0 <= v <= 100 for v in metrics.values())
    assert runs[0]['finetune_top1_from_scratch'] == runs[1]['finetune_top1_from_scratch']
    controls = list((tmp_path / 'study' / 'controls').iterdir())
    assert len(controls) == 1 and controls[0].name.endswith('_seed0')
    assert (controls[0] / 'epoch_2.pth').is_file()
    saved = json.loads((tmp_path / 'study' / 'mae_seed0' / 'finetune' /
                        'test_metrics.json').read_text())
    assert saved['accuracy/top1'] == runs[0]['finetune_top1']


def test_shipped_fmnist_studies_are_valid():
    from cmae_mm.study.spec import load_study

    study = load_study(STUDY)
    assert [r.name for r in study.runs] == ['mae', 'cmae', 'cmae-3shot']
    assert len(study.seeds) >= 3
    assert [n for n, _ in study.evaluations] == ['finetune', 'linear_probe']
    sweep = load_study(str(REPO / 'configs/study/fmnist_shot_layer.yml'))
    assert [r.layers for r in sweep.runs] == [(0, j) for j in (2, 4, 6, 8, 10, 11)]
    # both studies use the same pre-training recipe, so the sweep compares with mae_seed0
    assert {k: v for k, v in sweep.runs[0].cfg_options.items() if 'mask' not in k} == \
        {k: v for k, v in study.runs[0].cfg_options.items() if 'mask' not in k}


def test_finetune_config_tests_on_the_test_images(tmp_path):
    """mmpretrain 1.2.0's FashionMNIST reads the files of test_mode (split alone is ignored):
    the config's test set must be the t10k files, its training set the train files."""
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS

    import cmae_mm  # noqa: F401
    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=6, test_per_class=2)
    cfg = Config.fromfile(FINETUNE)
    sizes = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = dict(cfg[loader].dataset, data_root=str(root))
        if loader == 'train_dataloader':
            dataset['labels_per_class'] = None
        sizes[loader] = len(DATASETS.build(dataset))
    assert sizes == {'train_dataloader': 60, 'val_dataloader': 20, 'test_dataloader': 20}


def test_fcmae_init_comparison_tool_runs_both_inits(tmp_path):
    """tools/analysis/compare_fcmae_init.py: both initialisations train on the same batches (tiny
    run: 3 steps, 64 px) and write results.json with a finite first loss each."""
    data = write_tiny_fmnist(tmp_path / 'fmnist', gz=False)
    out = tmp_path / 'out'
    result = run_tool(['tools/analysis/compare_fcmae_init.py', '--steps', '3', '--batch-size', '2',
                       '--img-size', '64', '--lrs', '1', '--every', '1', '--data-root', data,
                       '--out-dir', out], cwd=tmp_path, timeout=300)
    assert result.returncode == 0, output_of(result)[-3000:]
    runs = json.loads((out / 'results.json').read_text())['runs']
    assert [r['weight_init'] for r in runs] == ['fcmae', 'trunc_normal_0.02']
    assert all(len(r['losses']) == 3 and np.isfinite(r['first']) for r in runs)
    assert runs[0]['first'] > runs[1]['first']  # std-1.0 predictions start far from the target
    assert (out / 'loss_curves.png').is_file()
    bad = run_tool(['tools/analysis/compare_fcmae_init.py', '--img-size', '100'], cwd=tmp_path)
    assert bad.returncode == 2 and '--img-size=100 must be a multiple of' in bad.stderr
