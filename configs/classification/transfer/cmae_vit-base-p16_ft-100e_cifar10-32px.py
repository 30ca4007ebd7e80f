# CIFAR-10 at its native 32x32 (paper App. A.1: "32x32 for CIFAR"; mmpretrain's CIFAR10 reads the
# official python pickles from data/cifar10/cifar-10-batches-py), total batch 512 (8 GPUs x 64),
# lr 1.5e-3 x 512/256. The patch size stays 16, so the ViT sees a 2x2 grid of patch tokens (plus
# CLS); the pre-trained position embeddings are interpolated from 14x14 to 2x2.
# The pickles hold RGB arrays (no LoadImageFromFile), so the preprocessor does not swap channels
# and RandAugment / RandomErasing fill in RGB order (the base's *_rgb variants).
# "learning rate 1.5e-3" or base lr? App. A.1 writes "set learning rate to 1.5e-3" (not "base").
# Kept as a base lr (lr = 1.5e-3 x 512/256 = 3e-3), as the paper's other fine-tuning lrs are base
# lrs (ImageNet: "base learning rates 1e-4, 5e-4, 1e-3"; fine-grained: "base learning rates 7e-4
# and 8e-4") and DTD's 2.5e-3 is only plausible as one (see the DTD config); the same reading for
# all transfer sets. The literal reading (lr 1.5e-3 at batch 512, i.e. base 7.5e-4), also for
# CIFAR-100:
#   --cfg-options optim_wrapper.optimizer.lr=1.5e-3
_base_ = '../../_base_/classification/transfer_finetune.py'
data_root = 'data/cifar10/'
data_preprocessor = dict(num_classes=10, to_rgb=False)
train_pipeline = [
    dict(type='RandomResizedCrop', scale=32, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment_rgb}},
    {{_base_.random_erasing_rgb}},
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=64, dataset=dict(
    type='CIFAR10', data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(
    type='CIFAR10', data_root=data_root, split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(backbone=dict(img_size=32), head=dict(num_classes=10))
optim_wrapper = dict(optimizer=dict(lr=1.5e-3 * 512 / 256))
auto_scale_lr = dict(base_batch_size=512)
