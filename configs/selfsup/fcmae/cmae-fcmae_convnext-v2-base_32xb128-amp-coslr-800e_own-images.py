# Two-shot FCMAE, ConvNeXt V2-B, L(0,3; 0.6,0.1), pre-trained on your own unlabelled images: the
# recipe of cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py (its recipe base and shot
# schedule: 800 epochs, 32 GPUs x 128, 224 px, 32-px mask cells) with the ImageNet-1K dataset
# replaced by every image under `data_root` (UnlabeledImageFolder: mmpretrain's CustomDataset
# with_label=False; sub-folders at any depth, .jpg .jpeg .png .bmp .ppm .pgm .tif .tiff .webp in
# any case; no labels). An empty or missing folder stops tools/train.py with one line naming it.
#
# The thing to change is data_root: edit the line below, or on the command line
#   python tools/train.py configs/selfsup/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_own-images.py \
#       --cfg-options train_dataloader.dataset.data_root=data/my_images
# With fewer GPUs, set train_dataloader.batch_size and add --auto-scale-lr (the lr is set for a
# total batch of 4096).
_base_ = '../../_base_/recipes/convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
data_root = 'data/my_images'
train_dataloader = dict(dataset=dict(
    _delete_=True, type='UnlabeledImageFolder', data_root=data_root,
    pipeline={{_base_.train_dataloader.dataset.pipeline}}))
