# MAE's pre-training schedule: AdamW, betas (0.9, 0.95), weight decay 0.05 (not on norms, biases,
# position embeddings and tokens), AMP, 40 linear warm-up epochs then cosine to epoch 300.
# Each pre-training config sets lr = base_lr * total_batch / 256 and `auto_scale_lr` (which rescales
# lr when the real total batch differs, with tools/train.py --auto-scale-lr).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    # fused=True: torch's fused AdamW kernel (CPU and CUDA), the same update to float32 rounding
    # (tests/test_benchmark_tools.py) and 0.81x the ViT-B step time on CPU
    # (docs/results/benchmark/); mmpretrain's configs use the unfused one: fused=False
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05,
                   fused=True),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
