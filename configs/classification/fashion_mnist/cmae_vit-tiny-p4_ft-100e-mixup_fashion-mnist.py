# cmae_vit-tiny-p4_ft-100e_fashion-mnist.py with the batch augmentation of the paper's fine-tuning
# recipe (App. A.1, MAE's: mixup 0.8 + cutmix 1.0, one of the two per batch; random erasing 0.25).
# A trial of the validation recipe search (docs/results/fmnist_val_search/): RandAugment, the rest
# of that recipe, is left out, as its operations are built for RGB photographs, not 28-px
# grayscale images.
_base_ = ['./cmae_vit-tiny-p4_ft-100e_fashion-mnist.py']
model = dict(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                                      dict(type='CutMix', alpha=1.0)]))
train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[72.94], fill_std=[90.0]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
