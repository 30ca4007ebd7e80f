"""FCMAE (ConvNeXt V2) with multi-shot masking: exact sparse emulation, shots, build, equivalences.

Small encoder (widths 8-64) at 128 px: a 4x4 grid of 32x32 mask cells. ``L(0, 3; 0.6, 0.25)``
keeps int(16 * 0.4) = 6 cells in stages 0-2 and int(6 * 0.75) = 4 in stage 3.
"""
import re

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import ConvNeXt
from mmpretrain.models.backbones.convnext import ConvNeXtBlock
from mmpretrain.models.utils import GRN
from mmpretrain.registry import MODELS

import cmae_mm.components  # noqa: F401  (registers the models)
from cmae_mm.masking import random_keep
from cmae_mm.models.backbones.fcmae_convnext import cell_mask, masked_block_forward
from cmae_mm.models.heads.cmae_head import SHOT_CELLS_KEY as MASKED_CELLS_KEY

TINY = dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64])
IMG = 128
CELLS = (IMG // 32)**2


def fcmae_cfg(mask_layers=(0, 3), mask_ratios=(0.6, 0.25), img_size=IMG):
    return dict(
        type='FCMAE',
        backbone=dict(type='FCMAEConvNeXt', arch=TINY, img_size=img_size,
                      mask_layers=list(mask_layers), mask_ratios=list(mask_ratios)),
        neck=dict(type='FCMAEDecoder', in_channels=TINY['channels'][-1], embed_dims=16),
        head=dict(type='CMAEPretrainHead', norm_pix=True, patch_size=32,
                  loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial GRN / LayerNorm parameters (at init GRN is the identity and LN has no bias, which
    would hide a leak through them)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.LayerNorm, GRN)):
                for p in m.parameters():
                    p.add_(0.5 * torch.randn(p.shape, generator=gen))
    return model


def build(mask_layers=(0, 3), mask_ratios=(0.6, 0.25), seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(fcmae_cfg(mask_layers, mask_ratios))
    model.init_weights()
    return randomise(model, seed).eval()


def images(batch=2, seed=1, size=IMG):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def run(model, x, seed=123):
    """Masked forward under a fixed seed: features, shot_index, decoder prediction."""
    torch.manual_seed(seed)
    feats, shot_index = model.backbone(x)
    return feats, shot_index, model.neck(feats, shot_index)


def replace_cells(model, x, cells, seed=7):
    """``x`` with the pixels of the selected cells ((B, N) bool) replaced by noise, the cells being
    laid out as the head lays out patches."""
    patches = model.head.patchify(x)
    noise = 10 * torch.randn(patches.shape, generator=torch.Generator().manual_seed(seed))
    return model.head.unpatchify(torch.where(cells[..., None], noise, patches))


@pytest.mark.parametrize('layers,ratios', [((0, ), (0.6, )), ((0, 3), (0.6, 0.25)),
                                           ((0, 2), (0.6, 0.25))])
def test_no_leak_from_cells_removed_at_the_input(layers, ratios):
    """Pixels of cells removed by shot 1 change nothing: features, prediction, loss (against the
    original target). Cells removed by a later shot were visible before it, so they do matter."""
    model = build(layers, ratios)
    x = images()
    with torch.no_grad():
        feats, shot_index, pred = run(model, x)
        x2 = replace_cells(model, x, shot_index == 1)
        assert not torch.equal(x, x2)
        feats2, shot_index2, pred2 = run(model, x2)
        assert torch.equal(shot_index, shot_index2)
        assert torch.equal(feats, feats2)
        assert torch.equal(pred, pred2)
        num = len(layers)
        assert torch.equal(model.head.loss(pred, x, shot_index, num)['loss'],
                           model.head.loss(pred2, x, shot_index2, num)['loss'])
        if num == 2:  # sanity: a shot-2 cell is seen by stages before the shot
            feats3, _, _ = run(model, replace_cells(model, x, shot_index == 2))
            assert not torch.equal(feats, feats3)
        feats4, _, _ = run(model, replace_cells(model, x, shot_index == 0))
        assert not torch.equal(feats, feats4)


def reference_block(block: ConvNeXtBlock, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """ConvNeXt V2 block on the visible positions only, written out with functional ops."""
    C = x.shape[1]
    y = F.conv2d(x * keep, block.depthwise_conv.weight, block.depthwise_conv.bias, padding=3,
                 groups=C)
    y = F.layer_norm(y.permute(0, 2, 3, 1), (C, ), block.norm.weight, block.norm.bias,
                     block.norm.eps)
    y = F.gelu(F.linear(y, block.pointwise_conv1.weight, block.pointwise_conv1.bias))
    vis = keep.permute(0, 2, 3, 1).bool()  # (B, H, W, 1)
    sq = torch.where(vis, y, torch.zeros_like(y)).pow(2)
    gx = sq.sum(dim=(1, 2), keepdim=True).sqrt()  # L2 norm over visible positions only
    nx = gx / (gx.mean(dim=-1, keepdim=True) + block.grn.eps)
    y = block.grn.gamma * (y * nx) + block.grn.beta + y
    y = F.linear(y, block.pointwise_conv2.weight, block.pointwise_conv2.bias).permute(0, 3, 1, 2)
    return (x + y) * keep


def test_block_grn_uses_visible_statistics_only():
    torch.manual_seed(0)
    block = randomise(ConvNeXtBlock(16, use_grn=True, layer_scale_init_value=0.))
    keep_cells = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 1]], dtype=torch.bool)
    keep = cell_mask(keep_cells, (2, 2), (8, 8), torch.float32)
    x = torch.randn(2, 16, 8, 8) * keep
    with torch.no_grad():
        out = masked_block_forward(block, x, keep)
        ref = reference_block(block, x, keep)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        assert (out[keep.expand_as(out) == 0] == 0).all()
        # The dense block (GRN over all positions) differs at visible positions.
        assert not torch.allclose(block(x) * keep, ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('linear_pw_conv', [True, False])
def test_block_all_visible_is_mmpretrain_block(linear_pw_conv):
    torch.manual_seed(0)
    block = randomise(ConvNeXtBlock(16, use_grn=True, layer_scale_init_value=1e-2,
                                    linear_pw_conv=linear_pw_conv))
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(masked_block_forward(block, x, torch.ones(2, 1, 8, 8)), block(x))


def test_removed_positions_are_zero_before_every_spatial_op_and_after_every_stage():
    model = build((0, 2), (0.6, 0.25))
    bb = model.backbone
    seen = []  # (stage whose mask applies, tensor, channel_last)

    def hook(stage, channel_last=False):
        return lambda m, args: seen.append((stage, args[0].detach().clone(), channel_last))

    handles = [bb.downsample_layers[0][0].register_forward_pre_hook(hook(-1))]  # stem: pixels
    for i, stage in enumerate(bb.stages):
        for block in stage:
            handles.append(block.depthwise_conv.register_forward_pre_hook(hook(i)))
            handles.append(block.grn.register_forward_pre_hook(hook(i, channel_last=True)))
        if i > 0:  # input of downsampling i = output of stage i - 1: LN, then the conv
            handles += [bb.downsample_layers[i][j].register_forward_pre_hook(hook(i - 1))
                        for j in (0, 1)]
    try:
        with torch.no_grad():
            feats, shot_index, _ = run(model, images())
    finally:
        for h in handles:
            h.remove()
    assert len(seen) == 1 + sum(2 * d for d in TINY['depths']) + 2 * 3  # (the output: below)
    layers = torch.tensor([-1] + list(bb.schedule.layers))  # shot s -> its stage; 0 -> never
    for stage, t, channel_last in seen:
        # Removed at this point: cells whose shot acts at or before this stage (stem: shot at 0).
        removed = (shot_index > 0) & (layers[shot_index] <= max(stage, 0))
        if channel_last:
            t = t.permute(0, 3, 1, 2)
        mask = cell_mask(removed, (4, 4), tuple(t.shape[-2:]), t.dtype).expand_as(t).bool()
        assert (t[mask] == 0).all(), f'non-zero removed position at stage {stage}'
        assert (t[~mask] != 0).any()
    union = cell_mask(shot_index > 0, (4, 4), (4, 4), feats.dtype).expand_as(feats).bool()
    assert (feats[union] == 0).all() and (feats[~union] != 0).all()


def test_eta2_zero_is_bit_exact_to_one_shot():
    one = build((0, ), (0.6, ))
    two = build((0, 3), (0.6, 0.0))
    two.load_state_dict(one.state_dict())
    x = images()
    out = []
    for model in (one, two):
        model.train()
        torch.manual_seed(5)
        losses = model.loss(x, None)
        rng_after = torch.get_rng_state()
        losses['loss'].backward()
        assert all(p.grad is not None for p in model.parameters()), 'unused parameter'
        out.append((losses, rng_after, model.backbone.stages[1][0].grn.gamma.grad.clone(),
                    model.backbone.downsample_layers[0][0].weight.grad.clone()))
    (l1, rng1, g1, s1), (l2, rng2, g2, s2) = out
    assert torch.equal(l1['loss'], l2['loss'])
    assert torch.equal(rng1, rng2)  # the η=0 shot drew no random numbers
    assert torch.equal(g1, g2) and torch.equal(s1, s2)
    assert l2[f'{MASKED_CELLS_KEY}2'].item() == 0 and l2['rec_err_shot2'].item() == 0


def test_shot2_removes_exactly_the_expected_still_visible_cells():
    model = build((0, 3), (0.6, 0.25))
    x = images(batch=4)
    with torch.no_grad():
        _, shot_index, pred = run(model, x, seed=11)
    # Replay the draws: shot 1 over all cells, shot 2 over the visible ones in raster order.
    torch.manual_seed(11)
    _, removed1 = random_keep(4, CELLS, 0.6, x.device)
    visible = torch.stack([
        torch.tensor([c for c in range(CELLS) if c not in set(r.tolist())]) for r in removed1])
    _, removed2 = random_keep(4, visible.shape[1], 0.25, x.device)
    expected = torch.zeros(4, CELLS, dtype=torch.long)
    expected.scatter_(1, removed1, 1)
    expected.scatter_(1, torch.gather(visible, 1, removed2), 2)
    assert torch.equal(shot_index, expected)
    assert (shot_index == 1).sum(1).tolist() == [10] * 4
    assert (shot_index == 2).sum(1).tolist() == [2] * 4
    assert (shot_index > 0).sum(1).tolist() == [12] * 4
    # Predictions outside the union do not enter the loss.
    head = model.head
    pred2 = torch.where((shot_index == 0)[..., None], torch.randn_like(pred), pred)
    a, b = head.loss(pred, x, shot_index, 2), head.loss(pred2, x, shot_index, 2)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_base_arch_at_224_keeps_19_then_17_cells():
    bb = MODELS.build(dict(type='FCMAEConvNeXt'))  # ConvNeXt V2-B, L(0, 3; 0.6, 0.1)
    assert bb.num_cells == 49 and bb.schedule.kept_counts(49) == [19, 17]
    assert bb.channels == [128, 256, 512, 1024]
    with torch.no_grad():
        feats, shot_index = bb(torch.randn(1, 3, 224, 224))
    assert feats.shape == (1, 1024, 7, 7)
    assert (shot_index == 1).sum().item() == 30 and (shot_index == 2).sum().item() == 2
    assert (feats.flatten(2).abs().sum(1) != 0).sum().item() == 17


@pytest.mark.parametrize('override,named', [
    (dict(mask_layers=[0, 4]), 'mask_layers=[0, 4] contains 4'),
    (dict(mask_ratios=[0.6, 1.0]), 'mask_ratios=[0.6, 1.0] contains 1.0'),
    (dict(img_size=100), 'img_size=100'),
    (dict(mask_cell=16), 'mask_cell=16'),
])
def test_bad_schedules_fail_at_build(override, named):
    cfg = fcmae_cfg()
    cfg['backbone'].update(override)
    with pytest.raises(ValueError, match=re.escape(named)):
        MODELS.build(cfg)


@pytest.mark.parametrize('final_norm', [False, True])
def test_backbone_state_dict_loads_into_stock_convnext(final_norm):
    """FCMAE's default has no final norm (the stock ConvNeXt keeps a fresh one); with
    ``final_norm=True`` the checkpoint fills a stock ConvNeXt exactly."""
    torch.manual_seed(0)
    cfg = fcmae_cfg()
    cfg['backbone']['final_norm'] = final_norm
    bb = randomise(MODELS.build(cfg)).backbone
    stock = ConvNeXt(arch=TINY, use_grn=True, layer_scale_init_value=0.)
    result = stock.load_state_dict(bb.state_dict(), strict=False)
    assert result.missing_keys == ([] if final_norm else ['norm3.weight', 'norm3.bias'])
    assert not result.unexpected_keys
    x = images(batch=1)
    stock.eval()  # (ConvNeXt.train returns None)
    with torch.no_grad():
        plain, ref = bb(x, mask=False), stock(x)
        assert len(plain) == len(ref) == 1
        # without a final norm the plain path returns the pooled features before the norm
        pooled = plain[0][:, :, None, None]  # (B, C, 1, 1), as ConvNeXt norms it
        assert torch.equal(plain[0] if final_norm else stock.norm3(pooled).flatten(1), ref[0])
    norm_params = [n for n, _ in bb.named_parameters() if n.startswith('norm3.')]
    assert norm_params == ([] if not final_norm else ['norm3.weight', 'norm3.bias'])
    if not final_norm:  # the masked path ends with the last stage's blocks, as FCMAE's encoder
        cfg['backbone']['final_norm'] = True
        normed = MODELS.build(cfg).backbone
        assert normed.load_state_dict(bb.state_dict(), strict=False).missing_keys == [
            'norm3.weight', 'norm3.bias']
        with torch.no_grad():
            normed.norm3.weight.normal_()
            normed.norm3.bias.normal_()
            torch.manual_seed(3)
            feats, shot_index = bb(x)
            torch.manual_seed(3)
            feats_normed, shot_index_normed = normed(x)
            keep = cell_mask(shot_index == 0, (4, 4), (4, 4), feats.dtype)
            assert torch.equal(shot_index, shot_index_normed)
            assert torch.allclose(normed.norm3(feats) * keep, feats_normed, atol=1e-6)
            assert not torch.allclose(feats, feats_normed, atol=1e-2)


def test_final_norm_must_be_a_bool():
    cfg = fcmae_cfg()
    cfg['backbone']['final_norm'] = 'yes'
    with pytest.raises(ValueError, match=re.escape("final_norm='yes'")):
        MODELS.build(cfg)


def test_registry_build_loss_keys_and_backward():
    model = MODELS.build(fcmae_cfg())
    model.init_weights()
    model.train()
    x = images()
    token_seen = []
    handle = model.neck.decoder.register_forward_pre_hook(
        lambda m, args: token_seen.append(args[0].detach()))
    torch.manual_seed(0)
    losses = model(x, None, mode='loss')
    handle.remove()
    assert set(losses) == {'loss', 'rec_err_shot1', 'rec_err_shot2', f'{MASKED_CELLS_KEY}1',
                           f'{MASKED_CELLS_KEY}2', 'rec_err_trivial',
                           'rec_err_mean_patch'}
    assert [k for k in losses if 'loss' in k] == ['loss']  # only this one is optimised
    assert losses[f'{MASKED_CELLS_KEY}1'].item() == 10
    assert losses[f'{MASKED_CELLS_KEY}2'].item() == 2
    losses['loss'].backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.neck.mask_token.grad.abs().sum() > 0
    # The mask token sits exactly at the union of removed cells.
    dec_in = token_seen[0].flatten(2).transpose(1, 2)  # (B, N, C)
    torch.manual_seed(0)
    _, shot_index = model.backbone(x)
    token = model.neck.mask_token.detach().flatten()
    is_token = (dec_in == token).all(-1)
    assert torch.equal(is_token, shot_index > 0)
    with torch.no_grad():
        feats = model.extract_feat(x)
        rec = model.reconstruct(x)
    assert feats[0].shape == (2, 64)
    assert rec['pred'].shape == x.shape and rec['shot_index'].shape == (2, CELLS)


def test_upstream_weight_init_and_the_std_002_option():
    """``weight_init='fcmae'`` (default) re-initialises as upstream FCMAE.__init__: timm's
    trunc_normal_ without std (std 1.0, cut at +-2) for the stem, depthwise and pointwise layers
    and the decoder's proj / pred; std 0.02 for the downsampling convs; PyTorch's default for
    the decoder blocks' linears. ``'trunc_normal_0.02'`` keeps std 0.02 everywhere."""
    def built(weight_init):
        cfg = fcmae_cfg()
        cfg['weight_init'] = weight_init
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    def std(p):
        return p.detach().std().item()

    up, small = built('fcmae'), built('trunc_normal_0.02')
    unit = 0.88  # std of N(0, 1) cut at +-2
    bb, neck = up.backbone, up.neck
    unit_layers = [bb.downsample_layers[0][0], neck.proj, neck.pred, neck.decoder[0].depthwise_conv]
    for block in [b for stage in bb.stages for b in stage]:
        unit_layers += [block.depthwise_conv, block.pointwise_conv1, block.pointwise_conv2]
    for layer in unit_layers:
        assert abs(std(layer.weight) - unit) < 0.15, layer
        assert layer.weight.abs().max() <= 2 and not layer.bias.any()
    for i in (1, 2, 3):
        assert abs(std(bb.downsample_layers[i][1].weight) - 0.02) < 0.005
    for linear in (neck.decoder[0].pointwise_conv1, neck.decoder[0].pointwise_conv2):
        bound = 1 / linear.in_features**0.5  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), .)
        assert linear.weight.abs().max() <= bound and std(linear.weight) > 0.5 * bound / 3**0.5
    assert abs(std(neck.mask_token) - 0.02) < 0.01
    for name, p in small.named_parameters():
        if p.dim() > 1 and 'mask_token' not in name:
            assert abs(std(p) - 0.02) < 0.01, name
    with pytest.raises(ValueError, match=re.escape("weight_init='xavier'; allowed: fcmae, "
                                                   'trunc_normal_0.02')):
        built('xavier')


