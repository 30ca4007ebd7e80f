"""The analysis tools: known values, hook path == fast path, CKA properties, tools end to end."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

import cmae_mm  # noqa: F401
from cmae_mm.analysis import (AttentionRecorder, HeadStatistics, MinibatchCKA, cka, hsic1,
                              layer_inputs, load_encoder, read_scalars)
from cmae_mm.analysis.attention import attention_distance, attention_entropy, grid_distances
from helpers import REPO, photos

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


def run_tool(name, argv):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / 'analysis' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(a) for a in argv]) == 0


def assert_png(path):
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_attention_distance_tool(image_folder, demo_checkpoint, tmp_path):
    run_tool('attention_distance', [
        '--images', image_folder, '--batch-size', 5, '--distance-unit', 'pixel',
        '--model', 'trained', DEMO_CONFIG, demo_checkpoint,
        '--model', 'random', DEMO_CONFIG, 'none', '--out-dir', tmp_path])
    data = json.loads((tmp_path / 'attention_distance.json').read_text())
    assert data['meta']['images'] == 12 and set(data['models']) == {'trained', 'random'}
    layer = data['models']['trained']['11']
    assert len(layer['distance']) == len(layer['entropy']) == 4
    # Between identity (0) and uniform over the 8x8 grid (ln 64 nats).
    assert all(0 < e < math.log(64) + 1e-3 for e in layer['entropy'])
    assert_png(tmp_path / 'attention_distance.png')


def test_cka_tool(image_folder, demo_checkpoint, tmp_path):
    run_tool('cka', ['--images', image_folder, '--batch-size', 5,
                     '--model-a', 'trained', DEMO_CONFIG, demo_checkpoint,
                     '--model-b', 'same', DEMO_CONFIG, demo_checkpoint, '--out-dir', tmp_path])
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
    lines = [dict(lr=1e-3, loss=1.0 / s, rec_err_shot1=1.1 / s, rec_err_shot2=0.9 / s, epoch=1,
                  iter=s, step=s) for s in range(1, 6)]
    lines.append(dict(accuracy_top1=50.0, step=1))  # a validation record
    (vis / 'scalars.json').write_text('\n'.join(json.dumps(l) for l in lines) + '\n')
    assert read_scalars(str(work_dir))['rec_err_shot2'][-1] == (5, pytest.approx(0.18))
    run_tool('loss_curves', [work_dir, '--out-dir', tmp_path / 'out'])
    data = json.loads((tmp_path / 'out' / 'loss_curves.json').read_text())
    assert set(data['cmae_run']) == {'loss', 'rec_err_shot1', 'rec_err_shot2'}
    assert_png(tmp_path / 'out' / 'loss_curves.png')
    with pytest.raises(SystemExit):
        run_tool('loss_curves', [work_dir, '--keys', 'nope', '--out-dir', tmp_path / 'out'])
