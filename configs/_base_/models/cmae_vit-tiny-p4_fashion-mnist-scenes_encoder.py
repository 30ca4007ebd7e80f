# The Fashion-MNIST pre-training's encoder (configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py: 12
# blocks, 64-d, 4 heads, 4x4 patches, one channel) as the backbone of the dense configs on the
# 64x64 scenes (configs/mmdet/fashion_mnist_scenes/, configs/mmseg/fashion_mnist_scenes/); they
# use it as `backbone={{_base_.scenes_encoder}}` over the ViT-B recipe's TransferViT. The
# checkpoint's 7x7 position embeddings are interpolated (bicubic) to the 16x16 grid when loaded.
# Default checkpoint: the 5-epoch MAE pre-training of the fmnist_pt5e study (seed 0); any
# checkpoint of that config fits (--pretrained CKPT, or --cfg-options
# model.backbone.init_cfg.checkpoint=CKPT).
scenes_encoder = dict(
    arch=dict(_delete_=True, embed_dims=64, num_layers=12, num_heads=4, feedforward_channels=128),
    img_size=64,
    patch_size=4,
    in_channels=1,
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained',
                  checkpoint='work_dirs/studies/fmnist_pt5e/mae_seed0/epoch_5.pth',
                  prefix='backbone.'))
