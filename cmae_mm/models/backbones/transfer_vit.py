"""The Conditional MAE encoder for downstream transfer, loading its checkpoint strictly."""
from typing import Any, List, Tuple

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from ..utils import python_float_drop_probs, use_few_token_attention
from .strict_pretrained import StrictPretrainedMixin


@MODELS.register_module()
class TransferViT(StrictPretrainedMixin, VisionTransformer):
    """mmpretrain's ``VisionTransformer`` whose ``Pretrained`` initialisation is strict.

    Used as the encoder of every downstream config (classification, Mask R-CNN, UperNet): with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` the encoder weights of
    a Conditional MAE (or MAE) pre-training checkpoint are loaded, and every missing or unexpected
    key raises :class:`~cmae_mm.engine.checkpoint.CheckpointMismatchError` — mmengine's own ``Pretrained``
    initialiser only logs them. Two differences are expected by design and derived from the
    arguments, never configured:

    * ``ln1.*`` of the checkpoint (the pre-training final norm) is unused when
      ``final_norm=False`` (MAE's fine-tuning and dense settings);
    * ``ln2.*`` (the norm of the pooled feature) is new when ``out_type='avg_featmap'``.

    The position embeddings are resized to ``img_size`` while loading (bicubic); for other input
    sizes they are interpolated on the fly, as in ``VisionTransformer``. Every other tensor must
    have the model's shape: a checkpoint of another width, patch size or number of input channels
    fails in one line naming both shapes. All arguments are those of
    ``VisionTransformer``; a dense model uses ``out_type='featmap'`` and ``out_indices``, giving a
    tuple of (B, C, H/p, W/p) maps.

    The maps are contiguous in (B, C, H, W) order. ``VisionTransformer`` returns a permuted view
    of the (B, H, W, C) tokens: channels-last memory, which every convolution of a pyramid neck
    propagates. mmcv's ``RoIAlign`` reads its input as contiguous NCHW memory whatever its strides
    (open-mmlab/mmcv#2203), so a Mask R-CNN on such maps pools scrambled features: its RPN
    learns (it runs convolutions only) and its RoI heads cannot.

    The blocks' drop-path rates are Python floats (mmpretrain's are numpy floats, on which
    ``torch.compile`` breaks the graph at every block); the values are the same. Attention is
    torch's SDPA in eager mode and, when compiled, the faster kernel for the token count
    (:func:`~cmae_mm.models.utils.few_token_attention`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        python_float_drop_probs(self)
        use_few_token_attention(self)

    def _format_output(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """``VisionTransformer``'s output; a ``'featmap'`` is made contiguous (B, C, H, W)."""
        out = super()._format_output(x, hw)
        return out.contiguous() if self.out_type == 'featmap' else out

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """Glob patterns of the (missing, unexpected) keys allowed when loading a checkpoint."""
        missing = ['ln2.*'] if self.out_type == 'avg_featmap' else []
        unexpected = [] if self.final_norm else ['ln1.*']
        return missing, unexpected

    def resized_on_load(self) -> List[str]:
        """The position embeddings: interpolated to ``img_size`` by the load hook."""
        return ['pos_embed']
