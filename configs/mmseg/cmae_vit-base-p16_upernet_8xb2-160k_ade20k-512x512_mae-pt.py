# Paper Sec. 3.2, MAE's 45.8 mIoU (vs Conditional-MAE's 46.1, the parent config): the parent's
# UperNet recipe with the encoder from the ImageNet-1K 300-epoch MAE baseline, ViT-B/16
# L(0; 0.75) pre-trained with the same recipe as cmae_vitb_300e.py (configs/selfsup/mae_vitb_300e.py).
#   tools/dist_train.sh configs/selfsup/mae_vitb_300e.py 8
#   tools/dist_train.sh configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512_mae-pt.py 8
_base_ = './cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/mae_vitb_300e/epoch_300.pth')))
