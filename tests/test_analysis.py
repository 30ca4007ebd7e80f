"""The analysis tools: known values, hook path == fast path, CKA properties, and each
``tools/analysis/*.py`` run end to end as a subprocess, as a user runs it (outputs, ``--force``,
one-line errors)."""
import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

import cmae_mm.components  # noqa: F401
from cmae_mm.analysis import (AttentionRecorder, HeadStatistics, MinibatchCKA, ToolInputError,
                              check_model_inputs, check_outputs, cka, hsic1, image_batches,
                              layer_inputs, load_encoder, read_scalars, run_attention_maps, run_cka,
                              run_loss_curves, run_tool)
from cmae_mm.analysis.attention import attention_distance, attention_entropy, grid_distances
import helpers
from helpers import REPO, output_of, photos

DEMO_CONFIG = str(REPO / 'configs' / 'selfsup' / 'cmae_vit-tiny-p4_digits_demo.py')


def tiny_vit():
    torch.manual_seed(0)
    cfg = Config.fromfile(DEMO_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.backbone.eval()
    return model.backbone


def test_uniform_attention_known_values():
    a = torch.full((196, 196), 1 / 196, dtype=torch.float64)
    assert attention_entropy(a).mean().item() == pytest.approx(math.log(196), abs=1e-3)
    assert math.log(196) == pytest.approx(5.278, abs=1e-3)
    distance = attention_distance(a, grid_distances((14, 14))).mean().item()
    assert distance == pytest.approx(7.281, abs=1e-3)
    # In pixels: the patch size times the grid distance.
    assert attention_distance(a, grid_distances((14, 14)), unit=16.).mean().item() == \
        pytest.approx(16 * distance)


def test_identity_attention_is_zero():
    a = torch.eye(196, dtype=torch.float64)
    assert attention_entropy(a).abs().max().item() < 1e-5
    assert attention_distance(a, grid_distances((14, 14))).abs().max().item() == 0


def test_head_statistics_drop_cls_and_average():
    # CLS attends everywhere; patch rows put half their mass on CLS and half on themselves.
    T = 1 + 16
    w = torch.zeros(2, 3, T, T)
    w[:, :, 0] = 1 / T
    w[:, :, 1:, 0] = 0.5
    w[:, :, 1:, 1:] = 0.5 * torch.eye(16)
    stats = HeadStatistics((4, 4))
    stats.update({0: w})
    result = stats.result()
    assert result[0]['entropy'] == pytest.approx([0.0] * 3, abs=1e-5)  # renormalised identity
    assert result[0]['distance'] == [0.0] * 3


def test_recorder_leaves_outputs_unchanged_and_weights_reproduce_attention():
    backbone = tiny_vit()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        fast = backbone(images, mask=None)[0]
        attn_out, attn_in = {}, {}
        block = backbone.layers[5].attn

        def keep(module, inputs, output):
            attn_in['x'], attn_out['y'] = inputs[0], output

        h = block.register_forward_hook(keep)
        with AttentionRecorder(backbone) as rec:
            hooked = backbone(images, mask=None)[0]
        h.remove()
    assert torch.equal(fast, hooked)
    assert len(rec.weights) == 12 and rec.weights[5].shape == (2, 4, 65, 65)
    torch.testing.assert_close(rec.weights[5].sum(-1), torch.ones(2, 4, 65))
    x = attn_in['x']
    B, T, C = x.shape
    v = block.qkv(x).reshape(B, T, 3, block.num_heads, block.head_dims).permute(2, 0, 3, 1, 4)[2]
    recomposed = block.proj((rec.weights[5] @ v).transpose(1, 2).reshape(B, T, C))
    torch.testing.assert_close(recomposed, attn_out['y'], atol=1e-5, rtol=1e-5)


def reference_hsic1(K, L):
    """Song et al. (2012) eq. (5), written out with explicit ones vectors, numpy float64."""
    K, L = np.array(K, dtype=np.float64), np.array(L, dtype=np.float64)
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    n = K.shape[0]
    one = np.ones((n, 1))
    term = (np.trace(K @ L) + (one.T @ K @ one).item() * (one.T @ L @ one).item() / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one.T @ K @ L @ one).item())
    return term / (n * (n - 3))


