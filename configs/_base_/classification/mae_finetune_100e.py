# MAE's end-to-end fine-tuning recipe (paper App. A.1; mmpretrain's mae/benchmarks ViT-B config):
# 100 epochs, AdamW (0.9, 0.999), weight decay 0.05, layer-wise lr decay 0.65, drop path 0.1,
# 5 warm-up epochs then cosine, global-average-pooled features (out_type='avg_featmap'),
# RandAugment, mixup 0.8, cutmix 1.0, label smoothing 0.1, random erasing 0.25.
# The encoder is initialised from the `backbone.*` weights of a (Conditional) MAE pre-training
# checkpoint: set model.backbone.init_cfg.checkpoint (e.g. with --cfg-options).
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['cmae_mm'], allow_failed_imports=False)
