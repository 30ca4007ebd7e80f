# Paper Tab. 5, "Sem Seg" of Conditional-MAE (38.9 mIoU): the parent's UperNet recipe with the
# encoder from the ImageNet-100 two-shot ViT-B/16, L(0,10; 0.75,0.1), of the study (Sec. 3.2).
# The paper searches lr 3e-4 / 4e-4 / 5e-4 (App. A.1): --cfg-options optim_wrapper.optimizer.lr=3e-4
# (or 5e-4). MAE row of Tab. 5 (38.3): ..._in100-pt-mae.py.
#   tools/dist_train.sh configs/selfsup/in100/cmae_vit-base-p16_L0-10_r0.75-0.1_in100.py 8
#   tools/dist_train.sh configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512_in100-pt.py 8
_base_ = './cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/cmae_vit-base-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')))