@pytest.mark.parametrize('data_format', ['channel_last', 'channel_first'])
def test_batch_pooled_grn_is_per_image_grn_of_the_batch_stitched_into_one_image(data_format):
    """Independent reference: GRN statistics over the whole batch equal mmpretrain's per-image GRN
    applied to one image made of the batch's images side by side."""
    from cmae_mm.models.backbones.fcmae_convnext import batch_grn

    grn = randomise(GRN(16))
    x = torch.randn(3, 5, 4, 16, generator=torch.Generator().manual_seed(0))  # (B, H, W, C)
    x[1, :2] = 0  # removed positions
    stitched = torch.cat(list(x), dim=1)[None]  # (1, H, 3W, C)
    ref = grn(stitched, data_format='channel_last')[0].split(4, dim=1)
    if data_format == 'channel_first':
        out = batch_grn(grn, x.permute(0, 3, 1, 2), data_format).permute(0, 2, 3, 1)
    else:
        out = batch_grn(grn, x, data_format)
    assert torch.allclose(out, torch.stack(ref), atol=1e-5)
    assert not torch.allclose(out, grn(x, data_format='channel_last'), atol=1e-3)


def test_grn_stats_option_of_the_backbone():
    cfg = fcmae_cfg()
    cfg['backbone']['grn_stats'] = 'batch'
    torch.manual_seed(0)
    pooled = randomise(MODELS.build(cfg)).eval()
    per_image = randomise(MODELS.build(fcmae_cfg())).eval()
    per_image.load_state_dict(pooled.state_dict())
    for batch, same in ((1, True), (2, False)):
        x = images(batch=batch)
        outs = [run(m, x, seed=4)[0] for m in (pooled, per_image)]
        assert torch.allclose(outs[0], outs[1], atol=1e-4) == same
    cfg['backbone']['grn_stats'] = 'dataset'
    with pytest.raises(ValueError, match=re.escape("grn_stats='dataset'; allowed: image, batch")):
        MODELS.build(cfg)
