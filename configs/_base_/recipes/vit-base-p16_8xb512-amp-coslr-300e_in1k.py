# MAE's ViT-B/16 pre-training recipe, ImageNet-1K, 300 epochs (paper Sec. 3.4, App. A.1): shared by
# the Conditional MAE config and its MAE baseline (configs/selfsup/cmae/{cmae,mae}_vit-base-p16_
# 8xb512-amp-coslr-300e_in1k.py), which set only the shot schedule.
# 8 GPUs x 512 = 4096 total batch, AdamW lr 1.5e-4 x 4096/256, 40 warm-up epochs then cosine, AMP.
_base_ = [
    '../models/cmae_vit-base-p16.py',
    '../datasets/imagenet_bs512_mae.py',
    '../pretrain_runtime.py',
    '../schedules/cmae_adamw_300e.py',
]
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 4096 / 256))
auto_scale_lr = dict(base_batch_size=4096)
