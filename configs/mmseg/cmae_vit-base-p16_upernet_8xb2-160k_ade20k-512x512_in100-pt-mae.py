# Paper Tab. 5, "Sem Seg" of MAE (38.3 mIoU): the parent's UperNet recipe with the encoder from the
# ImageNet-100 one-shot ViT-B/16, L(0; 0.75) = MAE, of the study. lr search as in ..._in100-pt.py.
#   tools/dist_train.sh configs/selfsup/in100/cmae_vit-base-p16_L0_r0.75_in100.py 8
#   tools/dist_train.sh configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512_in100-pt-mae.py 8
_base_ = './cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/cmae_vit-base-p16_L0_r0.75_in100/epoch_300.pth')))
