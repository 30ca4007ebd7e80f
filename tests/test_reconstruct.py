"""tools/analysis/reconstruct.py: the reconstruction grid of a pre-training checkpoint, per family.

For each family (ViT Conditional MAE, SimMIM-Swin, FCMAE ConvNeXt V2) the ``_own-images`` config is
shrunk to CPU size (tests/helpers.py) and dumped, and a checkpoint of its model is written. The tool
runs as a user runs it (a subprocess) on image files, a folder, or the config's dataset. The test
then draws the model's masks itself, from its own forward under the same seed (for SimMIM, shot 1
from the config's own ``SimMIMMaskGenerator``), and checks them against the PNG pixel by pixel:
in each "after shot s" panel a cell is the mask colour exactly when shots 1..s removed it and is the
original panel's pixels otherwise, and the reconstruction keeps the original exactly on the cells
no shot removed. The rows are the requested images (compared with an independent resize).
Bad inputs stop the tool with one line naming them.
"""
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import set_random_seed
from PIL import Image

import cmae_mm.components  # noqa: F401
from helpers import (REPO, output_of, run_tool, run_tool_in_process, shrink_hierarchical_model, shrink_pretrain_cfg,
                     write_own_images)

TOOL = 'tools/analysis/reconstruct.py'
SEL = 'configs/selfsup'
CONFIGS = {'ConditionalMAE': f'{SEL}/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images.py',
           'CMAESimMIM': f'{SEL}/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_own-images-192px.py',
           'FCMAE': f'{SEL}/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_own-images.py'}
# cells removed by shot 1 and shot 2 at the tiny sizes: ViT 64 patches keep 16 then 14; Swin and
# ConvNeXt 3x3 cells of 32 px: SimMIM masks ceil(9 x 0.6) = 6 then 1, FCMAE keeps 3 then 2
REMOVED = {'ConditionalMAE': (48, 2), 'CMAESimMIM': (6, 1), 'FCMAE': (6, 1)}


def build(cfg: Config):
    from mmpretrain.registry import MODELS

    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Dict[str, Dict[str, Path]]:
    """Family -> the shrunk config (dumped), a checkpoint of its initialised model, the images."""
    root = tmp_path_factory.mktemp('reconstruct')
    images = root / 'my_images'
    write_own_images(images)
    made = {}
    for family, path in CONFIGS.items():
        cfg = Config.fromfile(str(REPO / path))
        if family == 'ConditionalMAE':
            cfg = shrink_pretrain_cfg(cfg, images, root / 'work')
        else:
            cfg = shrink_hierarchical_model(cfg)
            cfg.train_dataloader.dataset.data_root = str(images)
        cfg.dump(str(root / f'{family}.py'))
        torch.manual_seed(0)
        model = build(cfg)
        model.init_weights()
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, root / f'{family}.pth')
        made[family] = dict(config=root / f'{family}.py', checkpoint=root / f'{family}.pth',
                            images=images)
    return made


def model_masks(family: str, config: Path, checkpoint: Path, batch: int,
                seed: int) -> torch.Tensor:
    """The model's shot_index (B, N) for ``batch`` images after ``set_random_seed(seed)``: its
    backbone's own masked forward (the draws do not depend on the pixels)."""
    from mmpretrain.registry import TRANSFORMS

    cfg = Config.fromfile(str(config))
    model = build(cfg).eval()
    model.load_state_dict(torch.load(checkpoint, weights_only=True)['state_dict'])
    size = 64 if family == 'ConditionalMAE' else 96
    x = torch.zeros(batch, 3, size, size)
    set_random_seed(seed)
    with torch.no_grad():
        if family == 'CMAESimMIM':  # shot 1: the pre-training pipeline's generator
            (gen, ) = [t for t in cfg.train_dataloader.dataset.pipeline
                       if t['type'] == 'SimMIMMaskGenerator']
            generator = TRANSFORMS.build(gen)
            masks = [generator.transform({})['mask'] for _ in range(batch)]
            mask = torch.from_numpy(np.stack(masks))
            return model.backbone(x, mask)[2]
        return model.backbone(x)[1]


def expected_rgb(path: Path, size: int) -> np.ndarray:
    """The image as the grid should show it: short side resized to ``size``, centre crop."""
    img = Image.open(path).convert('RGB')
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    left, top = (img.size[0] - size) // 2, (img.size[1] - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def check_grid(png: Path, record: dict, shot_index: torch.Tensor, num_shots: int) -> None:
    """Every cell of every panel of the PNG against the model's masks."""
    pixels = np.asarray(Image.open(png).convert('RGB'))
    cell, scale = record['cell_px'], record['scale']
    rows, cols = record['cell_grid']
    mask = np.array(record['mask_rgb'], np.uint8)
    side = cell * scale
    assert record['panel_px'] == [rows * side, cols * side]
    for row, shots in zip(record['rows'], shot_index.tolist()):
        assert len(row['panels']) == num_shots + 2

        def cell_pixels(col: int, k: int) -> np.ndarray:
            x, y = row['panels'][col]
            r, c = divmod(k, cols)
            return pixels[y + r * side:y + (r + 1) * side, x + c * side:x + (c + 1) * side]

        for k, removed_by in enumerate(shots):
            original = cell_pixels(0, k)
            assert not (original == mask).all(axis=-1).all()  # a photograph, not the mask colour
            for s in range(1, num_shots + 1):
                shown = cell_pixels(s, k)
                if 1 <= removed_by <= s:
                    assert (shown == mask).all(), (row['image'], s, k)
                else:
                    assert np.array_equal(shown, original), (row['image'], s, k)
            if removed_by == 0:
                assert np.array_equal(cell_pixels(num_shots + 1, k), original)


