# Fine-grained classification (paper Tab. 2/8, App. A.1): a ViT-S/16 pre-trained with Conditional
# MAE L(0,10; 0.75,0.1) on ImageNet-100, fine-tuned with MAE's recipe at 224x224 for 100 epochs,
# total batch 16 (8 GPUs x 2), AdamW lr = base_lr x 16/256 with base lr 7e-4 (the *_lr8e-4
# configs: 8e-4), layer decay 0.65, drop path 0.1. The dataset configs in
# configs/classification/finegrained/ only set the dataset.
_base_ = './mae_finetune_100e.py'
model = dict(
    backbone=dict(arch='deit-small', drop_path_rate=0.1, init_cfg=dict(
        checkpoint='work_dirs/cmae_vit-small-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')),
    head=dict(in_channels=384))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=16)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=7e-4 * 16 / 256))
auto_scale_lr = dict(base_batch_size=16)
