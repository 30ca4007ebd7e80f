# MAE baseline for cmae_vitb_800e.py: ViT-B/16, L(0; 0.75), ImageNet-1K, 800 epochs, the same
# recipe (base lr 1.5e-4: see cmae_vitb_800e.py for the appendix's literal 1e-5). Paper Fig. 8.
#   tools/dist_train.sh configs/selfsup/mae_vitb_800e.py 8
# Same total batch on fewer GPUs: 2 GPUs x 512 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/mae_vitb_800e.py 2 --keep-batch
_base_ = './cmae_vitb_800e.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.75]))
