"""Two-shot SimMIM on Swin: stock equivalence, shot-2 cells, union target, validation, ckpts."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.datasets.transforms import SimMIMMaskGenerator
from mmpretrain.models import SwinTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import cmae_mm.components  # noqa: F401
from cmae_mm.masking import random_keep

# 4 stages of one block, 16-d tokens: stage inputs of 32, 16, 8 and 4 tokens per side at 128 px,
# so 32-px cells give a 4x4 cell grid with one stage-3 token per cell (as Swin-B at 192 px: 6x6).
TINY_ARCH = dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])
IMG = 128
STAGE_CFGS = dict(block_cfgs=dict(window_size=2))
MASK_TOKENS = ['mask_token', 'mask_token_stage3']  # the backbone keys a SwinTransformer lacks


def backbone_cfg(mask_layers=(0, 3), mask_ratios=(0.6, 0.4), stock=False, **kwargs):
    cfg = dict(type='SimMIMSwinTransformer', arch=TINY_ARCH, img_size=IMG, stage_cfgs=STAGE_CFGS)
    if not stock:
        cfg.update(type='CMAESimMIMSwinTransformer', mask_layers=list(mask_layers),
                   mask_ratios=list(mask_ratios), mask_cell=32)
    return dict(cfg, **kwargs)


def model_cfg(stock=False, **kwargs):
    return dict(
        type='SimMIM' if stock else 'CMAESimMIM',
        backbone=backbone_cfg(stock=stock, **kwargs),
        neck=dict(type='SimMIMLinearDecoder', in_channels=16 * 2**3, encoder_stride=32),
        head=dict(type='SimMIMHead', patch_size=4,
                  loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)))


def pipeline_masks(batch, mask_ratio=0.6, seed=0, input_size=IMG, mask_patch_size=32):
    """``data_sample.mask`` as the real SimMIM pipeline makes it (generator + DataSample)."""
    np.random.seed(seed)
    gen = SimMIMMaskGenerator(input_size=input_size, mask_patch_size=mask_patch_size,
                              model_patch_size=4, mask_ratio=mask_ratio)
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_mask(gen.transform({})['mask'])
        samples.append(sample)
    return samples


def cells_of(mask):
    """(B, H/4, W/4) pipeline mask -> (B, 16) one value per 32-px cell, raster order."""
    return mask[:, ::8, ::8].flatten(1)


def seeded_loss(model, images, samples, seed=1):
    torch.manual_seed(seed)
    return model.loss(images, samples)


def test_zero_second_ratio_and_one_shot_are_stock_simmim_bit_for_bit():
    torch.manual_seed(0)
    stock = MODELS.build(model_cfg(stock=True))  # drop_path_rate=0.1: the RNG is used
    images, samples = torch.randn(2, 3, IMG, IMG), pipeline_masks(2)
    ref = seeded_loss(stock, images, samples)['loss']
    ref.backward()
    ref_grad = stock.backbone.patch_embed.projection.weight.grad.clone()

    for layers, ratios in (((0, 3), (0.6, 0.0)), ((0, ), (0.6, ))):
        model = MODELS.build(model_cfg(mask_layers=layers, mask_ratios=ratios))
        assert model.backbone.stage_mask_token_names == []  # no extra parameter
        model.load_state_dict(stock.state_dict(), strict=True)
        losses = seeded_loss(model, images, samples)
        losses['loss'].backward()
        assert torch.equal(losses['loss'], ref)
        assert torch.equal(model.backbone.patch_embed.projection.weight.grad, ref_grad)
        assert torch.equal(losses['rec_err_shot1'], ref.detach())
        assert losses['masked_cells_shot1'].item() == 10.  # ceil(16 * 0.6)


def test_second_shot_masks_only_visible_cells_at_stage3_input():
    torch.manual_seed(0)
    backbone = MODELS.build(backbone_cfg(mask_ratios=(0.6, 0.4)))
    assert backbone.visible_counts == [6, 3]  # 16 - ceil(9.6); int(6 * 0.6)
    with torch.no_grad():
        backbone.mask_token_stage3.fill_(7.)
    seen = []
    backbone.stages[3].register_forward_pre_hook(lambda m, a: seen.append(a))
    samples = pipeline_masks(3)
    mask = torch.stack([s.mask for s in samples])
    with torch.no_grad():
        outs, union_mask, shot_index = backbone(torch.randn(3, 3, IMG, IMG), mask)

    assert outs[0].shape == (3, 128, 4, 4)
    assert shot_index.dtype == torch.long and shot_index.shape == (3, 16)
    shot1 = cells_of(mask).bool()
    assert torch.equal(shot_index == 1, shot1)
    new = shot_index == 2
    assert not (new & shot1).any()  # only cells shot 1 left visible
    assert new.sum(1).tolist() == [3, 3, 3]  # 6 visible - int(6 * 0.6)
    assert (shot_index > 0).sum(1).tolist() == [13, 13, 13]
    # Union at model-patch resolution, same type as the pipeline mask, covering shot 1.
    assert union_mask.shape == mask.shape and union_mask.dtype == mask.dtype
    assert torch.equal(cells_of(union_mask).bool(), shot_index > 0)
    assert torch.equal(union_mask, union_mask[:, ::8, ::8].repeat_interleave(8, 1)
                       .repeat_interleave(8, 2))
    assert (union_mask >= mask).all()
    # Stage-3 input: 4x4 tokens of width 128 (the merged output of stage 2); exactly the new
    # cells carry the stage-3 mask token.
    tokens, hw_shape = seen[0]
    assert tuple(hw_shape) == (4, 4) and tokens.shape == (3, 16, 128)
    is_token = (tokens == 7.).all(-1)
    assert torch.equal(is_token, new)


def test_second_shot_uses_random_keep_over_the_visible_cells():
    torch.manual_seed(0)
    backbone = MODELS.build(backbone_cfg(mask_ratios=(0.6, 0.4)))
    backbone.eval()  # no drop-path draws: the shot's torch.rand is the only one
    mask = torch.stack([s.mask for s in pipeline_masks(2)])
    torch.manual_seed(5)
    with torch.no_grad():
        _, _, shot_index = backbone(torch.randn(2, 3, IMG, IMG), mask)
    torch.manual_seed(5)
    torch.randn(2, 3, IMG, IMG)
    _, remove = random_keep(2, 6, 0.4, torch.device('cpu'))
    for b in range(2):
        visible = torch.nonzero(cells_of(mask)[b] == 0).flatten()
        assert sorted(visible[remove[b]].tolist()) == torch.nonzero(
            shot_index[b] == 2).flatten().tolist()


def test_loss_is_on_the_union_only():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(mask_ratios=(0.6, 0.4)))
    images, samples = torch.randn(2, 3, IMG, IMG), pipeline_masks(2)
    captured = {}
    model.backbone.register_forward_hook(lambda m, a, out: captured.update(out=out))
    base = seeded_loss(model, images, samples)
    _, union_mask, shot_index = captured['out']

    def to_pixels(patch_mask):  # (B, H/4, W/4) -> (B, 1, H, W)
        return patch_mask.repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1).float()

    outside = 1. - to_pixels(union_mask)
    shot2 = to_pixels(model.backbone.cells_to_patch_mask(shot_index == 2))
    assert shot2.sum() > 0

    def perturbed(region):
        handle = model.neck.register_forward_hook(lambda m, a, out: out + 3. * region)
        try:
            return seeded_loss(model, images, samples)
        finally:
            handle.remove()

    assert torch.equal(perturbed(outside)['loss'], base['loss'])
    moved = perturbed(shot2)
    assert not torch.equal(moved['loss'], base['loss'])
    assert torch.equal(moved['rec_err_shot1'], base['rec_err_shot1'])
    assert not torch.equal(moved['rec_err_shot2'], base['rec_err_shot2'])
    assert not torch.equal(base['loss'], base['rec_err_shot1'])  # not shot 1's cells alone


@pytest.mark.parametrize('kwargs,match', [
    (dict(mask_layers=(0, 4)), r'mask_layers=\[0, 4\] contains 4'),
    (dict(mask_ratios=(0.6, 1.0)), r'contains 1\.0'),
    (dict(mask_layers=(1, 3)), r'mask_layers=\[1, 3\] starts at stage 1.*must be 0'),
    (dict(mask_cell=48), r'mask_cell=48'),
])
def test_bad_schedules_fail_at_build(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(backbone_cfg(**kwargs))


def test_pipeline_mask_must_match_first_ratio():
    backbone = MODELS.build(backbone_cfg())
    mask = torch.stack([s.mask for s in pipeline_masks(2, mask_ratio=0.5)])
    with pytest.raises(ValueError, match=r'masks 8 of 16 cells.*mask_ratios\[0\]=0\.6.* = 10'):
        backbone(torch.randn(2, 3, IMG, IMG), mask)
    mask = torch.stack([s.mask for s in pipeline_masks(2, mask_patch_size=16)])
    with pytest.raises(ValueError, match=r'constant on 32-px cells'):
        backbone(torch.randn(2, 3, IMG, IMG), mask)


def test_algorithm_needs_a_scheduled_backbone():
    cfg = model_cfg()
    cfg['backbone'] = backbone_cfg(stock=True)
    with pytest.raises(ValueError, match='got SimMIMSwinTransformer'):
        MODELS.build(cfg)


def test_build_from_registry_and_backward():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(mask_ratios=(0.6, 0.4)))
    model.init_weights()
    losses = model.loss(torch.randn(2, 3, IMG, IMG), pipeline_masks(2))
    assert set(losses) == {'loss', 'rec_err_shot1', 'rec_err_shot2', 'masked_cells_shot1',
                           'masked_cells_shot2', 'rec_err_trivial'}
    assert [k for k in losses if 'loss' in k] == ['loss']
    assert not losses['rec_err_trivial'].requires_grad and losses['rec_err_trivial'] > 0
    assert losses['masked_cells_shot1'].item() == 10.
    assert losses['masked_cells_shot2'].item() == 3.
    assert not losses['rec_err_shot2'].requires_grad
    total, _ = model.parse_losses(losses)
    assert torch.equal(total, losses['loss'])
    total.backward()
    token = model.backbone.mask_token_stage3
    assert token.shape == (1, 1, 128) and token.grad is not None and token.grad.abs().sum() > 0
    # The plain (mask=None) path is a Swin Transformer.
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, IMG, IMG))
    assert feats[0].shape == (1, 128, 4, 4)


def test_backbone_checkpoint_loads_into_swin_transformer():
    backbone = MODELS.build(backbone_cfg())
    swin = SwinTransformer(arch=TINY_ARCH, img_size=IMG, stage_cfgs=STAGE_CFGS)
    state = backbone.state_dict()
    result = swin.load_state_dict(state, strict=False)
    assert result.missing_keys == []
    assert sorted(result.unexpected_keys) == MASK_TOKENS
    swin.load_state_dict({k: v for k, v in state.items() if k not in MASK_TOKENS}, strict=True)


def test_swin_b_192_geometry():
    """Paper setting L(0, 3; 0.6, 0.1) on Swin-B at 192 px: 36 cells, 22 + 2 masked."""
    gen = SimMIMMaskGenerator(input_size=192, mask_patch_size=32, model_patch_size=4,
                              mask_ratio=0.6)
    assert gen.token_count == 36 and gen.mask_count == math.ceil(36 * 0.6) == 22
    mask = gen.transform({})['mask']
    assert mask.shape == (48, 48) and mask.sum() == 22 * 64

    # Swin-B widths (128..1024) with one block per stage: same geometry, fast forward.
    arch = dict(embed_dims=128, depths=[1, 1, 1, 1], num_heads=[4, 8, 16, 32])
    backbone = MODELS.build(dict(
        type='CMAESimMIMSwinTransformer', arch=arch, img_size=192, mask_layers=[0, 3],
        mask_ratios=[0.6, 0.1], mask_cell=32, stage_cfgs=dict(block_cfgs=dict(window_size=6))))
    assert backbone.num_cells == 36 and backbone.visible_counts == [14, 12]
    assert backbone.mask_token_stage3.shape == (1, 1, 1024)
    seen = []
    backbone.stages[3].register_forward_pre_hook(lambda m, a: seen.append((a[0].shape, a[1])))
    masks = torch.from_numpy(np.stack([mask, gen.transform({})['mask']]))
    with torch.no_grad():
        outs, union_mask, shot_index = backbone(torch.randn(2, 3, 192, 192), masks)
    assert seen == [((2, 36, 1024), (6, 6))]
    assert outs[0].shape == (2, 1024, 6, 6)
    assert (shot_index == 1).sum(1).tolist() == [22, 22]
    assert (shot_index == 2).sum(1).tolist() == [2, 2]
    assert (union_mask.flatten(1).sum(1) == 24 * 64).all()


def test_bias_table_resize_matches_an_independent_geometric_reference():
    """Window 6 -> 7 (11x11 -> 13x13 offsets): old offsets placed on geometric-progression
    positions (ratio solved here with brentq), a cubic interpolant read at the new integer offsets
    (here scipy's RegularGridInterpolator, an implementation other than the suite's)."""
    import numpy as np
    from scipy.interpolate import RegularGridInterpolator
    from scipy.optimize import brentq

    from cmae_mm.models.backbones.transfer_hierarchical import (TransferSwin, geometric_offsets,
                                                                resize_bias_table)

    src, dst, heads = 11, 13, 4
    table = torch.from_numpy(np.random.default_rng(0).normal(size=(src * src, heads))).float()
    ratio = brentq(lambda q: sum(q**i for i in range(src // 2)) - dst // 2, 1.0001, 3.)
    steps = np.cumsum([ratio**i for i in range(src // 2)])
    axis = np.concatenate([-steps[::-1], [0.], steps])
    np.testing.assert_allclose(geometric_offsets(src, dst), axis, atol=1e-5)
    assert axis[-1] == pytest.approx(dst // 2) and axis[1] - axis[0] > axis[6] - axis[5] == 1.
    new = np.arange(dst) - dst // 2
    points = np.stack(np.meshgrid(new, new, indexing='ij'), -1).reshape(-1, 2)
    reference = np.stack([RegularGridInterpolator(
        (axis, axis), table[:, h].double().numpy().reshape(src, src), method='cubic')(points)
        for h in range(heads)], -1)
    out = resize_bias_table(table, dst * dst, 'geometric')
    assert out.shape == (dst * dst, heads) and out.dtype == table.dtype
    np.testing.assert_allclose(out.double().numpy(), reference, atol=2e-4)
    centre = table.reshape(src, src, heads)[src // 2, src // 2]
    torch.testing.assert_close(out.reshape(dst, dst, heads)[dst // 2, dst // 2], centre)
    # the plain bicubic option is F.interpolate of the table as an image
    bicubic = torch.nn.functional.interpolate(
        table.T.reshape(1, heads, src, src), size=(dst, dst), mode='bicubic',
        align_corners=False).reshape(heads, dst * dst).T
    torch.testing.assert_close(resize_bias_table(table, dst * dst, 'bicubic'), bicubic)
    assert not torch.allclose(out, bicubic, atol=1e-2)  # the two readings differ
    with pytest.raises(ValueError, match="bias_resize='linear'; allowed: geometric, bicubic"):
        TransferSwin(arch='tiny', bias_resize='linear')


def test_later_shot_rounding_option_masks_round_of_eta_cells():
    """Paper's N4 = η2 N1 = 1.4 read as 1 cell: later_shot_rounding='mask_round' masks
    round(14 * 0.1) = 1 cell in shot 2 (the default keeps int(14 * 0.9) = 12, masking 2); the same
    rule in the FCMAE backbone; unknown values are refused."""
    from cmae_mm.masking import ShotSchedule

    default = ShotSchedule([0, 3], [0.6, 0.1], 4, 36, first_shot_rounding='mask_ceil')
    rounded = ShotSchedule([0, 3], [0.6, 0.1], 4, 36, first_shot_rounding='mask_ceil',
                           later_shot_rounding='mask_round')
    assert default.kept_counts(36) == [14, 12] and rounded.kept_counts(36) == [14, 13]
    assert ShotSchedule([0, 3], [0.6, 0.1], 4, 49).kept_counts(49) == [19, 17]  # FCMAE default
    assert ShotSchedule([0, 3], [0.6, 0.1], 4, 49, later_shot_rounding='mask_round'
                        ).kept_counts(49) == [19, 17]  # round(1.9) = 2 as well
    arch = dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])
    backbone = MODELS.build(dict(
        type='CMAESimMIMSwinTransformer', arch=arch, img_size=192, mask_layers=[0, 3],
        mask_ratios=[0.6, 0.1], mask_cell=32, later_shot_rounding='mask_round',
        stage_cfgs=dict(block_cfgs=dict(window_size=6))))
    assert backbone.visible_counts == [14, 13]
    samples = pipeline_masks(2, input_size=192)
    with torch.no_grad():
        _, _, shot_index = backbone(torch.randn(2, 3, 192, 192),
                                    torch.stack([s.mask for s in samples]))
    assert (shot_index == 2).sum(1).tolist() == [1, 1]
    fcmae = MODELS.build(dict(type='FCMAEConvNeXt', arch=dict(depths=[1, 1, 1, 1],
                                                             channels=[8, 16, 32, 64]),
                              img_size=224, later_shot_rounding='mask_round',
                              mask_ratios=[0.6, 0.3]))
    assert fcmae.schedule.kept_counts(49) == [19, 13]  # 19 - round(5.7)
    with pytest.raises(ValueError, match="later_shot_rounding='ceil'"):
        ShotSchedule([0, 3], [0.6, 0.1], 4, 36, later_shot_rounding='ceil')
