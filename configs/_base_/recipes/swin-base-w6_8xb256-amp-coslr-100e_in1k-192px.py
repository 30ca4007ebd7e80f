# mmpretrain's SimMIM Swin-B 100-epoch recipe through the suite's classes: shared by the two-shot
# config and its one-shot SimMIM baseline (configs/selfsup/simmim/{cmae-simmim,simmim}_swin-base-w6_
# 8xb256-amp-coslr-100e_in1k-192px.py), which set only the shot schedule.
# (mmpretrain::simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py: batch 8 x 256,
# AdamW lr 2e-4 x 2048/512, 10 warm-up epochs then cosine to 1e-5 x 2048/512, 100 epochs, AMP.)
_base_ = ['mmpretrain::simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
          '../reliability_hooks.py']
custom_imports = dict(imports=['cmae_mm.components'], allow_failed_imports=False)
model = dict(type='CMAESimMIM', backbone=dict(type='CMAESimMIMSwinTransformer'))
# Both mask tokens (shot 1's `mask_token`, shot 2's `mask_token_stage3`) are excluded from weight
# decay, as Microsoft's SimMIM excludes `mask_token` (mmpretrain's file decays it). Drop path stays
# mmpretrain's 0.1 (Microsoft's pre-training uses 0.0: --cfg-options model.backbone.drop_path_rate=0.0).
# fused=True: torch's fused AdamW (same update to float32 rounding, 0.86-0.90x the Swin-B step on
# CPU, docs/results/benchmark/); mmpretrain's and Microsoft's are unfused: fused=False
optim_wrapper = dict(optimizer=dict(fused=True), paramwise_cfg=dict(custom_keys={
    'norm': dict(decay_mult=0.0), 'bias': dict(decay_mult=0.0),
    'absolute_pos_embed': dict(decay_mult=0.), 'relative_position_bias_table': dict(decay_mult=0.),
    'mask_token': dict(decay_mult=0.)}))  # matches mask_token and mask_token_stage3
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3,
                                     backend_args=dict(backend='atomic_local')))
resume = True  # a restarted job continues from its work dir's last_checkpoint
# mmengine 0.10.7 tags a `mmpretrain::` base's collate_fn with `_scope_`, which default_collate
# rejects: restate it.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
