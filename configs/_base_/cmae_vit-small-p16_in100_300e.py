# The ImageNet-100 study setting (paper App. A.1) on ViT-S/16: 300 epochs, total batch 256
# (8 GPUs x 32), AdamW base lr 1.5e-4 x 256/256, weight decay 0.05, 40 warm-up epochs then cosine.
# Members of the study (configs/selfsup/in100/) only set the shot schedule.
_base_ = [
    './models/cmae_vit-small-p16.py',
    './datasets/imagenet100_bs256_mae.py',
    './pretrain_runtime.py',
    './schedules/cmae_adamw_300e.py',
]
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 256 / 256))
auto_scale_lr = dict(base_batch_size=256)
