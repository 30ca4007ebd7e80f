# The ImageNet-100 twin of imagenet1k/fcmae_convnext-v2-base_ft-100e_in1k.py: the same official
# ConvNeXt V2-B fine-tuning recipe on ImageNet100 (data/imagenet100), 100 classes, total batch 256
# (8 GPUs x 32), lr = base 6.25e-4 x 256/256.
_base_ = '../imagenet1k/fcmae_convnext-v2-base_ft-100e_in1k.py'
data_root = 'data/imagenet100/'
data_preprocessor = dict(num_classes=100)
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint='work_dirs/cmae-fcmae_convnext-v2-base_8xb32-amp-coslr-300e_in100/epoch_300.pth')),
    head=dict(num_classes=100))
train_dataloader = dict(batch_size=32, dataset=dict(type='ImageNet100', data_root=data_root, split='train'))
val_dataloader = dict(batch_size=32, dataset=dict(type='ImageNet100', data_root=data_root, split='val'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=6.25e-4 * 256 / 256))
auto_scale_lr = dict(base_batch_size=256)
