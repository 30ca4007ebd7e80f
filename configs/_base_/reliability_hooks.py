# What every training config of the suite adds to its upstream runtime.
#
# Hooks (no upstream config defines custom_hooks where this base is used, so it merges with any of
# them; a config whose upstream base has custom_hooks lists these three itself):
# - RNGStateHook: checkpoints keep every rank's RNG states, so --resume continues the random masks,
#   crops and flips exactly where the run stopped;
# - NonFiniteLossHook: a NaN/inf loss stops the run before the optimizer step, naming the iteration
#   and the resume command (skip=True skips such steps instead, logged and counted).
# - ResumeCheckHook: on --resume, a config whose lr schedule (scheduler begin/end/T_max) differs
#   from the checkpoint's stops with both values (or continues with the config's schedule with
#   tools/train.py --resume-schedule config); the checkpoint's stored config text is dropped
#   unexecuted.
#
# The checkpoint hook cannot be set here: mmengine refuses a key (default_hooks) that two sibling
# bases both define, and every upstream runtime defines it. So each config that inherits this file
# next to an upstream base sets, in its own body,
#   default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook',
#                                        backend_args=dict(backend='atomic_local')))
# - SafeCheckpointHook (cmae_mm/engine/hooks/checkpoint_hook.py): mmengine's CheckpointHook that
#   removes the oldest kept checkpoint only after the new one is saved;
# - backend 'atomic_local' (cmae_mm/engine/atomic_io.py): each checkpoint file goes to a temporary
#   file, is fsync-ed and renamed into place, so no truncated epoch_N.pth ever exists.
# Both are the suite's own names: importing cmae_mm changes neither mmengine's CheckpointHook nor
# its 'local' file backend. tests/test_reliability.py checks that every training config has all of
# these.
custom_hooks = [dict(type='RNGStateHook'), dict(type='NonFiniteLossHook'),
                dict(type='ResumeCheckHook')]
