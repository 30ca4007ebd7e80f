# Stanford Dogs (120 breeds), official layout under data/StanfordDogs:
# Images/<wnid>-<breed>/*.jpg, lists/{train,test}_list.mat. Recipe: see the base.
_base_ = '../../_base_/classification/finegrained_finetune.py'
data_root = 'data/StanfordDogs/'
data_preprocessor = dict(num_classes=120)
model = dict(head=dict(num_classes=120))
train_dataloader = dict(dataset=dict(type='StanfordDogs', data_root=data_root, split='train'))
val_dataloader = dict(dataset=dict(type='StanfordDogs', data_root=data_root, split='test'))
test_dataloader = val_dataloader
