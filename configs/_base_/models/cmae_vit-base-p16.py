# Conditional MAE, ViT-B/16 encoder + MAE's 8-block 512-d decoder, schedule L(0,10; 0.75,0.1).
# The shot schedule is model.backbone.mask_layers / model.backbone.mask_ratios.
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)

model = dict(
    type='ConditionalMAE',
    backbone=dict(
        type='CMAEViT',
        arch='b',
        patch_size=16,
        mask_layers=[0, 10],
        mask_ratios=[0.75, 0.1]),
    neck=dict(
        type='MAEPretrainDecoder',
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.),
    head=dict(
        type='CMAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        shot_weights=None,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
