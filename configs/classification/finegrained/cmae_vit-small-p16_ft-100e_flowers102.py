# Oxford Flowers-102 (mmpretrain's Flowers102: data/Flowers102/{jpg/, imagelabels.mat, setid.mat}):
# fine-tune on train+val (2,040 images), evaluate on test (6,149). Recipe: see the base.
_base_ = '../../_base_/classification/finegrained_finetune.py'
data_root = 'data/Flowers102/'
data_preprocessor = dict(num_classes=102)
model = dict(head=dict(num_classes=102))
train_dataloader = dict(dataset=dict(type='Flowers102', data_root=data_root, split='trainval'))
val_dataloader = dict(dataset=dict(type='Flowers102', data_root=data_root, split='test'))
test_dataloader = val_dataloader
