# Fine-tune a Swin-B pre-trained with (two-shot) SimMIM: mmpretrain's SimMIM Swin-B fine-tuning
# benchmark, unchanged (mmpretrain::simmim/benchmarks/swin-base-w7_8xb256-coslr-100e_in1k.py:
# 224 px, window 7, 100 epochs, total batch 2048 = 8 x 256, AdamW lr 5e-3, layer decay 0.9,
# drop path 0.1, 20 warm-up epochs then cosine, RandAugment, mixup 0.8, cutmix 1.0, label smoothing
# 0.1, random erasing 0.25, grad clip 5, AMP). Paper Tab. 6: 83.8 (L(0; 0.6)) -> 84.9 (L(0,3; 0.6,0.1)).
# The encoder is TransferSwin: mmpretrain's SwinTransformer whose Pretrained load is strict (no
# encoder key may be missing; the pre-training mask tokens are the only unused keys).
#   tools/dist_train.sh configs/classification/imagenet1k/simmim_swin-base_ft-100e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px/epoch_800.pth
_base_ = ['mmpretrain::simmim/benchmarks/swin-base-w7_8xb256-coslr-100e_in1k.py',
          '../../_base_/reliability_hooks.py']
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook',  # see _base_/reliability_hooks.py
                                     backend_args=dict(backend='atomic_local')))
model = dict(backbone=dict(
    type='TransferSwin',
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px/epoch_800.pth',
                  prefix='backbone.')))
# mmengine 0.10.7 tags a `mmpretrain::` base's collate_fn with `_scope_`, which its Runner passes on
# to default_collate (TypeError): restate it.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
val_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
test_dataloader = val_dataloader
# The recipe's total batch (8 GPUs x 256), for --auto-scale-lr and the usage-line check.
auto_scale_lr = dict(base_batch_size=2048)