def test_cka_properties():
    torch.manual_seed(0)
    x, y = torch.randn(32, 20, dtype=torch.float64), torch.randn(32, 12, dtype=torch.float64)
    assert cka(x, x) == pytest.approx(1.0, abs=1e-12)
    q, _ = torch.linalg.qr(torch.randn(20, 20, dtype=torch.float64))
    assert cka(x @ q, y) == pytest.approx(cka(x, y), abs=1e-10)  # orthogonal invariance
    assert cka(3.7 * x, y) == pytest.approx(cka(x, y), abs=1e-10)  # isotropic scaling
    xd, yd = x.double(), y.double()
    expected = reference_hsic1(xd @ xd.T, yd @ yd.T) / math.sqrt(
        reference_hsic1(xd @ xd.T, xd @ xd.T) * reference_hsic1(yd @ yd.T, yd @ yd.T))
    assert cka(x, y) == pytest.approx(expected, rel=1e-10)
    # Minibatches: HSICs are summed before the ratio.
    acc = MinibatchCKA(1, 1)
    acc.update([x[:16]], [y[:16]])
    acc.update([x[16:]], [y[16:]])
    gk = [(b @ b.T) for b in (xd[:16], xd[16:])]
    gl = [(b @ b.T) for b in (yd[:16], yd[16:])]
    num = sum(reference_hsic1(k, l) for k, l in zip(gk, gl))
    den = math.sqrt(sum(reference_hsic1(k, k) for k in gk) * sum(reference_hsic1(l, l) for l in gl))
    assert acc.compute()[0, 0].item() == pytest.approx(num / den, rel=1e-10)
    with pytest.raises(ValueError, match='same number of images'):
        acc.update([x[:8]], [y[:8]])
    with pytest.raises(ValueError, match='at least 4'):
        hsic1(torch.zeros(3, 3), torch.zeros(3, 3))


def test_layer_inputs_are_ln1_outputs_without_cls():
    backbone = tiny_vit()
    feats = layer_inputs(backbone, torch.randn(4, 3, 32, 32))
    assert len(feats) == 13 and all(f.shape == (4, 64, 64) for f in feats)


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('images')
    for i, img in enumerate(photos(48) * 2):
        Image.fromarray(img).save(root / f'{i}.jpg')
    return root


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    torch.manual_seed(1)
    model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    model.init_weights()
    torch.save(dict(meta={}, state_dict=model.state_dict()), path)
    return path


def test_load_encoder_is_strict(demo_checkpoint, tmp_path):
    backbone, pre = load_encoder(DEMO_CONFIG, str(demo_checkpoint))
    assert pre['mean'] == [127.5] * 3
    state = torch.load(demo_checkpoint)['state_dict']
    state.pop('backbone.layers.3.attn.qkv.weight')
    state['backbone.extra.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=state), tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match=r"missing keys \['layers.3.attn.qkv.weight'\], "
                                         r"unexpected keys \['extra.weight'\]"):
        load_encoder(DEMO_CONFIG, str(tmp_path / 'bad.pth'))


def run_analysis(name, *args, cwd, status=0, in_process=False):
    """Run ``tools/analysis/<name>.py`` with ``args`` in a subprocess (a refusal: ``in_process``,
    :func:`helpers.run_tool_in_process`); check its exit status."""
    run = helpers.run_tool_in_process if in_process else helpers.run_tool
    result = run([f'tools/analysis/{name}.py', *args], cwd=cwd)
    assert result.returncode == status, output_of(result)
    return result


def error_line(result, name):
    """The single error line a tool ends with (no traceback)."""
    assert 'Traceback' not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    prefix = f'tools/analysis/{name}.py: error: '
    assert last.startswith(prefix), result.stderr
    return last[len(prefix):]


