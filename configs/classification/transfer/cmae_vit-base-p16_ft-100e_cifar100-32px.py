# CIFAR-100 at 32x32 (data/cifar100/cifar-100-python): the CIFAR-10 recipe with 100 classes.
_base_ = './cmae_vit-base-p16_ft-100e_cifar10-32px.py'
data_root = 'data/cifar100/'
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(dataset=dict(type='CIFAR100', data_root=data_root))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root=data_root))
test_dataloader = val_dataloader
model = dict(head=dict(num_classes=100))
