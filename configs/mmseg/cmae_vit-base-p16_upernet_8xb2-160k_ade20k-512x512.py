# UperNet on ADE20K with a ViT-B/16 encoder pre-trained by Conditional MAE (paper Sec. 3.2,
# App. A.1, following CAE / MAE): 512x512 crops, batch 16 (8 GPUs x 2), 160k iterations, AdamW
# lr 4e-4 (the paper's search: 3e-4 / 4e-4 / 5e-4, the _lr3e-4 and _lr5e-4 configs), weight decay
# 0.05, layer-wise lr decay 0.65, drop path 0.1, 1500 warm-up iterations then linear decay, AMP,
# single-scale (sliding-window) test, mIoU. Everything else is mmseg's MAE UperNet config: blocks
# 4, 6, 8, 12 through the deconvolution pyramid (Feature2Pyramid) into UPerHead + an FCN auxiliary
# head. Position embeddings: the encoder's absolute ones, interpolated from 14x14 to 32x32 when
# the checkpoint is loaded; no relative position bias (a Conditional MAE checkpoint has none, and
# mmseg's MAE backbone would start it from zero), which is why the backbone is the suite's
# TransferViT (strict loading: only the pre-training final norm ln1 is unused) and not mmseg's MAE.
#   tools/dist_train.sh configs/mmseg/cmae_vit-base-p16_upernet_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth
# Which checkpoint: the default is the ImageNet-1K 300-epoch run
# (selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py): paper Sec. 3.2's 46.1 mIoU
# (MAE: 45.8, ..._mae-pt.py). Paper Tab. 5's segmentation (38.9 vs MAE 38.3) comes from the
# ImageNet-100 study's ViT-B/16: ..._in100-pt.py and ..._in100-pt-mae.py.
_base_ = ['mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
          '../_base_/reliability_hooks.py']
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook',  # see _base_/reliability_hooks.py
                                     backend_args=dict(backend='atomic_local')))  # every 16k iterations
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.TransferViT',
        arch='b',
        img_size=512,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        out_indices=(3, 5, 7, 11),
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth',
                      prefix='backbone.')))
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.,  # norms and biases
        custom_keys={'pos_embed': dict(decay_mult=0.), 'cls_token': dict(decay_mult=0.)}))