def run_and_check(family: str, tiny, tmp_path: Path, inputs: List[str], num: int, seed: int):
    made = tiny[family]
    out = tmp_path / 'grid.png'
    result = run_tool([TOOL, made['config'], made['checkpoint'], *inputs, '--out', out,
                       '--num', num, '--seed', seed], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-4000:]
    assert f'wrote {out} and {out.with_suffix(".json")}' in result.stdout
    record = json.loads(out.with_suffix('.json').read_text())
    expected = model_masks(family, made['config'], made['checkpoint'], len(record['rows']), seed)
    assert record['model'] == family and record['seed'] == seed
    assert [row['shot_index'] for row in record['rows']] == expected.tolist()
    counts = [[int((shots == s).sum()) for s in (1, 2)] for shots in expected]
    assert counts == [list(REMOVED[family])] * len(expected)
    check_grid(out, record, expected, num_shots=2)
    return record, np.asarray(Image.open(out).convert('RGB'))


def check_rows_show(record: dict, pixels: np.ndarray, paths: List[Path]) -> None:
    """Row r's original panel is paths[r] (resized and cropped; resampling differences allowed)."""
    h, w = record['panel_px']
    size, scale = record['input_size'][0], record['scale']
    assert [Path(row['image']) for row in record['rows']] == paths
    for row, path in zip(record['rows'], paths):
        x, y = row['panels'][0]
        shown = pixels[y:y + h:scale, x:x + w:scale].astype(float)
        others = [np.abs(shown - expected_rgb(p, size)).mean() for p in paths]
        assert others.index(min(others)) == paths.index(path) and min(others) < 10, others


def test_vit_grid_of_image_files(tiny, tmp_path):
    images = sorted(tiny['ConditionalMAE']['images'].rglob('*.[jJpP]*[gG]'))
    chosen = [images[4], images[0], images[2]]
    record, pixels = run_and_check('ConditionalMAE', tiny, tmp_path, [str(p) for p in chosen], 4, 7)
    assert len(record['rows']) == 3 and record['cell_px'] == 8 and record['scale'] == 2
    assert [s['where'] for s in record['shots']] == ['block 0', 'block 10']
    check_rows_show(record, pixels, chosen)


def test_simmim_grid_of_a_file_and_a_folder(tiny, tmp_path):
    folder = tiny['CMAESimMIM']['images']
    first = folder / 'img_002.png'
    record, pixels = run_and_check('CMAESimMIM', tiny, tmp_path,
                                   [str(first), str(folder / 'holiday')], 3, 11)
    holiday = sorted(p for p in (folder / 'holiday').rglob('*')
                     if p.suffix.lower() in ('.jpg', '.png'))
    check_rows_show(record, pixels, [first] + holiday)
    assert record['cell_px'] == 32 and record['cell_grid'] == [3, 3]
    assert [s['where'] for s in record['shots']] == ['input', 'stage-3 input']


def test_fcmae_grid_of_the_config_dataset(tiny, tmp_path):
    record, _ = run_and_check('FCMAE', tiny, tmp_path, [], 4, 5)
    assert len(record['rows']) == 4 and len({row['image'] for row in record['rows']}) == 4
    assert all(Path(row['image']).is_relative_to(tiny['FCMAE']['images']) for row in record['rows'])
    assert [s['where'] for s in record['shots']] == ['input', 'stage-3 input']


@pytest.mark.parametrize('case', ['missing checkpoint', 'not an image', 'empty folder'])
def test_bad_input_is_refused_in_one_line(case, tiny, tmp_path):
    made = tiny['ConditionalMAE']
    checkpoint, images = made['checkpoint'], [made['images'] / 'img_002.png']
    if case == 'missing checkpoint':
        checkpoint = tmp_path / 'nope.pth'
        named, message = checkpoint, 'checkpoint not found'
    elif case == 'not an image':
        images = [made['images'] / 'holiday' / 'notes.txt']
        named, message = images[0], 'not an image file'
    else:
        (tmp_path / 'empty' / 'sub').mkdir(parents=True)
        images = [tmp_path / 'empty']
        named, message = images[0], 'no images'
    out = tmp_path / 'grid.png'
    result = run_tool_in_process([TOOL, made['config'], checkpoint, *images, '--out', out],
                                 cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and 'Traceback' not in result.stderr, output_of(result)[-3000:]
    assert lines[-1].startswith(f'{TOOL}: error: {message}') and str(named) in lines[-1], lines[-1]
    assert not out.exists()


def test_checkpoint_of_another_model_is_refused_naming_the_keys(tiny, tmp_path):
    from cmae_mm.analysis import run_reconstruct
    from cmae_mm.engine.checkpoint import CheckpointMismatchError

    with pytest.raises(CheckpointMismatchError, match=r'does not fit FCMAE: missing keys \[.*'
                                                      r'unexpected keys \[.*backbone\.pos_embed'):
        run_reconstruct(str(tiny['FCMAE']['config']), str(tiny['ConditionalMAE']['checkpoint']),
                        [tiny['FCMAE']['images']], out=tmp_path / 'grid.png')
    assert not (tmp_path / 'grid.png').exists()
