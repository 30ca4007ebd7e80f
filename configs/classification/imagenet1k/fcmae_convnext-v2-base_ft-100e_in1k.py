# Fine-tune a ConvNeXt V2-B pre-trained with (two-shot) FCMAE: the official ConvNeXt V2-B
# fine-tuning recipe (ConvNeXt V2 paper App. A, facebookresearch/ConvNeXt-V2 TRAINING.md), built on
# mmpretrain's own convnext-v2-base config (mmpretrain::convnext_v2/convnext-v2-base_32xb32_in1k.py:
# 224 px, total batch 1024 = 32 x 32, AdamW wd 0.05, lr 2.5e-3 = base 6.25e-4 x 1024/256, 20 warm-up
# epochs then cosine, drop path 0.1, EMA 0.9999, RandAugment rand-m9-mstd0.5-inc1, mixup 0.8,
# cutmix 1.0, label smoothing 0.1, random erasing 0.25). Set here, as the official recipe:
# 100 epochs, layer decay 0.6, head init scale 0.001 (the head's truncated-normal init at std
# 0.02 x 0.001). Paper Tab. 6: 80.2 (FCMAE L(0; 0.6)) -> 81.1 (L(0,3; 0.6,0.1)).
# The encoder is TransferConvNeXt: mmpretrain's ConvNeXt(use_grn=True, layer_scale_init_value=0.)
# whose Pretrained load is strict (the FCMAE encoder adds no key, none is unused; the final norm
# norm3 is missing by design and starts fresh, as in the official fine-tuning, because FCMAE
# pre-trains without one). The checkpoint also loads into mmpretrain's own convnext-v2 configs
# (plain ConvNeXt backbone, which logs norm3 as missing).
#   tools/dist_train.sh configs/classification/imagenet1k/fcmae_convnext-v2-base_ft-100e_in1k.py 32
_base_ = 'mmpretrain::convnext_v2/convnext-v2-base_32xb32_in1k.py'
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook',  # see _base_/reliability_hooks.py
                                     backend_args=dict(backend='atomic_local')))
model = dict(
    backbone=dict(
        type='TransferConvNeXt',
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k/epoch_800.pth')),
    # (_delete_: the base's head init_cfg is None, which a dict cannot be merged into)
    head=dict(init_cfg=dict(_delete_=True, type='TruncNormal', layer='Linear', std=0.02 * 0.001,
                            bias=0.)))
optim_wrapper = dict(
    constructor='LearningRateDecayOptimWrapperConstructor',
    optimizer=dict(lr=6.25e-4 * 1024 / 256),
    paramwise_cfg=dict(layer_decay_rate=0.6))
train_cfg = dict(max_epochs=100)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'),
                dict(type='RNGStateHook'), dict(type='NonFiniteLossHook'),
                dict(type='ResumeCheckHook')]
