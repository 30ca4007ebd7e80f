"""tools/model_converters/convert_cmae.py (:mod:`cmae_mm.models.converters`) on checkpoints of a
real CMAE pre-training run: the mmpretrain-ViT export loads into the downstream encoder, the timm
export loads strictly into timm's ViT and computes the same tokens as the pre-trained encoder, and
a mismatch writes nothing."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import cmae_mm.components  # noqa: F401
from cmae_mm.engine.checkpoint import CheckpointMismatchError, trusted_globals
from cmae_mm.models import converters
from helpers import REPO, TINY_IMG, TINY_PATCH, output_of, run_tool


class ConvertFailed(Exception):
    """The converter exited non-zero; the message is its output."""


def convert(*argv) -> int:
    """Run the converter as a user does (a fresh process); raise ConvertFailed on failure."""
    result = run_tool(['tools/model_converters/convert_cmae.py', *argv], cwd=REPO)
    if result.returncode != 0:
        raise ConvertFailed(output_of(result))
    return 0


def pretrained_encoder(checkpoint: Path):
    """The CMAEViT of the pre-training run, with its weights (from the checkpoint's own config)."""
    with trusted_globals():
        ckpt = torch.load(checkpoint)
    cfg = Config.fromstring(ckpt['meta']['cfg'], '.py')  # our own run's checkpoint: trusted here
    model = MODELS.build(cfg.model)
    model.load_state_dict(ckpt['state_dict'])
    model.eval()
    return model.backbone


def finetune_encoder(checkpoint: Path, prefix: str):
    """The encoder of the ImageNet-100 fine-tuning config (shrunk to the checkpoint's shape)."""
    cfg = Config.fromfile(str(REPO / 'configs/classification/imagenet100/cmae_vit-base-p16_ft-100e_in100.py'))
    cfg.model.backbone.update(arch=dict(embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64),
                              img_size=TINY_IMG, patch_size=TINY_PATCH)
    cfg.model.backbone.init_cfg.update(checkpoint=str(checkpoint), prefix=prefix)
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    return backbone


def test_vit_export_loads_into_the_downstream_encoder(pretrained, tmp_path):
    out = tmp_path / 'cmae_vit.pth'
    assert convert(pretrained[12], out) == 0
    exported = torch.load(out)
    assert exported['meta']['arch'] == dict(embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64)
    assert not any(k.startswith(('backbone.', 'neck.', 'head.')) for k in exported['state_dict'])
    from_export = finetune_encoder(out, prefix='').state_dict()
    from_run = finetune_encoder(pretrained[12], prefix='backbone.').state_dict()
    assert from_export.keys() == from_run.keys()
    assert all(torch.equal(from_export[k], from_run[k]) for k in from_run if not k.startswith('ln2'))


@pytest.mark.parametrize('source', ['run', 'vit-export'])
def test_timm_export_is_strict_and_computes_the_same_tokens(source, pretrained, tmp_path):
    from timm.models.vision_transformer import VisionTransformer

    src, prefix = pretrained[12], 'backbone.'
    if source == 'vit-export':  # round trip: pre-training -> mmpretrain ViT -> timm
        convert(pretrained[12], tmp_path / 'vit.pth')
        src, prefix = tmp_path / 'vit.pth', ''
    out = tmp_path / 'timm.pth'
    assert convert(src, out, '--to', 'timm', '--prefix', prefix) == 0
    model = VisionTransformer(img_size=TINY_IMG, patch_size=TINY_PATCH, embed_dim=32, depth=12,
                              num_heads=2, mlp_ratio=2, num_classes=0)
    model.load_state_dict(torch.load(out), strict=True)
    model.eval()
    x = torch.randn(3, 3, TINY_IMG, TINY_IMG)
    with torch.no_grad():
        expected = pretrained_encoder(pretrained[12])(x, mask=None)[0]  # all tokens, final norm
        assert torch.allclose(model.forward_features(x), expected, atol=1e-5)


def test_conversion_checks_the_tokens(pretrained, monkeypatch, tmp_path):
    """A renaming bug that keeps every shape (norm1 <-> norm2) loads strictly but is caught by the
    token comparison (on a checkpoint whose norms are not at their initial values)."""
    with trusted_globals():
        ckpt = torch.load(pretrained[12])
    for key, value in ckpt['state_dict'].items():
        if '.ln' in key:
            value.copy_(torch.rand_like(value) + 0.5)
    torch.save(ckpt, tmp_path / 'trained_norms.pth')
    assert converters.convert_encoder(str(tmp_path / 'trained_norms.pth'), 'timm')[2] < 1e-5
    swap = {'norm1': 'norm2', 'norm2': 'norm1'}
    swapped = tuple((pat, re.sub('norm[12]', lambda m: swap[m.group()], repl))
                    for pat, repl in converters.TIMM_KEY_MAP)
    monkeypatch.setattr(converters, 'TIMM_KEY_MAP', swapped)
    with pytest.raises(CheckpointMismatchError, match='the timm model computes other tokens'):
        converters.convert_encoder(str(tmp_path / 'trained_norms.pth'), 'timm')


def test_mismatch_writes_nothing(pretrained, tmp_path, capsys):
    with trusted_globals():
        state = torch.load(pretrained[12])
    state['state_dict'].pop('backbone.layers.3.ffn.layers.1.weight')
    state['state_dict']['backbone.extra'] = torch.zeros(1)
    torch.save(state, tmp_path / 'broken.pth')
    with pytest.raises(ConvertFailed, match=r"missing keys \['layers.3.ffn.layers.1.weight'\], "
                                         r"unexpected keys \['extra'\]"):
        convert(tmp_path / 'broken.pth', tmp_path / 'out.pth')
    assert not (tmp_path / 'out.pth').exists()
    (tmp_path / 'kept.pth').write_bytes(b'previous')
    with pytest.raises(ConvertFailed, match='exists; pass --force'):
        convert(pretrained[12], tmp_path / 'kept.pth')
    assert (tmp_path / 'kept.pth').read_bytes() == b'previous'
    assert convert(pretrained[12], tmp_path / 'vit.pth') == 0
    with pytest.raises(ConvertFailed, match="no keys with prefix 'backbone.'.*needs prefix ''"):
        convert(tmp_path / 'vit.pth', tmp_path / 'again.pth')  # a backbone-only file, default prefix
    assert not (tmp_path / 'again.pth').exists()
