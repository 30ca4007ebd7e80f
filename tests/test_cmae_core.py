"""Conditional MAE core: shot schedule, backbone token counts, union target, MAE equivalence."""
import copy

import pytest
import torch
from mmpretrain.registry import MODELS

import cmae_mm.components  # noqa: F401
from cmae_mm.masking import ShotSchedule
from cmae_mm.models.heads.cmae_head import SHOT_ERROR_KEY

TINY_ARCH = dict(embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64)


def tiny_cmae(mask_layers=(0, 10), mask_ratios=(0.75, 0.1), img_size=64, patch_size=8,
              shot_weights=None, algorithm='ConditionalMAE'):
    """A small CMAE (or MAE) model config: 12 blocks, 64 patches."""
    if algorithm == 'MAE':
        backbone = dict(type='MAEViT', arch=TINY_ARCH, img_size=img_size, patch_size=patch_size,
                        mask_ratio=mask_ratios[0])
        head = dict(type='MAEPretrainHead', norm_pix=True, patch_size=patch_size,
                    loss=dict(type='PixelReconstructionLoss', criterion='L2'))
    else:
        backbone = dict(type='CMAEViT', arch=TINY_ARCH, img_size=img_size, patch_size=patch_size,
                        mask_layers=list(mask_layers), mask_ratios=list(mask_ratios))
        head = dict(type='CMAEPretrainHead', norm_pix=True, patch_size=patch_size,
                    shot_weights=shot_weights,
                    loss=dict(type='PixelReconstructionLoss', criterion='L2'))
    return dict(
        type=algorithm,
        backbone=backbone,
        neck=dict(type='MAEPretrainDecoder', num_patches=(img_size // patch_size)**2,
                  patch_size=patch_size, embed_dim=32, decoder_embed_dim=16, decoder_depth=1,
                  decoder_num_heads=2),
        head=head)


def count_block_inputs(backbone, images):
    """Number of tokens (with CLS) entering each block, via forward pre-hooks."""
    seen = []
    handles = [layer.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
               for layer in backbone.layers]
    try:
        out = backbone(images)
    finally:
        for h in handles:
            h.remove()
    return seen, out


@pytest.mark.parametrize('layers,ratios,expected', [
    ((0, ), (0.75, ), [49] * 12),
    ((0, 10), (0.75, 0.1), [49] * 10 + [44] * 2),
    ((0, 10, 11), (0.75, 0.1, 0.1), [49] * 10 + [44, 39]),
    ((6, ), (0.75, ), [196] * 6 + [49] * 6),  # one shot at block j > 0 (paper Fig. 2)
])
def test_vit_b16_tokens_per_block(layers, ratios, expected):
    """ViT-B/16 at 224: the real backbone feeds each block the documented number of tokens."""
    schedule = ShotSchedule(layers, ratios, num_layers=12, num_tokens=196)
    assert schedule.tokens_per_layer(196) == expected
    backbone = MODELS.build(dict(type='CMAEViT', arch='b', mask_layers=list(layers),
                                 mask_ratios=list(ratios)))
    with torch.no_grad():
        seen, (latent, shot_index, ids_restore) = count_block_inputs(
            backbone, torch.randn(2, 3, 224, 224))
    assert seen == [n + 1 for n in expected]  # + CLS token
    assert latent.shape == (2, 1 + expected[-1], 768)
    assert shot_index.shape == ids_restore.shape == (2, 196)
    removed = [196 - schedule.kept_counts(196)[0]] + [
        a - b for a, b in zip(schedule.kept_counts(196), schedule.kept_counts(196)[1:])]
    for s, n in enumerate(removed, start=1):
        assert (shot_index == s).sum(dim=1).tolist() == [n, n]
    assert (shot_index == 0).sum(dim=1).tolist() == [expected[-1]] * 2


def test_later_shots_remove_only_still_visible_tokens_and_restore_is_consistent():
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_cmae((0, 5, 9), (0.5, 0.5, 0.25))['backbone'])
    images = torch.randn(3, 3, 64, 64)
    captured = []
    handles = [backbone.layers[i].register_forward_pre_hook(
        lambda m, a: captured.append(a[0].detach().clone())) for i in (0, 5, 9)]
    with torch.no_grad():
        latent, shot_index, ids_restore = backbone(images)
    for h in handles:
        h.remove()
    assert [c.shape[1] - 1 for c in captured] == [32, 16, 12]
    # ids_restore is a permutation that puts the finally visible patches first.
    order = torch.argsort(ids_restore, dim=1)  # ids_shuffle: patch index at each decoder slot
    assert torch.equal(torch.sort(order, dim=1).values, torch.arange(64).expand(3, 64))
    visible_first = order[:, :12]
    assert torch.all(torch.gather(shot_index, 1, visible_first) == 0)
    assert torch.all(torch.gather(shot_index, 1, order[:, 12:]) > 0)
    # The CLS token survives every shot and the counts per shot are exact.
    assert [(shot_index == s).sum().item() for s in (1, 2, 3)] == [3 * 32, 3 * 16, 3 * 4]


