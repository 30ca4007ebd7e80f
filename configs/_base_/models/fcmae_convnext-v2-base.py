# FCMAE, ConvNeXt V2-B encoder (224 px, 32x32 mask cells: 7x7 = 49) + the official decoder (one
# ConvNeXt V2 block of width 512) + MSE on per-patch normalised pixels of the removed cells
# (ConvNeXt V2 paper, App. A / facebookresearch/ConvNeXt-V2). The shot schedule is
# model.backbone.mask_layers / model.backbone.mask_ratios, set by each pre-training config.
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)
model = dict(
    type='FCMAE',
    backbone=dict(type='FCMAEConvNeXt', arch='base', img_size=224, mask_cell=32),
    neck=dict(type='FCMAEDecoder', in_channels=1024, embed_dims=512, depth=1, mask_cell=32),
    head=dict(type='CMAEPretrainHead', norm_pix=True, patch_size=32,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')))
