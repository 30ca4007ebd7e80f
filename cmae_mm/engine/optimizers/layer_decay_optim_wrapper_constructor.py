"""Layer-wise lr decay for any model with a ViT backbone (classifier, detector, segmentor)."""
from typing import Callable, List, Optional, Tuple

from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
from torch import nn

__all__ = ['BackboneLayerDecayOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's layer-decay constructor, for models that are not mmpretrain classifiers.

    mmpretrain's constructor asks the *model* for ``get_layer_depth``, which only its
    classifiers provide; mmdet's detectors and mmseg's segmentors have none, and mmseg's own
    constructor only recognises backbones whose class name contains MAE/BEiT/ConvNeXt. This one
    asks ``model.backbone`` (e.g. ``VisionTransformer.get_layer_depth``): the patch embedding,
    ``cls_token`` and ``pos_embed`` get depth 0, block ``i`` depth ``i + 1``, and every parameter
    outside the backbone (necks, heads) the full lr. A parameter at depth ``d`` of a ViT with
    ``L`` blocks gets ``lr * layer_decay_rate ** (L + 1 - d)``.

    Registered in mmengine's root registry, so mmpretrain, mmdet and mmseg configs all find it:
    ``optim_wrapper = dict(constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75, ...))`` (other ``paramwise_cfg`` keys as in
    mmpretrain's constructor).
    """

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   get_layer_depth: Optional[Callable[[str], Tuple[int, int]]] = None,
                   **kwargs) -> None:
        """Add the parameter groups of ``module`` (see the base class), depth from the backbone.

        Raises:
            TypeError: If the model has no ``backbone`` with a ``get_layer_depth`` method.
        """
        if get_layer_depth is None and prefix == '':
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise TypeError(
                    f'{type(self).__name__} needs model.backbone.get_layer_depth; '
                    f'{type(module).__name__}.backbone is {type(backbone).__name__}')

            def get_layer_depth(name: str) -> Tuple[int, int]:
                return backbone.get_layer_depth(name, 'backbone.')

        super().add_params(params, module, prefix, get_layer_depth, **kwargs)
