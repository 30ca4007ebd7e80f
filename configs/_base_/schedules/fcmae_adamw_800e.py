# FCMAE's official pre-training schedule (facebookresearch/ConvNeXt-V2 TRAINING.md): AdamW base lr
# 1.5e-4 x 4096/256, betas (0.9, 0.95), weight decay 0.05, AMP, 40 linear warm-up epochs then cosine
# to epoch 800. Each recipe sets `auto_scale_lr` (and the lr when its total batch differs).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    # fused=True: torch's fused AdamW (same update to float32 rounding, 0.92x the ConvNeXt V2-B
    # step on CPU, docs/results/benchmark/); upstream's is the unfused one: fused=False
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05,
                   fused=True),
    # as the official code: no weight decay on norms and biases (its 1-d parameters); GRN's and the
    # mask token's parameters are decayed there too (they are not 1-d in its layout)
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=760, by_epoch=True, begin=40, end=800,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
