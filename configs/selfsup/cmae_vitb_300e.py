# Conditional MAE ViT-B/16, L(0,10; 0.75,0.1), ImageNet-1K, 300 epochs (paper Sec. 3.4, App. A.1).
# 8 GPUs x 512 = 4096 total batch, AdamW lr 1.5e-4 x 4096/256, 40 warm-up epochs then cosine, AMP.
#   tools/dist_train.sh configs/selfsup/cmae_vitb_300e.py 8
# Same total batch on fewer GPUs: 2 GPUs x 512 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae_vitb_300e.py 2 --keep-batch
_base_ = [
    '../_base_/models/cmae_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/pretrain_runtime.py',
    '../_base_/schedules/cmae_adamw_300e.py',
]
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 4096 / 256))
auto_scale_lr = dict(base_batch_size=4096)
