"""``tools/analysis/scenes_figure.py`` (cmae_mm/analysis/scenes_figure.py) as a user runs it.

A tiny scene set (16 / 4 / 4 scenes of 64 px from fake idx files) and a UperNet checkpoint trained
by ``tools/train.py`` for 2 iterations of batch 2 from a random encoder, one thread per process
(as tests/test_study_dense.py makes them).
"""
import json
from pathlib import Path

import pytest
from PIL import Image

from cmae_mm.analysis.scenes_figure import DEFAULT_CONFIG, DPI, figure_inches
from cmae_mm.datasets.fashion_mnist_scenes import SEG_CLASSES, make_fashion_mnist_scenes
from helpers import REPO, output_of, run_tool, tool_env
from test_fashion_mnist_scenes import write_fake_fmnist

TOOL = 'tools/analysis/scenes_figure.py'
CONFIG = str(REPO / DEFAULT_CONFIG)


@pytest.fixture(scope='module')
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scene set (``scenes/``) and a trained segmentation checkpoint (``seg/iter_2.pth``)."""
    root = tmp_path_factory.mktemp('scenes_figure')
    source = write_fake_fmnist(root / 'fake_fashion_mnist', train_per_class=8)
    make_fashion_mnist_scenes(source, root / 'scenes', {'train': 16, 'val': 4, 'test': 4},
                              seed=0, log=lambda _: None)
    options = [f'{s}_dataloader.dataset.data_root={root / "scenes"}' for s in ('train', 'val', 'test')]
    options += ['model.backbone.init_cfg=None', 'train_cfg.max_iters=2',
                'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1']
    result = run_tool(['tools/train.py', CONFIG, '--work-dir', root / 'seg', '--no-validate',
                       '--cfg-options', *options], cwd=REPO, env=tool_env(OMP_NUM_THREADS='1'))
    assert result.returncode == 0, output_of(result)[-3000:]
    assert (root / 'seg' / 'iter_2.pth').is_file()
    return root


def figure(ws: Path, *args: str):
    """Run the tool in ``ws`` on its scenes, one thread."""
    return run_tool([TOOL, *args, '--config', CONFIG, '--data-root', ws / 'scenes'], cwd=ws,
                    env=tool_env(OMP_NUM_THREADS='1'))


def test_figure_of_two_models(ws: Path):
    ckpt = ws / 'seg' / 'iter_2.pth'
    out = ws / 'fig' / 'predictions.png'
    result = figure(ws, f'MAE={ckpt}', f'CMAE={ckpt}', '--num-scenes', '3', '--seed', '1',
                    '--out', out)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert f'wrote {out} and {out.with_suffix(".json")}' in result.stdout

    with Image.open(out) as png:
        assert png.format == 'PNG'
        width, height = figure_inches(rows=3, columns=4)  # input, ground truth, 2 models
        assert png.size == (round(width * DPI), round(height * DPI))
    assert figure_inches(4, 4)[1] > figure_inches(3, 4)[1]  # one row per scene

    record = json.loads(out.with_suffix('.json').read_text())
    assert record['split'] == 'test' and record['seed'] == 1
    assert len(record['scenes']) == 3 and record['scenes'] == sorted(record['scenes'])
    assert all((ws / 'scenes' / 'images' / 'test' / name).is_file() for name in record['scenes'])
    assert record['columns'] == ['input', 'ground truth', 'MAE', 'CMAE']
    assert record['classes'] == list(SEG_CLASSES) and len(record['palette']) == 11
    assert [m['label'] for m in record['models']] == ['MAE', 'CMAE']
    for model in record['models']:
        assert model['checkpoint'] == str(ckpt)
        assert 0 <= model['pixel_accuracy'] <= 100 and 0 <= model['mIoU'] <= 100
        assert all(v is None or 0 <= v <= 100 for v in model['iou_per_class'].values())
        assert [s['scene'] for s in model['scenes']] == record['scenes']
    assert record['models'][0]['mIoU'] == record['models'][1]['mIoU']  # the same checkpoint

    # the same command again is refused: the outputs exist and --force was not given
    again = figure(ws, f'MAE={ckpt}', f'CMAE={ckpt}', '--num-scenes', '3', '--seed', '1',
                   '--out', out)
    assert again.returncode == 2 and 'pass --force' in again.stderr


@pytest.mark.parametrize('args, named', [
    (['MAE{ckpt}'], "'MAE{ckpt}'"),
    (['MAE=missing.pth'], "'MAE=missing.pth'"),
    (['MAE={ckpt}', '--split', 'train'], "--split 'train': allowed: test, validation"),
])
def test_bad_input_one_line_status_2_nothing_written(ws: Path, args, named):
    ckpt = ws / 'seg' / 'iter_2.pth'
    out = ws / 'bad' / 'predictions.png'
    result = figure(ws, *[a.format(ckpt=ckpt) for a in args], '--out', out)
    assert result.returncode == 2, output_of(result)[-2000:]
    errors = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and errors[0].startswith(f'{TOOL}: error: ')
    assert named.format(ckpt=ckpt) in errors[0] and 'allowed' in errors[0]
    assert not (ws / 'bad').exists()
