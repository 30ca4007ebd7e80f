# ImageNet-100 (the CMC 100-class subset of ImageNet-1K) for MAE-style pre-training: the ImageNet-1K
# pipeline at the paper's total batch of 256 (8 GPUs x 32).
# Build data/imagenet100 from data/imagenet with tools/dataset_converters/build_imagenet100.py
# (symlink mode gives data/imagenet100/{train,val}/<wnid>/ read below; for its annfile mode set
# data_root='data/imagenet/' and ann_file='<abs path>/data/imagenet100/meta/train.txt', no split).
# The ImageNet100 dataset is registered by `import cmae_mm.components` (the model bases' custom_imports).
_base_ = './imagenet_bs512_mae.py'
data_root = 'data/imagenet100/'
train_dataloader = dict(
    batch_size=32,  # 8 GPUs x 32 = 256
    dataset=dict(type='ImageNet100', data_root=data_root))
