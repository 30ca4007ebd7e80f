# The ImageNet-100 twin of imagenet1k/simmim_swin-base_ft-100e_in1k.py: the same SimMIM Swin-B
# fine-tuning recipe on ImageNet100 (data/imagenet100), 100 classes, total batch 256 (8 GPUs x 32);
# lrs scaled as the recipe scales them (x batch/512: 1.25e-3 x 256/512).
_base_ = '../imagenet1k/simmim_swin-base_ft-100e_in1k.py'
data_root = 'data/imagenet100/'
data_preprocessor = dict(num_classes=100)
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint='work_dirs/cmae-simmim_swin-base-w6_8xb32-amp-coslr-300e_in100-192px/epoch_300.pth')),
    head=dict(num_classes=100))
train_dataloader = dict(batch_size=32, dataset=dict(type='ImageNet100', data_root=data_root, split='train'))
val_dataloader = dict(batch_size=32, dataset=dict(type='ImageNet100', data_root=data_root, split='val'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1.25e-3 * 256 / 512))
param_scheduler = [
    dict(type='LinearLR', start_factor=2.5e-7 / 1.25e-3, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=2.5e-7 * 256 / 512, by_epoch=True, begin=20,
         end=100, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=256)
