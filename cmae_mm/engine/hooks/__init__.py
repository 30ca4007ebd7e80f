"""Training hooks, registered into mmengine's ``HOOKS``."""
from .checkpoint_hook import SafeCheckpointHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .optim_step_param_scheduler_hook import OptimStepParamSchedulerHook
from .resume_check_hook import ResumeCheckHook, ScheduleMismatchError
from .rng_state_hook import RNGStateHook, get_rng_state, set_rng_state

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'OptimStepParamSchedulerHook', 'RNGStateHook',
           'ResumeCheckHook', 'SafeCheckpointHook', 'ScheduleMismatchError', 'get_rng_state',
           'set_rng_state']
