# cmae_vit-tiny-p4_ft-100e_fashion-mnist.py with the batch augmentation of the paper's fine-tuning
# recipe (App. A.1, MAE's: mixup 0.8 + cutmix 1.0, one of the two per batch, on the soft labels
# with the config's label smoothing). A trial of the validation recipe search
# (docs/results/fmnist_val_search/). The rest of that recipe is left out: RandAugment's operations
# are built for RGB photographs, and mmpretrain's RandomErasing writes 3-channel patches, which a
# 2-D 28-px grayscale image cannot take.
_base_ = ['./cmae_vit-tiny-p4_ft-100e_fashion-mnist.py']
model = dict(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                                      dict(type='CutMix', alpha=1.0)]))
