# cmae_vit-base-p16_mask-rcnn_fpn_1x_coco with a ViT-L/16 encoder (24 blocks, 1024-d; pyramid from
# blocks 8, 12, 16, 24). The paper reports detection for ViT-B only; for ViT-L the layer decay and
# drop path follow ViTDet's ViT-L setting (0.8, 0.4): with 24 blocks, 0.75 would leave the first
# blocks at 0.75^25 = 0.08% of the lr.
_base_ = './cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py'
embed_dims = 1024
model = dict(
    backbone=dict(arch='l', drop_path_rate=0.4, out_indices=(7, 11, 15, 23),
                  init_cfg=dict(checkpoint='work_dirs/cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k/epoch_300.pth')),
    neck=[
        dict(type='mmseg.Feature2Pyramid', embed_dim=embed_dims, rescales=[4, 2, 1, 0.5],
             norm_cfg=dict(type='SyncBN', requires_grad=True)),
        dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=256, num_outs=5),
    ])
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
