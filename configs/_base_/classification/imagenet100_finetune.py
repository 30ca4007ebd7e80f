# ImageNet-100 (ImageNet100 dataset, data/imagenet100 built by
# tools/dataset_converters/build_imagenet100.py) for the finetune recipe.
_base_ = './mae_finetune_100e.py'
data_root = 'data/imagenet100/'
data_preprocessor = dict(num_classes=100)
model = dict(head=dict(num_classes=100))
# Total batch 256 (8 GPUs x 32); lr = base_lr x 256/256 (base lr 5e-4; variants 1e-4, 1e-3).
train_dataloader = dict(batch_size=32, dataset=dict(type='ImageNet100', data_root=data_root))
val_dataloader = dict(batch_size=32, dataset=dict(type='ImageNet100', data_root=data_root))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-4 * 256 / 256))
auto_scale_lr = dict(base_batch_size=256)
