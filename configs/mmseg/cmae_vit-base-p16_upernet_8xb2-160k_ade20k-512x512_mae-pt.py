# Paper Sec. 3.2, MAE's 45.8 mIoU (vs Conditional-MAE's 46.1, the parent config): the parent's
# UperNet recipe with the encoder from the ImageNet-1K 300-epoch MAE baseline, ViT-B/16
# L(0; 0.75) pre-trained on the same recipe base as cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
# (configs/selfsup/cmae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py).
#   tools/dist_train.sh configs/selfsup/cmae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 8
#   tools/dist_train.sh configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512_mae-pt.py 8
_base_ = './cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth')))
