# Hooks every training config of the suite adds (no upstream config defines custom_hooks where these
# are used, so this base merges with any of them):
# - RNGStateHook: checkpoints keep every rank's RNG states, so --resume continues the random masks,
#   crops and flips exactly where the run stopped;
# - NonFiniteLossHook: a NaN/inf loss stops the run before the optimizer step, naming the iteration
#   and the resume command (skip=True skips such steps instead, logged and counted).
# - ResumeCheckHook: on --resume, a config whose lr schedule (scheduler begin/end/T_max) differs
#   from the checkpoint's stops with both values (or continues with the config's schedule with
#   tools/train.py --resume-schedule config); the checkpoint's stored config text is dropped
#   unexecuted.
custom_hooks = [dict(type='RNGStateHook'), dict(type='NonFiniteLossHook'),
                dict(type='ResumeCheckHook')]
