"""ImageNet-100: the packaged CMC class list, the builder (both modes, CLI) and the dataset class.

The builder runs on a tiny fake ImageNet-1K under ``tmp_path``: real 8x8 JPEGs for the 100
ImageNet-100 classes plus a few other ImageNet-1K classes, in mmpretrain's class-folder layout.
"""
import os
import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from typing import Dict

import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS

import cmae_mm.components  # noqa: F401  (registers ImageNet100)
from cmae_mm.datasets import IMAGENET100_CLASSES, ImageNet100, MissingClassesError, load_class_list
from cmae_mm.datasets.imagenet100 import CLASS_LIST_FILE, build_imagenet100

ROOT = Path(__file__).resolve().parents[1]
# build_imagenet100 is tested directly, its command line as a subprocess (test_cli)
TOOL = ROOT / 'tools' / 'dataset_converters' / 'build_imagenet100.py'
EXTRA_CLASSES = ('n01440764', 'n01443537', 'n15075141')  # ImageNet-1K, not ImageNet-100
# A class whose label (position in the CMC list) differs from its rank among sorted wnids.
PROBE = 'n02869837'


def _jpeg_bytes() -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.new('RGB', (8, 8), (200, 40, 90)).save(buf, format='JPEG')
    return buf.getvalue()


def _train_count(label: int) -> int:
    return 1 + label % 2  # 1 or 2 images per class


@pytest.fixture(scope='module')
def imagenet1k(tmp_path_factory) -> Path:
    """Fake ImageNet-1K root: train/<wnid>/<wnid>_<k>.JPEG and val/<wnid>/ILSVRC2012_val_*.JPEG."""
    root = tmp_path_factory.mktemp('imagenet')
    jpeg = _jpeg_bytes()
    index = 0
    for label, wnid in enumerate(IMAGENET100_CLASSES + EXTRA_CLASSES):
        train_dir, val_dir = root / 'train' / wnid, root / 'val' / wnid
        train_dir.mkdir(parents=True)
        val_dir.mkdir(parents=True)
        for k in range(_train_count(label)):
            (train_dir / f'{wnid}_{k}.JPEG').write_bytes(jpeg)
        index += 1
        (val_dir / f'ILSVRC2012_val_{index:08d}.JPEG').write_bytes(jpeg)
    (root / 'train' / PROBE / 'notes.txt').write_text('not an image')
    return root


def _expected_counts() -> Dict[str, int]:
    return {'train': sum(_train_count(i) for i in range(100)), 'val': 100}


def _label_of(img_path: str) -> int:
    return IMAGENET100_CLASSES.index(Path(img_path).parent.name)


def _no_leftovers(parent: Path) -> bool:
    return not list(parent.glob('.*.partial'))


def test_class_list_is_the_cmc_imagenet100_subset():
    assert isinstance(IMAGENET100_CLASSES, tuple)
    assert len(IMAGENET100_CLASSES) == 100 == len(set(IMAGENET100_CLASSES))
    assert all(re.fullmatch(r'n\d{8}', w) for w in IMAGENET100_CLASSES)
    lines = CLASS_LIST_FILE.read_text().splitlines()
    assert tuple(lines) == IMAGENET100_CLASSES  # pure list: one wnid per line, nothing else
    # CMC order (labels): first and last entries of HobbitLong/CMC imagenet100.txt
    assert IMAGENET100_CLASSES[:2] == ('n02869837', 'n01749939')
    assert IMAGENET100_CLASSES[-2:] == ('n01855672', 'n02090622')
    timm = pytest.importorskip('timm')
    synsets = Path(timm.__file__).parent / 'data' / '_info' / 'imagenet_synsets.txt'
    if synsets.is_file():
        assert set(IMAGENET100_CLASSES) <= set(synsets.read_text().split())


def test_load_class_list_rejects_bad_lists(tmp_path):
    bad = tmp_path / 'bad.txt'
    bad.write_text('n01440764\nn0144\n')
    with pytest.raises(ValueError, match=r"line 2: 'n0144' is not a WordNet id"):
        load_class_list(bad)
    bad.write_text('n01440764\nn01443537\nn01440764\n')
    with pytest.raises(ValueError, match='repeats 1 wnid.*n01440764'):
        load_class_list(bad)


