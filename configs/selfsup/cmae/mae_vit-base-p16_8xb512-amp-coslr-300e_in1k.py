# MAE baseline of cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py: ViT-B/16, L(0; 0.75) (one shot
# at the input, i.e. MAE), ImageNet-1K, 300 epochs, the same recipe base and classes as the
# Conditional MAE run (a schedule with a single shot at block 0 is MAE's masking). Paper: Fig. 8
# (MAE points) and Sec. 3.2, the 45.8 mIoU of MAE vs 46.1 of Conditional-MAE on ADE20K
# (mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512_mae-pt.py).
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 8
# Same total batch on fewer GPUs: 2 GPUs x 512 x 4 accumulation = 4096 (lr schedule in steps):
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 2 --keep-batch
_base_ = '../../_base_/recipes/vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
model = dict(backbone=dict(mask_layers=[0], mask_ratios=[0.75]))
