# The official FCMAE ConvNeXt V2-B pre-training recipe (ConvNeXt V2 paper, App. A /
# facebookresearch/ConvNeXt-V2 TRAINING.md; mmpretrain ships no FCMAE pre-training), 800 epochs:
# shared by the two-shot config and its one-shot FCMAE baseline (configs/selfsup/fcmae/
# {cmae-fcmae,fcmae}_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py), which set only the shot
# schedule.
#   224 px, RandomResizedCrop scale (0.2, 1) bicubic + flip, 32x32 mask cells (7x7 = 49), decoder
#   1 ConvNeXt V2 block of width 512, MSE on per-patch normalised pixels of the masked cells, total
#   batch 4096 (32 GPUs x 128), AdamW base lr 1.5e-4 (x 4096/256), betas (0.9, 0.95), wd 0.05, 40
#   warm-up epochs then cosine, 800 epochs: the ConvNeXt V2 paper's ablation length; TRAINING.md's
#   full ConvNeXt V2-B run is 1,600 epochs (convnext-v2-base_32xb128-amp-coslr-1600e_in1k.py). The
#   Conditional MAE paper does not state Tab. 6's length.
# The sparse convolutions of the official FCMAE are emulated densely and exactly (masked positions
# are zero around every spatial op, GRN statistics come from visible positions only); AMP is the
# suite's choice for GPUs (the official code trains in fp32 with sparse tensors).
_base_ = [
    '../models/fcmae_convnext-v2-base.py',
    '../datasets/imagenet_bs512_mae.py',
    '../pretrain_runtime.py',
    '../schedules/fcmae_adamw_800e.py',
]
train_dataloader = dict(batch_size=128)  # 32 GPUs x 128 = 4096
auto_scale_lr = dict(base_batch_size=4096)
