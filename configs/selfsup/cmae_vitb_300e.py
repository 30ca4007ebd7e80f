# Conditional MAE ViT-B/16, L(0,10; 0.75,0.1), ImageNet-1K, 300 epochs (paper Sec. 3.4, App. A.1).
# 8 GPUs x 512 = 4096 total batch, AdamW lr 1.5e-4 x 4096/256, 40 warm-up epochs then cosine.
#   tools/dist_train.sh configs/selfsup/cmae_vitb_300e.py 8
_base_ = [
    '../_base_/models/cmae_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/pretrain_runtime.py',
    '../_base_/schedules/cmae_pretrain_adamw.py',
]
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 4096 / 256))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
auto_scale_lr = dict(base_batch_size=4096)
resume = True  # a restarted job continues from work_dirs/<config>/last_checkpoint
