# Transfer classification (paper Tab. 5/9, App. A.1): the ViT-B/16 pre-trained with Conditional
# MAE L(0,10; 0.75,0.1) on ImageNet-100 (Sec. 3.2), fine-tuned with MAE's recipe for 100 epochs:
# AdamW, weight decay 0.05, layer decay 0.65, drop path 0.1. Each dataset config sets its
# resolution, batch and lr; lr = base_lr x total_batch/256 (MAE's scaling rule; the paper's lrs are
# read as base lrs, although App. A.1 says "learning rate", not "base learning rate", for CIFAR,
# Tiny ImageNet and DTD: each dataset config gives its reason and the literal reading's
# --cfg-options line). The patch size stays 16 at every resolution: the pre-trained 14x14 position
# embeddings are interpolated (bicubic) to the new grid when the checkpoint is loaded.
_base_ = './mae_finetune_100e.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.1, init_cfg=dict(
    checkpoint='work_dirs/cmae_vit-base-p16_L0-10_r0.75-0.1_in100/epoch_300.pth')))
