# Conditional MAE ViT-L/16, L(0,10; 0.75,0.1), ImageNet-1K, 300 epochs (paper Fig. 8, App. A.1):
# total batch 1024 (8 GPUs x 128), 30 warm-up epochs, base lr 5e-6 as written in the appendix.
_base_ = [
    '../_base_/models/cmae_vit-large-p16.py',
    '../_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/pretrain_runtime.py',
    '../_base_/schedules/cmae_adamw_300e.py',
]
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=5e-6 * 1024 / 256))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=30,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=270, by_epoch=True, begin=30, end=300,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=1024)