def assert_png(path):
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_attention_distance_tool(image_folder, demo_checkpoint, tmp_path):
    run_analysis('attention_distance',
                 '--images', image_folder, '--batch-size', 5, '--distance-unit', 'pixel',
                 '--model', 'trained', DEMO_CONFIG, demo_checkpoint,
                 '--model', 'random', DEMO_CONFIG, 'none', '--out-dir', tmp_path, cwd=tmp_path)
    data = json.loads((tmp_path / 'attention_distance.json').read_text())
    assert data['meta']['images'] == 12 and set(data['models']) == {'trained', 'random'}
    layer = data['models']['trained']['11']
    assert len(layer['distance']) == len(layer['entropy']) == 4
    # Between identity (0) and uniform over the 8x8 grid (ln 64 nats).
    assert all(0 < e < math.log(64) + 1e-3 for e in layer['entropy'])
    assert_png(tmp_path / 'attention_distance.png')


def test_cka_tool(image_folder, demo_checkpoint, tmp_path):
    run_analysis('cka', '--images', image_folder, '--batch-size', 5,
                 '--model-a', 'trained', DEMO_CONFIG, demo_checkpoint,
                 '--model-b', 'same', DEMO_CONFIG, demo_checkpoint, '--out-dir', tmp_path,
                 cwd=tmp_path)
    data = json.loads((tmp_path / 'cka.json').read_text())
    assert data['images'] == 10  # 12 images, batches of 5, the incomplete one dropped
    matrix = np.array(data['cka'])
    assert matrix.shape == (13, 13)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-9)  # a model against itself
    assert_png(tmp_path / 'cka.png')


def test_loss_curves_tool(tmp_path):
    work_dir = tmp_path / 'cmae_run'
    vis = work_dir / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    lines = [dict(lr=1e-3, loss=1.0 / s, rec_err_shot1=1.1 / s, rec_err_shot2=0.9 / s,
                  rec_err_trivial=2.0, epoch=1, iter=s, step=s) for s in range(1, 6)]
    lines.append(dict(accuracy_top1=50.0, step=1))  # a validation record
    (vis / 'scalars.json').write_text('\n'.join(json.dumps(l) for l in lines) + '\n')
    assert read_scalars(str(work_dir))['rec_err_shot2'][-1] == (5, pytest.approx(0.18))
    assert read_scalars(str(work_dir))['loss/trivial'][-1] == (5, pytest.approx(0.1))
    with pytest.raises(ToolInputError, match=r"logged no \['nope'\]"):
        run_loss_curves([str(work_dir)], tmp_path / 'unused', keys=['nope'])
    assert not (tmp_path / 'unused').exists()
    # Outputs of an earlier run: refused without --force, the files untouched ...
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'loss_curves.json').write_text('earlier')
    refused = run_analysis('loss_curves', work_dir, '--out-dir', out, cwd=tmp_path, status=1)
    assert error_line(refused, 'loss_curves') == \
        f'{out / "loss_curves.json"} exists; pass --force to overwrite it'
    assert [p.name for p in out.iterdir()] == ['loss_curves.json']
    assert (out / 'loss_curves.json').read_text() == 'earlier'
    # ... and overwritten with it.
    run_analysis('loss_curves', work_dir, '--out-dir', out, '--force', cwd=tmp_path)
    data = json.loads((out / 'loss_curves.json').read_text())
    assert set(data['cmae_run']) == {'loss', 'rec_err_shot1', 'rec_err_shot2', 'rec_err_trivial',
                                     'loss/trivial'}
    assert data['cmae_run']['loss/trivial'][0] == [1, 0.5]
    assert_png(out / 'loss_curves.png')


