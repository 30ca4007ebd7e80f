# Stanford Dogs (120 breeds; official layout Images/<wnid>-<breed>/*.jpg + lists/{train,test}_list.mat
# under data/StanfordDogs) with MAE's fine-tuning recipe at 224x224. Fine-grained setting of the
# paper (Tab. 2/8, App. A.1): total batch 16 (8 GPUs x 2), lr = base_lr x 16/256.
_base_ = './mae_finetune_100e.py'
data_root = 'data/StanfordDogs/'
data_preprocessor = dict(num_classes=120)
model = dict(head=dict(num_classes=120))
train_dataloader = dict(batch_size=2, dataset=dict(
    _delete_=True, type='StanfordDogs', data_root=data_root, split='train',
    pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(batch_size=2, dataset=dict(
    _delete_=True, type='StanfordDogs', data_root=data_root, split='test',
    pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=16)
