# Conditional MAE ViT-B/16, L(0,10; 0.75,0.1), pre-trained on your own unlabelled images: the
# recipe of cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py (300 epochs, 8 GPUs x 512, AdamW, MAE's
# crop + flip; its recipe base and shot schedule) with the ImageNet-1K dataset replaced by every
# image under `data_root` (UnlabeledImageFolder: mmpretrain's CustomDataset with_label=False;
# sub-folders at any depth, .jpg .jpeg .png .bmp .ppm .pgm .tif .tiff .webp in any case; no labels,
# folder names ignored). An empty or missing folder stops tools/train.py with one line naming it.
#
# The thing to change is data_root: edit the line below, or on the command line
#   python tools/train.py configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_own-images.py \
#       --cfg-options train_dataloader.dataset.data_root=data/my_images
# With fewer GPUs, set train_dataloader.batch_size and add --auto-scale-lr (the lr is set for a
# total batch of 4096); with a small folder, fewer epochs may do (train_cfg.max_epochs and the
# schedule's param_scheduler.1.end / T_max).
_base_ = '../../_base_/recipes/vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
model = dict(backbone=dict(mask_layers=[0, 10], mask_ratios=[0.75, 0.1]))
data_root = 'data/my_images'
train_dataloader = dict(dataset=dict(
    _delete_=True, type='UnlabeledImageFolder', data_root=data_root,
    pipeline={{_base_.train_dataloader.dataset.pipeline}}))
