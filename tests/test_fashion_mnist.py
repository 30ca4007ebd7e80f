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

from cmae_mm.datasets.fashion_mnist import (FASHION_MNIST_FILES, VAL_SPLIT_FILE,
                                            FashionMNISTLabelSubset, balanced_subset,
                                            check_idx_file, validation_indices)
from helpers import REPO, output_of, run_tool, run_tool_in_process

PRETRAIN = str(REPO / 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py')
FINETUNE = str(REPO / 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py')
SCRATCH = 'configs/classification/fashion_mnist/vit-tiny-p4_scratch_fashion-mnist.py'
MIXUP = str(REPO / 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e-mixup_fashion-mnist.py')
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
    assert sorted(p.name for p in out.iterdir()) == sorted([*FASHION_MNIST_FILES, VAL_SPLIT_FILE])
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


def _images(dataset) -> set:
    """The dataset's images as hashable bytes (the tiny sets have no two equal images)."""
    return {np.asarray(dataset.get_data_info(i)['img']).tobytes() for i in range(len(dataset))}


def test_validation_split_is_disjoint_from_every_labelled_subset_and_the_test_set(tmp_path):
    """part='val' is a seeded sixth of every class of the training images; the labelled subsets
    (part='train', any seed) never hold one of its images, and the test images are never in it.
    The prepared folder records the split; a changed data folder is refused, naming the record."""
    from cmae_mm.datasets.fashion_mnist import prepare_fashion_mnist

    root = tmp_path / 'data'
    prepare_fashion_mnist(str(root), str(write_tiny_fmnist(tmp_path / 'src', train_per_class=12,
                                                           test_per_class=3)), False)
    record = json.loads((root / VAL_SPLIT_FILE).read_text())
    assert record['val_per_class'] == [2] * 10 and record['val_images'] == 20

    def build(**kw):
        return FashionMNISTLabelSubset(data_root=str(root), data_prefix='', download=False, **kw)

    val = build(part='val', test_mode=False)
    pool = build(part='train', test_mode=False)
    test = build(test_mode=True, split='test')
    assert len(val) == 20 and len(pool) == 100 and len(test) == 30
    assert np.bincount([int(val.get_data_info(i)['gt_label']) for i in range(len(val))]
                       ).tolist() == [2] * 10
    assert sorted(np.array(record['indices'])) == record['indices']
    assert not _images(val) & _images(pool) and not _images(val) & _images(test)
    assert _images(val) | _images(pool) == _images(build(test_mode=False))
    for seed in range(5):
        subset = build(part='train', test_mode=False, labels_per_class=10, subset_seed=seed)
        assert len(subset) == 100 and not _images(subset) & _images(val)
    # the official sizes: 1,000 per class, deterministic
    labels = np.repeat(np.arange(10), 6000)
    full = validation_indices(labels)
    assert len(full) == 10000 and np.array_equal(full, validation_indices(labels))
    assert np.bincount(labels[full]).tolist() == [1000] * 10
    with pytest.raises(ValueError, match="part='valid'"):
        build(part='valid', test_mode=False)
    with pytest.raises(ValueError, match='needs test_mode=False'):
        build(part='val', test_mode=True)
    record['sha1'] = '0' * 40
    (root / VAL_SPLIT_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f'{VAL_SPLIT_FILE}: the recorded validation split'):
        build(part='val', test_mode=False)


def test_pixel_baselines_choose_on_validation_and_score_the_test_images(tmp_path):
    """Logistic regression, k-NN and an RBF SVM on the raw pixels of the seed's labelled subset:
    knobs chosen on the validation split, scored once on the test set, kept per seed."""
    from mmengine.config import Config

    from cmae_mm.study.evaluations import PIXEL_GRIDS, pixel_baselines

    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=12, test_per_class=3)
    cfg = Config.fromfile(PRETRAIN)
    ckpt = tmp_path / 'study' / 'mae_seed0' / 'epoch_1.pth'
    metrics = pixel_baselines(cfg, ckpt, 0, labels_per_class=5, data_root=str(root))
    assert set(metrics) == {f'finetune_top1_pixel_{k}' for k in PIXEL_GRIDS}
    # the squares' size is the class: every classifier separates them
    assert all(v > 50 for v in metrics.values()), metrics
    saved = json.loads(next((tmp_path / 'study' / 'controls').glob('pixels-*_seed0/pixels.json'))
                       .read_text())
    assert (saved['train_images'], saved['val_images'], saved['test_images']) == (50, 20, 30)
    for kind, (knob, grid) in PIXEL_GRIDS.items():
        chosen = saved['classifiers'][kind]
        assert chosen['knob'] == knob and chosen['chosen'] in grid
        assert len(chosen['val_top1']) == len(grid)
        assert chosen['val_top1'][str(chosen['chosen'])] == max(chosen['val_top1'].values())
    assert pixel_baselines(cfg, ckpt, 0, labels_per_class=5, data_root=str(root)) == metrics


def test_study_controls_command_computes_a_seeds_controls_ahead_of_the_runs(tmp_path):
    """`study.py controls STUDY --seeds 1` (as a user runs it) computes seed 1's pixel baselines
    into the shared controls folder, where the runs' evaluations then find them; a seed the study
    does not have is refused in one line."""
    import yaml

    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=12, test_per_class=3)
    study = tmp_path / 'study.yml'
    study.write_text(yaml.safe_dump(dict(
        name='tiny', base_config=PRETRAIN, seeds=[0, 1], work_root=str(tmp_path / 'studies'),
        runs=[dict(name='mae', mask_layers=[0], mask_ratios=[0.75])],
        evaluations=[dict(name='pixel_baselines', labels_per_class=5, data_root=str(root),
                          controls_dir=str(tmp_path / 'controls'))])))
    done = run_tool(['tools/study/study.py', 'controls', str(study), '--seeds', '1'], cwd=tmp_path)
    assert done.returncode == 0, output_of(done)
    assert 'seed 1: finetune_top1_pixel_logreg=' in done.stdout
    saved = list((tmp_path / 'controls').glob('pixels-*_seed*/pixels.json'))
    assert [p.parent.name.split('_')[-1] for p in saved] == ['seed1']
    bad = run_tool(['tools/study/study.py', 'controls', str(study), '--seeds', '7'], cwd=tmp_path)
    assert bad.returncode == 2 and 'seeds [7] are not seeds of tiny' in bad.stderr


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

    for name, config, init in (('ft', FINETUNE, f'model.backbone.init_cfg.checkpoint={ckpt}'),
                               ('scratch', FINETUNE, 'model.backbone.init_cfg=None'),
                               ('mixup', MIXUP, f'model.backbone.init_cfg.checkpoint={ckpt}')):
        work = tmp_path / name
        result = run_tool(['tools/train.py', config, '--work-dir', str(work), '--cfg-options',
                           init, 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                           'train_dataloader.dataset.labels_per_class=2',
                           'default_hooks.logger.interval=1'] + data, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, output_of(result)[-3000:]
        log = output_of(result)
        if name == 'mixup':  # the paper's batch augmentation trial: proven by one epoch
            continue
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

    import cmae_mm.components  # noqa: F401
    demo = Config.fromfile(str(REPO / 'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py'))
    model = MODELS.build(demo.model)
    ckpt = tmp_path / 'demo.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    root = write_tiny_fmnist(tmp_path / 'data', gz=False)
    result = run_tool_in_process(
        ['tools/train.py', FINETUNE, '--work-dir', str(tmp_path / 'ft'), '--cfg-options',
         f'model.backbone.init_cfg.checkpoint={ckpt}', 'train_cfg.max_epochs=1',
         'train_dataloader.dataset.labels_per_class=2'] + [
             f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val')], cwd=tmp_path)
    assert result.returncode != 0
    assert 'patch_embed.projection.weight' in output_of(result)


def test_finetune_evaluation_and_its_shared_control(tmp_path):
    """The study evaluation: fine-tune + test through the tools, the from-scratch control once per
    seed in <study>/controls, reused by a second run of the same seed."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import cmae_mm.components  # noqa: F401
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
        runs.append(finetune(cfg, ckpt, 0, labels_per_class=2, epochs=2, data_root=str(root),
                             scratch=dict(config=SCRATCH, epochs=3)))
    for metrics in runs:
        assert set(metrics) == {'finetune_top1', 'finetune_top1_from_scratch',
                                'finetune_top1_from_scratch_tuned'}
        assert all(0 <= v <= 100 for v in metrics.values())
    for control in ('finetune_top1_from_scratch', 'finetune_top1_from_scratch_tuned'):
        assert runs[0][control] == runs[1][control]
    controls = sorted(c for c in (tmp_path / 'study' / 'controls').iterdir() if c.is_dir())
    assert [c.name.split('-')[0] for c in controls] == ['finetune', 'scratch']
    assert all(c.name.endswith('_seed0') for c in controls)
    assert (controls[0] / 'epoch_2.pth').is_file() and (controls[1] / 'epoch_3.pth').is_file()
    # the tuned control has no layer decay; the pre-trained arm's recipe has 0.75
    tuned_log = (controls[1] / 'finetune.log').read_text()
    assert 'layer_decay_rate=1.0' in tuned_log or "'layer_decay_rate': 1.0" in tuned_log
    # recipe search: the same arm scored on the validation split, in a work dir of its own
    val = finetune(cfg, ckpt, 0, labels_per_class=2, epochs=2, data_root=str(root),
                   from_scratch=False, score_on='val')
    assert set(val) == {'finetune_top1'}
    scored = json.loads((tmp_path / 'study' / 'cmae_seed0' / 'finetune_val' /
                         'val_metrics.json').read_text())
    assert scored['accuracy/top1'] == val['finetune_top1']
    assert 'part=val' in (tmp_path / 'study' / 'cmae_seed0' / 'finetune_val' /
                          'finetune.log').read_text()
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
    the config's test set must be the t10k files, its training set and validation split the
    train files (disjoint parts)."""
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS

    import cmae_mm.components  # noqa: F401
    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=6, test_per_class=2)
    cfg = Config.fromfile(FINETUNE)
    sizes = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = dict(cfg[loader].dataset, data_root=str(root))
        if loader == 'train_dataloader':
            dataset['labels_per_class'] = None
        sizes[loader] = len(DATASETS.build(dataset))
    # training: the 50 outside the validation split; validation: a sixth of the training images
    assert sizes == {'train_dataloader': 50, 'val_dataloader': 10, 'test_dataloader': 20}


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
