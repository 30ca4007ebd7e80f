# Paper Tab. 5, "Obj Det" of MAE (AP^b 38.9, AP^m 35.1): the parent's Mask R-CNN recipe with the
# encoder from the ImageNet-100 one-shot ViT-B/16, L(0; 0.75) = MAE, of the study.
# Conditional-MAE row: ..._in100-pt.py.
#   tools/dist_train.sh configs/selfsup/in100/cmae_vit-base-p16_L0_r0.75_in100.py 8
#   tools/dist_train.sh configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco_in100-pt-mae.py 8
_base_ = './cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/cmae_vit-base-p16_L0_r0.75_in100/epoch_300.pth')))