def test_mass_region_and_cls_attention():
    from cmae_mm.analysis.maps import cls_attention, mass_region
    m = torch.tensor([[0.5, 0.3], [0.15, 0.05]])
    assert mass_region(m, 0.5).tolist() == [[True, False], [False, False]]
    assert mass_region(m, 0.8).tolist() == [[True, True], [False, False]]
    assert mass_region(m, 1.0).all()
    w = torch.softmax(torch.randn(2, 3, 5, 5), dim=-1)
    maps = cls_attention(w, (2, 2))
    torch.testing.assert_close(maps.sum(dim=(-2, -1)), torch.ones(2, 3))
    torch.testing.assert_close(maps[1, 2].flatten(), w[1, 2, 0, 1:] / w[1, 2, 0, 1:].sum())


def test_reversed_attention_is_the_head_averaged_column():
    from cmae_mm.analysis.maps import reversed_attention
    w = torch.softmax(torch.randn(1, 2, 5, 5), dim=-1)
    a = w[..., 1:, 1:] / w[..., 1:, 1:].sum(-1, keepdim=True)
    torch.testing.assert_close(reversed_attention(w, 3, (2, 2))[0].flatten(), a[0, :, :, 3].mean(0))
    with pytest.raises(ValueError, match=r'patch=4: must be in \[0, 3\]'):
        reversed_attention(w, 4, (2, 2))


def test_patch_labels_majority_and_ignore():
    from cmae_mm.analysis.maps import patch_labels
    label = torch.zeros(4, 4, dtype=torch.long)
    label[:2, :2] = 7                      # patch 0: all 7
    label[:2, 2:] = torch.tensor([[7, 7], [7, 3]])  # patch 1: 3/4 are 7
    label[2:, :2] = torch.tensor([[7, 7], [3, 3]])  # patch 2: tie -> mixed
    label[2:, 2:] = 255                    # patch 3: ignore
    assert patch_labels(label, 2).tolist() == [7, 7, -1, -1]


def test_attention_maps_tool(image_folder, demo_checkpoint, tmp_path):
    result = run_analysis('attention_maps', DEMO_CONFIG, demo_checkpoint, '--images', image_folder,
                          '--num-images', 3, '--out-dir', tmp_path, cwd=tmp_path)
    assert f'wrote {tmp_path / "attention_maps.png"} and {tmp_path / "attention_maps.json"}' \
        in result.stdout
    data = json.loads((tmp_path / 'attention_maps.json').read_text())
    assert len(data['region_fraction']) == 3 and len(data['region_fraction'][0]) == 5  # mean + 4
    assert all(0 < f <= 1 for row in data['region_fraction'] for f in row)
    assert_png(tmp_path / 'attention_maps.png')


def test_reversed_attention_tool_for_second_shot_patches(image_folder, demo_checkpoint, tmp_path):
    image = sorted(image_folder.glob('*.jpg'))[0]
    png, js = tmp_path / 'reversed_attention.png', tmp_path / 'reversed_attention.json'
    png.write_bytes(b'earlier figure')
    args = [DEMO_CONFIG, demo_checkpoint, '--image', image, '--layer', 9, '--shot', 2, '--seed', 0,
            '--out-dir', tmp_path]
    # An earlier figure: refused without --force (before loading the model), left untouched ...
    refused = run_analysis('reversed_attention', *args, cwd=tmp_path, status=1)
    assert error_line(refused, 'reversed_attention') == f'{png} exists; pass --force to overwrite it'
    assert png.read_bytes() == b'earlier figure' and not js.exists()
    # ... and overwritten with it.
    run_analysis('reversed_attention', *args, '--force', cwd=tmp_path)
    assert_png(png)
    data = json.loads(js.read_text())
    assert len(data['patches']) == 2  # L(0,10; 0.75,0.1) on 64 patches: 16 visible -> 14
    maps = np.array(data['maps'])
    assert maps.shape == (2, 8, 8) and (maps >= 0).all() and (maps <= 1).all()
    # Reproducible: the same seed removes the same patches in this process too.
    backbone, pre = load_encoder(DEMO_CONFIG, str(demo_checkpoint))
    pixels = next(image_batches([image], 32, pre['mean'], pre['std'], 1))
    torch.manual_seed(0)
    with torch.no_grad():
        shot_index = backbone(pixels)[1][0]
    assert torch.nonzero(shot_index == 2).flatten().tolist() == data['patches']