def test_one_shot_reproduces_mmpretrain_mae_bit_for_bit():
    """Same weights, same seed -> the same loss as stock MAE, to the last bit."""
    torch.manual_seed(0)
    mae = MODELS.build(tiny_cmae((0, ), (0.75, ), algorithm='MAE'))
    mae.init_weights()
    cmae = MODELS.build(tiny_cmae((0, ), (0.75, )))
    missing, unexpected = cmae.load_state_dict(mae.state_dict(), strict=True)
    assert not missing and not unexpected
    images = torch.randn(4, 3, 64, 64)
    torch.manual_seed(123)
    loss_mae = mae.loss(images, [])['loss']
    torch.manual_seed(123)
    losses = cmae.loss(images, [])
    assert torch.equal(loss_mae, losses['loss'])
    assert torch.equal(losses[f'{SHOT_ERROR_KEY}1'], loss_mae.detach())
    # Gradients are identical too.
    loss_mae.backward()
    losses['loss'].backward()
    for (name, p_mae), (_, p_cmae) in zip(mae.named_parameters(), cmae.named_parameters()):
        if p_mae.grad is not None:
            assert torch.equal(p_mae.grad, p_cmae.grad), name


def test_zero_ratio_later_shot_is_exactly_mae():
    """η2 = 0 is MAE: no extra RNG draw, the same loss."""
    torch.manual_seed(0)
    one = MODELS.build(tiny_cmae((0, ), (0.75, )))
    two = MODELS.build(tiny_cmae((0, 10), (0.75, 0.0)))
    two.load_state_dict(one.state_dict(), strict=True)
    images = torch.randn(2, 3, 64, 64)
    torch.manual_seed(7)
    a = one.loss(images, [])
    torch.manual_seed(7)
    b = two.loss(images, [])
    assert torch.equal(a['loss'], b['loss'])
    assert b[f'{SHOT_ERROR_KEY}2'].item() == 0.0


