# The from-scratch control of the Fashion-MNIST fine-tuning, with a recipe of its own: the same
# ImageClassifier (TransferViT, 12 blocks, 64-d, 4x4 patches) and the same data, augmentation,
# labelled subsets, validation split and test set as
# cmae_vit-tiny-p4_ft-100e_fashion-mnist.py, but randomly initialised and trained as well as it
# can be (the MAE paper's App. A.2 practice, docs of the suite: ../../../docs/results/):
# - no layer-wise lr decay (rate 1.0): decay is a prior for pre-trained weights; with 0.75 the
#   patch embedding of a random network would learn at 0.75^13 = 0.024x the lr;
# - its own lr and length, chosen on the validation split (tools/analysis/fmnist_finetune_search.py;
#   the trials are in docs/results/fmnist_val_search/). The defaults below are the chosen ones.
#
#   python tools/train.py configs/classification/fashion_mnist/vit-tiny-p4_scratch_fashion-mnist.py
#   python tools/test.py <this config> <work_dir>/epoch_<max_epochs>.pth
_base_ = ['./cmae_vit-tiny-p4_ft-100e_fashion-mnist.py']
model = dict(backbone=dict(init_cfg=None))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=1.0))
