# Two-shot SimMIM, Swin-B, L(0,3; 0.6,0.1), pre-trained on your own unlabelled images: the recipe
# of cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py (its recipe base and shot
# schedule: mmpretrain's 100-epoch SimMIM recipe, 8 GPUs x 256, 192 px, the pipeline's
# SimMIMMaskGenerator as shot 1) with the ImageNet-1K dataset replaced by every image under
# `data_root` (UnlabeledImageFolder: mmpretrain's CustomDataset with_label=False; sub-folders at
# any depth, .jpg .jpeg .png .bmp .ppm .pgm .tif .tiff .webp in any case; no labels). An empty or
# missing folder stops tools/train.py with one line naming it.
#
# The thing to change is data_root: edit the line below, or on the command line
#   python tools/train.py configs/selfsup/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_own-images-192px.py \
#       --cfg-options train_dataloader.dataset.data_root=data/my_images
# With fewer GPUs, set train_dataloader.batch_size and add --auto-scale-lr (the lr is set for a
# total batch of 2048).
_base_ = '../../_base_/recipes/swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
data_root = 'data/my_images'
train_dataloader = dict(dataset=dict(
    _delete_=True, type='UnlabeledImageFolder', data_root=data_root,
    pipeline={{_base_.train_dataloader.dataset.pipeline}}))
