# MAE's pre-training optimiser: AdamW, betas (0.9, 0.95), weight decay 0.05 (not on norms, biases,
# position embeddings and tokens), AMP. Each pre-training config sets lr = base_lr * batch / 256,
# the warm-up/cosine schedule and the number of epochs; `auto_scale_lr` rescales lr when the
# real total batch differs (tools/train.py --auto-scale-lr).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
