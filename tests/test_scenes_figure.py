"""``tools/analysis/scenes_figure.py`` (cmae_mm/analysis/scenes_figure.py) as a user runs it.

A tiny scene set (16 / 4 / 4 scenes of 64 px from fake idx files), a UperNet and a Mask R-CNN
checkpoint each trained by ``tools/train.py`` for 2 iterations of batch 2 from a random encoder
(tests/test_configs_scenes.py's short run), one thread per process (as tests/test_study_dense.py
makes them).
"""
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from cmae_mm.analysis.scenes_figure import (DEFAULT_CONFIG, DETECTION_CONFIG, DPI,
                                           figure_inches)
from cmae_mm.datasets.fashion_mnist_scenes import (SCENE_CLASSES, SEG_CLASSES,
                                                   make_fashion_mnist_scenes)
from helpers import REPO, output_of, run_tool, run_tool_in_process, tool_env
from test_configs_scenes import SHORT_RUN
from test_fashion_mnist_scenes import write_fake_fmnist

TOOL = 'tools/analysis/scenes_figure.py'
CONFIG = str(REPO / DEFAULT_CONFIG)
DET_CONFIG = str(REPO / DETECTION_CONFIG)


def train_on_scenes(root: Path, config: str, work: str) -> Path:
    """``tools/train.py config`` on ``root / 'scenes'`` for SHORT_RUN's 2 iterations, from a random
    encoder, without validation; returns the checkpoint ``root / work / 'iter_2.pth'``."""
    options = [f'{s}_dataloader.dataset.data_root={root / "scenes"}'
               for s in ('train', 'val', 'test')]
    options += ['model.backbone.init_cfg=None', *SHORT_RUN]
    result = run_tool(['tools/train.py', config, '--work-dir', root / work, '--no-validate',
                       '--cfg-options', *options], cwd=REPO, env=tool_env(OMP_NUM_THREADS='1'))
    assert result.returncode == 0, output_of(result)[-3000:]
    assert (root / work / 'iter_2.pth').is_file()
    return root / work / 'iter_2.pth'


@pytest.fixture(scope='module')
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scene set (``scenes/``) and a trained segmentation checkpoint (``seg/iter_2.pth``)."""
    root = tmp_path_factory.mktemp('scenes_figure')
    source = write_fake_fmnist(root / 'fake_fashion_mnist', train_per_class=8)
    make_fashion_mnist_scenes(source, root / 'scenes', {'train': 16, 'val': 4, 'test': 4},
                              seed=0, log=lambda _: None)
    train_on_scenes(root, CONFIG, 'seg')
    return root


@pytest.fixture(scope='module')
def det_ckpt(ws: Path) -> Path:
    """A Mask R-CNN checkpoint of the scenes config trained 2 iterations on ``ws``'s scenes."""
    return train_on_scenes(ws, DET_CONFIG, 'det')


def figure(ws: Path, *args: str, config: str = CONFIG, data_root: str = 'scenes',
           in_process: bool = False):
    """Run the tool in ``ws`` on its scenes (or ``ws / data_root``), one thread; a refusal
    (``in_process``) runs in this process, the figures as subprocesses."""
    cmd = [TOOL, *args, '--config', config, '--data-root', ws / data_root]
    if in_process:
        return run_tool_in_process(cmd, cwd=ws)
    return run_tool(cmd, cwd=ws, env=tool_env(OMP_NUM_THREADS='1'))


def assert_one_error_line(result, named: str) -> None:
    """Exit status 2 and one ``<tool>: error:`` line naming ``named`` and what is allowed."""
    assert result.returncode == 2, output_of(result)[-2000:]
    errors = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and errors[0].startswith(f'{TOOL}: error: '), result.stderr[-2000:]
    assert named in errors[0] and 'allowed' in errors[0], errors[0]


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
    result = figure(ws, *[a.format(ckpt=ckpt) for a in args], '--out', out, in_process=True)
    assert_one_error_line(result, named.format(ckpt=ckpt))
    assert not (ws / 'bad').exists()


def test_detection_figure_of_a_mask_rcnn(ws: Path, det_ckpt: Path):
    out = ws / 'det_fig' / 'predictions.png'
    # --score-thr 0: a 2-iteration head scores under 0.5, and the drawing of predictions is tested
    result = figure(ws, '--task', 'detection', f'MAE={det_ckpt}', '--num-scenes', '2',
                    '--score-thr', '0', '--out', out, config=DET_CONFIG)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert f'wrote {out} and {out.with_suffix(".json")}' in result.stdout

    with Image.open(out) as png:
        assert png.format == 'PNG'
        width, height = figure_inches(rows=2, columns=3, num_classes=10)
        assert png.size == (round(width * DPI), round(height * DPI))

    record = json.loads(out.with_suffix('.json').read_text())
    assert record['task'] == 'detection' and record['score_thr'] == 0
    assert record['split'] == 'test' and len(record['scenes']) == 2
    assert record['columns'] == ['input', 'ground truth', 'MAE']
    assert record['classes'] == list(SCENE_CLASSES) and len(record['palette']) == 10
    coco = json.loads((ws / 'scenes' / 'annotations' / 'instances_test.json').read_text())
    ids = {image['file_name']: image['id'] for image in coco['images']}
    for truth in record['ground_truth']:  # the split's COCO annotations of each scene
        annotations = [a for a in coco['annotations'] if a['image_id'] == ids[truth['scene']]]
        assert truth['instances'] == len(annotations) >= 1
        assert truth['classes'] == [SCENE_CLASSES[a['category_id'] - 1] for a in annotations]
    (model, ) = record['models']
    assert model['label'] == 'MAE' and model['checkpoint'] == str(det_ckpt)
    assert [s['scene'] for s in model['scenes']] == record['scenes']
    assert model['detections'] == sum(s['detections'] for s in model['scenes'])
    for scene in model['scenes']:  # at most the config's 20 detections per scene
        assert 0 <= scene['detections'] == len(scene['classes']) == len(scene['scores']) <= 20
        assert all(0 <= s <= 1 for s in scene['scores'])


@pytest.mark.parametrize('case', ['no annotation file', 'segmentation checkpoint'])
def test_detection_bad_input_one_line_status_2_nothing_written(ws: Path, case: str):
    out = ws / 'bad_det' / 'predictions.png'
    if case == 'no annotation file':  # the test images without annotations/instances_test.json
        shutil.copytree(ws / 'scenes' / 'images' / 'test', ws / 'no_coco' / 'images' / 'test',
                        dirs_exist_ok=True)
        result = figure(ws, '--task', 'detection', f'MAE={ws / "seg" / "iter_2.pth"}', '--out',
                        out, config=DET_CONFIG, data_root='no_coco', in_process=True)
        named = f'--data-root {ws / "no_coco"}: no test scenes (expected images/test/*.png and ' \
            'annotations/instances_test.json)'
    else:
        ckpt = ws / 'seg' / 'iter_2.pth'
        result = figure(ws, '--task', 'detection', f'MAE={ckpt}', '--num-scenes', '1',
                        '--out', out, config=DET_CONFIG, in_process=True)
        named = f'checkpoint MAE={ckpt}: a segmentation checkpoint (UperNet)'
    assert_one_error_line(result, named)
    assert 'allowed with --task detection: a trained detection checkpoint' in result.stderr \
        or case == 'no annotation file'
    assert not (ws / 'bad_det').exists()