def test_tsne_tool_on_ade_layout(demo_checkpoint, tmp_path):
    root = tmp_path / 'ade'
    for split in ('validation', ):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i, img in enumerate(photos(32)):
            Image.fromarray(img).save(root / 'images' / split / f'ADE_val_{i:08d}.jpg')
            label = np.zeros((32, 32), dtype=np.uint8)
            label[:16] = 1 + i % 3       # top half: one of three classes
            label[16:, :16] = 4          # bottom-left quarter: class 4
            Image.fromarray(label).save(root / 'annotations' / split / f'ADE_val_{i:08d}.png')
    run_analysis('tsne', DEMO_CONFIG, demo_checkpoint, '--data-root', root, '--per-class', 20,
                 '--max-iter', 250, '--out-dir', tmp_path / 'out', cwd=tmp_path)
    data = json.loads((tmp_path / 'out' / 'tsne.json').read_text())
    assert set(map(int, data['patches_per_class'])) == {1, 2, 3, 4}  # class 0 ignored
    assert all(n <= 20 for n in data['patches_per_class'].values())
    assert len(data['embedding']) == len(data['labels']) == sum(data['patches_per_class'].values())
    assert_png(tmp_path / 'out' / 'tsne.png')


class Evil:
    """Pickles as a call to ``os.system``: loading it with plain pickle runs the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def test_checkpoint_with_a_pickled_callable_is_refused(image_folder, tmp_path):
    # The payload is real: unpickling it without the weights_only loader runs the command.
    fired = tmp_path / 'fired'
    pickle.loads(pickle.dumps(Evil(f'touch {fired}')))
    assert fired.exists()
    marker = tmp_path / 'marker'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Evil(f'touch {marker}')}, evil)
    result = run_analysis('attention_maps', DEMO_CONFIG, evil, '--images', image_folder,
                          '--out-dir', tmp_path / 'out', cwd=tmp_path, status=1, in_process=True)
    assert error_line(result, 'attention_maps').startswith(f'refused to load {evil}')
    assert not marker.exists()
    assert not (tmp_path / 'out').exists()


def test_user_errors_are_one_line_and_checked_before_loading(image_folder, demo_checkpoint,
                                                             tmp_path, capsys):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(FileNotFoundError, match=f'checkpoint not found: {missing}'):
        run_cka(('a', DEMO_CONFIG, str(demo_checkpoint)), ('b', DEMO_CONFIG, str(missing)),
                str(image_folder), tmp_path / 'out', batch_size=5)
    with pytest.raises(FileNotFoundError, match='config file not found: nope.py'):
        check_model_inputs([('nope.py', 'none')])
    with pytest.raises(FileNotFoundError, match=f'image folder not found: {tmp_path / "x"}'):
        run_attention_maps(DEMO_CONFIG, 'none', str(tmp_path / 'x'), tmp_path / 'out')
    assert not (tmp_path / 'out').exists()
    (tmp_path / 'a.json').write_text('')
    with pytest.raises(FileExistsError, match='a.json exists; pass --force to overwrite it'):
        check_outputs([tmp_path / 'b.png', tmp_path / 'a.json'])
    assert check_outputs([tmp_path / 'a.json'], force=True) == [tmp_path / 'a.json']

    def fail():
        raise FileNotFoundError('config file not found: x.py\n(second line)')

    with pytest.raises(SystemExit) as exit_info:
        run_tool('tools/analysis/x.py', fail)
    assert exit_info.value.code == 'tools/analysis/x.py: error: config file not found: x.py ' \
                                   '(second line)'
    assert run_tool('tools/analysis/x.py', lambda: [tmp_path / 'a.json']) == 0
    assert capsys.readouterr().out == f'wrote {tmp_path / "a.json"}\n'