def test_union_target_and_per_shot_errors():
    """The loss is the error over the union of removed patches; per-shot errors are logged only."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_cmae((0, 10), (0.75, 0.5)))
    images = torch.randn(2, 3, 64, 64)
    latent, shot_index, ids_restore = model.backbone(images)
    pred = model.neck(latent, ids_restore)
    target = model.head.construct_target(images)
    err = ((pred - target)**2).mean(-1)  # (B, N)
    losses = model.head.loss(pred, images, shot_index, num_shots=2)
    union = shot_index > 0
    torch.testing.assert_close(losses['loss'], err[union].mean())
    torch.testing.assert_close(losses[f'{SHOT_ERROR_KEY}1'], err[shot_index == 1].mean())
    torch.testing.assert_close(losses[f'{SHOT_ERROR_KEY}2'], err[shot_index == 2].mean())
    assert not losses[f'{SHOT_ERROR_KEY}1'].requires_grad
    # mmengine only optimises keys containing 'loss'; the per-shot errors are logged, not summed.
    total, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(total, losses['loss'])
    assert set(log_vars) == {'loss', f'{SHOT_ERROR_KEY}1', f'{SHOT_ERROR_KEY}2', 'rec_err_trivial',
                             'rec_err_mean_patch'}
    # the trivial reconstruction predicts zero on the same union of patches
    torch.testing.assert_close(losses['rec_err_trivial'], (target**2).mean(-1)[union].mean())
    assert not losses['rec_err_trivial'].requires_grad
    # the stronger one predicts the running mean patch per position: after one training batch,
    # that batch's mean; after a second batch, the mean of both
    torch.testing.assert_close(losses['rec_err_mean_patch'],
                               ((target - target.mean(0))**2).mean(-1)[union].mean())
    images2 = torch.randn(2, 3, 64, 64)
    target2 = model.head.construct_target(images2)
    second = model.head.loss(pred, images2, shot_index, num_shots=2)['rec_err_mean_patch']
    both = torch.cat([target, target2]).mean(0)
    torch.testing.assert_close(second, ((target2 - both)**2).mean(-1)[union].mean())
    assert 'rec_err_mean_patch' not in model.state_dict() and \
        'head._patch_sum' not in model.state_dict()
    # Patches of shot 2 were visible to blocks 0-9 only; shot-1 patches were never seen.
    assert (shot_index == 2).sum().item() == 2 * 8


def test_shot_weights_weight_the_per_shot_means():
    torch.manual_seed(0)
    model = MODELS.build(tiny_cmae((0, 10), (0.75, 0.15), shot_weights=(0.75, 0.15)))
    images = torch.randn(2, 3, 64, 64)
    losses = model.loss(images, [])
    expected = 0.75 * losses[f'{SHOT_ERROR_KEY}1'] + 0.15 * losses[f'{SHOT_ERROR_KEY}2']
    torch.testing.assert_close(losses['loss'].detach(), expected)


def test_unmasked_forward_is_a_plain_vit():
    torch.manual_seed(0)
    cfg = tiny_cmae()['backbone']
    cmae_vit = MODELS.build(dict(cfg, out_type='avg_featmap'))
    vit = MODELS.build(dict(type='VisionTransformer', arch=TINY_ARCH, img_size=64, patch_size=8,
                            out_type='avg_featmap'))
    vit.load_state_dict(cmae_vit.state_dict(), strict=True)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(cmae_vit(images, mask=None)[0], vit(images)[0])
        assert torch.equal(cmae_vit(images, mask=False)[0], vit(images)[0])
    # Layer-wise lr decay still sees the ViT depth.
    assert cmae_vit.get_layer_depth('backbone.layers.3.attn.qkv.weight', 'backbone.') == (4, 14)


@pytest.mark.parametrize('kwargs,match', [
    (dict(mask_layers=[10, 0], mask_ratios=[0.75, 0.1]), r'mask_layers=\[10, 0\] must be strictly'),
    (dict(mask_layers=[0, 0], mask_ratios=[0.75, 0.1]), r'mask_layers=\[0, 0\] must be strictly'),
    (dict(mask_layers=[0, 12], mask_ratios=[0.75, 0.1]), r'contains 12: .* \[0, 11\]'),
    (dict(mask_layers=[-1], mask_ratios=[0.75]), r'contains -1'),
    (dict(mask_layers=[0, 10], mask_ratios=[0.75, 1.0]), r'mask_ratios=\[0.75, 1.0\] contains 1.0.*\[0, 1\)'),
    (dict(mask_layers=[0], mask_ratios=[-0.1]), r'contains -0.1'),
    (dict(mask_layers=[0, 10], mask_ratios=[0.75]), r'different lengths \(2 vs 1\)'),
    (dict(mask_layers=[], mask_ratios=[]), r'mask_layers=\[\] is empty'),
    (dict(mask_layers=[0, 1, 2], mask_ratios=[0.9, 0.9, 0.9]), r'leaves no visible token of 64'),
    (dict(mask_layers=[0], mask_ratios=[0.0]), r'removes none of the 64'),
    (dict(mask_layers=0, mask_ratios=[0.75]), r'mask_layers=0 must be a list'),
    (dict(mask_layers=[0], mask_ratios=[0.75], mask_ratio=0.75), r'mask_ratio=0.75'),
])
def test_schedule_validation_errors(kwargs, match):
    cfg = tiny_cmae()['backbone']
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg)


def test_shot_weights_length_is_checked_at_build():
    with pytest.raises(ValueError, match=r'shot_weights=\[0.5\] has 1 entries but .* 2 shots'):
        MODELS.build(tiny_cmae((0, 10), (0.75, 0.1), shot_weights=(0.5, )))


def test_schedule_text_and_counts():
    schedule = ShotSchedule([0, 10, 11], [0.75, 0.1, 0.1], num_layers=12, num_tokens=196)
    assert str(schedule) == 'L(0,10,11; 0.75,0.1,0.1)'
    assert schedule.kept_counts(196) == [49, 44, 39]
    assert schedule.num_shots == 3 and schedule.shot_at(10) == 1 and schedule.shot_at(5) is None
    assert copy.deepcopy(schedule) == schedule
