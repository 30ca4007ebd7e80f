# ImageNet-100 (ImageNet100 dataset, data/imagenet100 built by
# tools/dataset_converters/build_imagenet100.py) for the linear recipe.
_base_ = './mae_linear_90e.py'
data_root = 'data/imagenet100/'
data_preprocessor = dict(num_classes=100)
model = dict(head=dict(num_classes=100))
train_dataloader = dict(dataset=dict(type='ImageNet100', data_root=data_root))
val_dataloader = dict(dataset=dict(type='ImageNet100', data_root=data_root))
test_dataloader = val_dataloader
