"""Optimizer wrapper constructors, registered into mmengine's ``OPTIM_WRAPPER_CONSTRUCTORS``."""
from .layer_decay_optim_wrapper_constructor import BackboneLayerDecayOptimWrapperConstructor

__all__ = ['BackboneLayerDecayOptimWrapperConstructor']
