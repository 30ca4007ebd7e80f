# mmpretrain's default runtime for pre-training runs: keep the last 3 epoch checkpoints (the suite's
# SafeCheckpointHook writing atomically, see reliability_hooks.py), seeded (a different seed per
# rank, as mmpretrain's MAE configs), auto-resume.
_base_ = ['mmpretrain::_base_/default_runtime.py', './reliability_hooks.py']
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=3,
                                     backend_args=dict(backend='atomic_local')))
randomness = dict(seed=0, diff_rank_seed=True)
resume = True  # a restarted job continues from work_dirs/<config>/last_checkpoint
