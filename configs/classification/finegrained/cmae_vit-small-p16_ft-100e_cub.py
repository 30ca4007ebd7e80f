# CUB-200-2011 (mmpretrain's CUB: data/CUB_200_2011/{images/, images.txt, image_class_labels.txt,
# train_test_split.txt}): fine-tune on train (5,994 images), evaluate on test (5,794).
# Recipe: see the base.
_base_ = '../../_base_/classification/finegrained_finetune.py'
data_root = 'data/CUB_200_2011/'
data_preprocessor = dict(num_classes=200)
model = dict(head=dict(num_classes=200))
train_dataloader = dict(dataset=dict(type='CUB', data_root=data_root, split='train'))
val_dataloader = dict(dataset=dict(type='CUB', data_root=data_root, split='test'))
test_dataloader = val_dataloader
