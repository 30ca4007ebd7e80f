# Fine-tune a ViT-L/16 pre-trained with Conditional MAE on ImageNet-1K (paper App. A.1):
# 100 epochs, total batch 1024 (8 GPUs x 128), AdamW base lr 1e-3 (variants 1.1e-3, 1.2e-3 in the
# _lr* files), layer decay 0.75, drop path 0.2; MAE's augmentation (see the base).
# Encoder: --cfg-options model.backbone.init_cfg.checkpoint=<pre-training checkpoint>
_base_ = '../../_base_/classification/mae_finetune_100e.py'
model = dict(
    backbone=dict(arch='l', drop_path_rate=0.2,
                  init_cfg=dict(checkpoint='work_dirs/cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k/epoch_300.pth')),
    head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=1e-3 * 1024 / 256), paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=1024)
