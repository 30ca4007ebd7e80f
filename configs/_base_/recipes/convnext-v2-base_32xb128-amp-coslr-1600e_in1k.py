# The official FCMAE ConvNeXt V2-B pre-training recipe at its full length: facebookresearch/
# ConvNeXt-V2 TRAINING.md pre-trains ConvNeXt V2-B for 1,600 epochs; 800 epochs
# (convnext-v2-base_32xb128-amp-coslr-800e_in1k.py) is the ConvNeXt V2 paper's ablation length.
# Shared by the two-shot config and its one-shot FCMAE baseline (configs/selfsup/fcmae/
# {cmae-fcmae,fcmae}_convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py). Everything but the length
# (and the cosine's T_max) is the 800-epoch recipe: 40 warm-up epochs, total batch 4096 = 32 GPUs
# x 128.
_base_ = [
    '../models/fcmae_convnext-v2-base.py',
    '../datasets/imagenet_bs512_mae.py',
    '../pretrain_runtime.py',
    '../schedules/fcmae_adamw_800e.py',
]
train_dataloader = dict(batch_size=128)  # 32 GPUs x 128 = 4096
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1560, by_epoch=True, begin=40, end=1600,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)
auto_scale_lr = dict(base_batch_size=4096)