def test_build_symlink_mode_and_load(imagenet1k, tmp_path):
    dst, log = tmp_path / 'imagenet100', []
    summary = build_imagenet100(imagenet1k, dst, mode='symlink', log=log.append)

    for split in ('train', 'val'):
        entries = sorted(os.listdir(dst / split))
        assert entries == sorted(IMAGENET100_CLASSES)
        link = dst / split / PROBE
        assert link.is_symlink() and link.resolve() == (imagenet1k / split / PROBE).resolve()
    assert not (dst / 'meta').exists() and _no_leftovers(tmp_path)
    assert {s.split: s.num_images for s in summary.splits} == _expected_counts()
    assert all(s.num_classes == 100 and not s.empty_classes for s in summary.splits)
    assert any('train: 100 classes, 150 images (1-2 per class)' in line for line in log)

    train = ImageNet100(data_root=str(dst), split='train')
    assert len(train) == _expected_counts()['train']
    assert train.metainfo['classes'] == IMAGENET100_CLASSES and len(train.CLASSES) == 100
    for i in range(len(train)):
        info = train.get_data_info(i)
        assert info['gt_label'] == _label_of(info['img_path'])
    assert {train.get_data_info(i)['gt_label'] for i in range(len(train))} == set(range(100))

    val = DATASETS.build(dict(type='ImageNet100', data_root=str(dst), split='val',
                              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    assert len(val) == 100
    sample = val[0]
    assert tuple(sample['inputs'].shape) == (3, 8, 8)
    assert sample['data_samples'].gt_label.tolist() == [_label_of(val.get_data_info(0)['img_path'])]


def test_build_annfile_mode_and_load(imagenet1k, tmp_path):
    dst = tmp_path / 'in100'
    build_imagenet100(imagenet1k, dst, mode='annfile', log=lambda _: None)

    assert sorted(os.listdir(dst)) == ['meta'] and sorted(os.listdir(dst / 'meta')) == [
        'train.txt', 'val.txt']
    lines = (dst / 'meta' / 'train.txt').read_text().splitlines()
    assert len(lines) == _expected_counts()['train']
    assert lines[0] == f'train/{PROBE}/{PROBE}_0.JPEG 0'
    labels = [int(line.rsplit(' ', 1)[1]) for line in lines]
    assert labels == sorted(labels) and set(labels) == set(range(100))
    for line in lines:
        path, label = line.rsplit(' ', 1)
        assert (imagenet1k / path).is_file()
        assert int(label) == IMAGENET100_CLASSES.index(path.split('/')[1])

    train = ImageNet100(data_root=str(imagenet1k), ann_file=str(dst / 'meta' / 'train.txt'))
    assert len(train) == len(lines) and len(train.CLASSES) == 100
    info = train.get_data_info(len(train) - 1)
    assert info['gt_label'] == 99 and Path(info['img_path']).is_file()
    val = DATASETS.build(dict(type='ImageNet100', data_root=str(imagenet1k),
                              ann_file=str(dst / 'meta' / 'val.txt'),
                              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    assert len(val) == 100
    assert val[5]['data_samples'].gt_label.tolist() == [5]

    bad = tmp_path / 'bad.txt'
    bad.write_text('\n'.join(lines[:3] + [lines[3].replace(' ', '_')] + lines[4:6]) + '\n')
    with pytest.raises(ValueError, match=r"ann file '.*bad.txt', line 4: .* is not '<relative/path> "
                                         r"<integer label>'"):
        ImageNet100(data_root=str(imagenet1k), ann_file=str(bad))


def test_dataset_reads_imagenet1k_folders_directly(imagenet1k):
    train = ImageNet100(data_root=str(imagenet1k), split='train')  # extra classes are ignored
    assert len(train) == _expected_counts()['train']
    assert all(Path(train.get_data_info(i)['img_path']).parent.name in IMAGENET100_CLASSES
               for i in range(len(train)))


def test_dataset_rejects_out_of_range_labels(imagenet1k, tmp_path):
    ann = tmp_path / 'bad.txt'
    ann.write_text(f'train/{PROBE}/{PROBE}_0.JPEG 100\n')
    with pytest.raises(ValueError, match=r'label 100 .* outside the allowed range 0\.\.99'):
        ImageNet100(data_root=str(imagenet1k), ann_file=str(ann))


@pytest.fixture
def incomplete_imagenet(tmp_path) -> Path:
    """Class folders (empty) for all classes except the first five (train) / first two (val)."""
    root = tmp_path / 'partial_imagenet'
    for split, skip in (('train', 5), ('val', 2)):
        for wnid in IMAGENET100_CLASSES[skip:]:
            (root / split / wnid).mkdir(parents=True)
    return root


def test_missing_classes_are_named_and_nothing_is_written(incomplete_imagenet, tmp_path):
    dst = tmp_path / 'out' / 'imagenet100'
    with pytest.raises(MissingClassesError) as err:
        build_imagenet100(incomplete_imagenet, dst, mode='symlink', log=lambda _: None)
    msg = str(err.value)
    assert '5 of the 100 classes' in msg and '2 of the 100 classes' in msg
    assert all(w in msg for w in IMAGENET100_CLASSES[:5])
    assert err.value.missing[str(incomplete_imagenet / 'val')] == list(IMAGENET100_CLASSES[:2])
    assert not dst.exists() and not dst.parent.exists()

    with pytest.raises(MissingClassesError, match='5 of the 100 classes'):
        ImageNet100(data_root=str(incomplete_imagenet), split='train')


def test_existing_destination_needs_force(imagenet1k, tmp_path):
    dst = tmp_path / 'imagenet100'
    build_imagenet100(imagenet1k, dst, mode='symlink', log=lambda _: None)
    (dst / 'notes.txt').write_text('kept')
    with pytest.raises(FileExistsError, match='not empty.*--force'):
        build_imagenet100(imagenet1k, dst, mode='annfile', log=lambda _: None)
    assert (dst / 'train').is_dir() and not (dst / 'meta').exists()

    build_imagenet100(imagenet1k, dst, mode='annfile', force=True, log=lambda _: None)
    assert sorted(os.listdir(dst)) == ['meta', 'notes.txt'] and _no_leftovers(tmp_path)
    # replacing the symlinks must not touch the source class folders
    assert (imagenet1k / 'train' / PROBE / f'{PROBE}_0.JPEG').is_file()


def test_bad_arguments_are_rejected(imagenet1k, tmp_path):
    with pytest.raises(ValueError, match="Unknown mode 'copy'; allowed: symlink, annfile"):
        build_imagenet100(imagenet1k, tmp_path / 'x', mode='copy')
    with pytest.raises(ValueError, match='overlaps the source'):
        build_imagenet100(imagenet1k, imagenet1k / 'imagenet100', log=lambda _: None)
    with pytest.raises(FileNotFoundError, match='is not a folder'):
        build_imagenet100(tmp_path / 'nowhere', tmp_path / 'x')


def test_cli(imagenet1k, tmp_path):
    dst = tmp_path / 'cli_in100'
    result = subprocess.run([sys.executable, str(TOOL), '--src', str(imagenet1k), '--dst',
                             str(dst), '--mode', 'annfile', '--splits', 'val'],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'val: 100 classes, 100 images (1-1 per class)' in result.stdout
    assert sorted(os.listdir(dst / 'meta')) == ['val.txt']

    again = subprocess.run([sys.executable, str(TOOL), '--src', str(imagenet1k), '--dst', str(dst)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 1 and 'force' in again.stderr  # exists, no --force


def test_mae_data_config(imagenet1k, tmp_path):
    import mmpretrain

    cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / 'datasets' /
                              'imagenet100_bs256_mae.py'))
    upstream = Config.fromfile(str(Path(mmpretrain.__file__).parent / '.mim' / 'configs' /
                                   '_base_' / 'datasets' / 'imagenet_bs512_mae.py'))
    assert 'custom_imports' not in cfg  # provided by the model bases (duplicates are an error)
    # the suite's one-step LoadRandomResizedCrop replaces upstream's LoadImageFromFile +
    # RandomResizedCrop with the same crop arguments; the rest of the pipeline is upstream's
    ours, theirs = cfg.train_pipeline, upstream.train_pipeline
    assert ours[0] == dict(theirs[1], type='LoadRandomResizedCrop')
    assert [t['type'] for t in theirs[:2]] == ['LoadImageFromFile', 'RandomResizedCrop']
    assert ours[1:] == theirs[2:]
    assert cfg.data_preprocessor == upstream.data_preprocessor
    loader = cfg.train_dataloader
    assert loader.batch_size * 8 == 256
    assert (loader.dataset.type, loader.dataset.split) == ('ImageNet100', 'train')
    assert loader.dataset.data_root == 'data/imagenet100/'

    dst = tmp_path / 'imagenet100'
    build_imagenet100(imagenet1k, dst, splits=['train'], log=lambda _: None)
    dataset = DATASETS.build({**loader.dataset, 'data_root': str(dst)})
    assert len(dataset) == _expected_counts()['train']
    assert tuple(dataset[0]['inputs'].shape) == (3, 224, 224)



@pytest.mark.parametrize('arch', ['vit-small', 'vit-base'])
def test_in100_bases_merge_with_the_data_config(arch):
    cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / f'cmae_{arch}-p16_in100_300e.py'))
    assert cfg.train_dataloader.dataset.type == 'ImageNet100'
    assert 'cmae_mm.components' in cfg.custom_imports['imports']


# The builder's command line, killed (SIGKILL) at its 50th class-folder symlink: halfway
# through the train split.
KILLED_BUILD = """
import os, runpy, signal, sys
real_symlink, calls = os.symlink, []
def symlink(*args, **kwargs):
    calls.append(args)
    if len(calls) == 50:
        os.kill(os.getpid(), signal.SIGKILL)
    real_symlink(*args, **kwargs)
os.symlink = symlink
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def test_a_build_killed_midway_leaves_no_destination_and_a_rerun_completes(imagenet1k, tmp_path):
    import signal

    dst = tmp_path / 'killed_in100'
    killed = subprocess.run([sys.executable, '-c', KILLED_BUILD, str(TOOL), '--src',
                             str(imagenet1k), '--dst', str(dst)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not dst.exists()  # only the hidden temporary sibling, never a half-built data set
    leftovers = list(tmp_path.glob('.killed_in100.*.partial'))
    assert len(leftovers) == 1 and len(list((leftovers[0] / 'train').iterdir())) == 49
    again = subprocess.run([sys.executable, str(TOOL), '--src', str(imagenet1k), '--dst', str(dst)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert 'train: 100 classes' in again.stdout and 'val: 100 classes, 100 images' in again.stdout
    assert {split: len(list((dst / split).iterdir())) for split in ('train', 'val')} == {
        'train': 100, 'val': 100}
