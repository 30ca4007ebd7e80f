# MAE's end-to-end fine-tuning recipe (mmpretrain's mae/benchmarks ViT-B config). The paper
# (App. A.1) gives 100 epochs, AdamW, weight decay 0.05, layer-wise lr decay 0.65, drop path 0.1,
# 5 warm-up epochs then cosine and global-average-pooled features (out_type='avg_featmap'),
# "following MAE"; it names no augmentation. The rest are MAE's recipe values: AdamW betas
# (0.9, 0.999), RandAugment, mixup 0.8, cutmix 1.0, label smoothing 0.1, random erasing 0.25.
# The encoder (TransferViT: mmpretrain's VisionTransformer with a strict Pretrained load) is
# initialised from the `backbone.*` weights of a (Conditional) MAE pre-training checkpoint: set
# model.backbone.init_cfg.checkpoint (e.g. with --cfg-options). By MAE's design the checkpoint's
# final norm (ln1) is unused and the pooled-feature norm (ln2) is new; any other key difference
# raises an error naming the keys.
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
          '../reliability_hooks.py']
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook',  # see _base_/reliability_hooks.py
                                     backend_args=dict(backend='atomic_local')))
model = dict(backbone=dict(type='TransferViT'))
# The two sample-level augmentations of the recipe, for configs that write their own pipeline at
# another resolution (fill values in BGR order: images loaded by LoadImageFromFile).
rand_augment = dict(
    type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
    magnitude_level=9, magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))
random_erasing = dict(
    type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02, max_area_ratio=1 / 3,
    fill_color=[103.53, 116.28, 123.675], fill_std=[57.375, 57.12, 58.395])
# The same two for RGB images (CIFAR's pickles hold RGB arrays and skip LoadImageFromFile): the
# fill values in RGB order.
rand_augment_rgb = dict(rand_augment, hparams=dict(pad_val=[124, 116, 104], interpolation='bicubic'))
random_erasing_rgb = dict(random_erasing, fill_color=[123.675, 116.28, 103.53],
                          fill_std=[58.395, 57.12, 57.375])
# The fast loader: LoadRandomResizedCrop decodes, crops and resizes in one step in place of
# upstream's LoadImageFromFile + RandomResizedCrop(224, backend='pillow', interpolation='bicubic')
# (same crop boxes and random numbers under the same seed, pixels within resampling differences:
# cmae_mm/datasets/transforms/loading.py); the rest is upstream's pipeline. The stock pair is one
# edit away: replace the first step by those two.
train_pipeline = [
    dict(type='LoadRandomResizedCrop', scale=224, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    rand_augment,
    random_erasing,
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
