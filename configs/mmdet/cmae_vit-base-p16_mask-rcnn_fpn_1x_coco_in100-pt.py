# Paper Tab. 5, "Obj Det" of Conditional-MAE (AP^b 39.5, AP^m 35.5): the parent's Mask R-CNN recipe
# with the encoder from the ImageNet-100 two-shot ViT-B/16, L(0,10; 0.75,0.1), of the study
# (Sec. 3.2: "we pick up the best two-shot masking ImageNet100 pretrained ViT-B/16 model").
# MAE row of Tab. 5 (38.9 / 35.1): ..._in100-pt-mae.py.
#   tools/dist_train.sh configs/selfsup/in100/cmae_vit-base-p16_L0-10_r0.75-0.1_in100.py 8
#   tools/dist_train.sh configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco_in100-pt.py 8
_base_ = './cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/cmae_vit-base-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')))
