"""FCMAE (ConvNeXt V2 masked autoencoding) with multi-shot (conditional) masking."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.backbones.convnext import ConvNeXtBlock
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..heads.cmae_head import SHOT_CELLS_KEY

#: ``FCMAE(weight_init=...)``: ``'fcmae'`` = upstream FCMAE's re-initialisation,
#: ``'trunc_normal_0.02'`` = mmpretrain's ConvNeXt default everywhere (the suite's earlier model).
WEIGHT_INITS = ('fcmae', 'trunc_normal_0.02')


def _unit_trunc_normal(module: nn.Module, std: float = 1.0) -> None:
    """Weight ~ N(0, std^2) truncated to [-2, 2] (timm's ``trunc_normal_`` defaults), bias 0."""
    nn.init.trunc_normal_(module.weight, std=std, a=-2., b=2.)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def fcmae_upstream_init(backbone: nn.Module, neck: nn.Module) -> None:
    """Re-initialise an FCMAE encoder and decoder as upstream ``FCMAE.__init__`` does.

    facebookresearch/ConvNeXt-V2 ``models/fcmae.py`` applies one ``_init_weights`` to the whole
    model after building it; its ``trunc_normal_`` calls without ``std`` use timm's default
    std 1.0 (truncated at +-2). Mapped onto mmpretrain's ConvNeXt modules:

    * std 1.0, bias 0: the stem conv (a dense ``nn.Conv2d`` upstream), every block's depthwise
      conv (``MinkowskiDepthwiseConvolution`` in the encoder, ``nn.Conv2d`` in the decoder), the
      encoder blocks' pointwise linears (``MinkowskiLinear``), the decoder's ``proj`` and
      ``pred`` convs;
    * std 0.02, bias 0: the downsampling convs between stages (``MinkowskiConvolution``);
    * PyTorch's default (``reset_parameters``): the decoder blocks' pointwise linears (dense
      ``nn.Linear``, which upstream's ``_init_weights`` does not touch);
    * unchanged: LayerNorms (weight 1, bias 0), GRN (0), the mask token (normal, std 0.02).

    Args:
        backbone (nn.Module): :class:`FCMAEConvNeXt` (mmpretrain ConvNeXt modules).
        neck (nn.Module): :class:`FCMAEDecoder`.
    """
    _unit_trunc_normal(backbone.downsample_layers[0][0])
    for layers in list(backbone.downsample_layers)[1:]:
        for m in layers:
            if isinstance(m, nn.Conv2d):
                _unit_trunc_normal(m, std=.02)
    for m in backbone.modules():
        if isinstance(m, ConvNeXtBlock):
            for layer in (m.depthwise_conv, m.pointwise_conv1, m.pointwise_conv2):
                _unit_trunc_normal(layer)
    _unit_trunc_normal(neck.proj)
    _unit_trunc_normal(neck.pred)
    for m in neck.decoder.modules():
        if isinstance(m, ConvNeXtBlock):
            _unit_trunc_normal(m.depthwise_conv)
            for layer in (m.pointwise_conv1, m.pointwise_conv2):
                layer.reset_parameters()



@MODELS.register_module()
class FCMAE(BaseSelfSupervisor):
    """Fully convolutional masked autoencoder (ConvNeXt V2) with conditional, multi-shot masking.

    The backbone (:class:`FCMAEConvNeXt`) owns the shot schedule, set in configs as
    ``model.backbone.mask_layers`` / ``model.backbone.mask_ratios``; ``mask_layers=[0]`` is FCMAE.
    The neck (:class:`FCMAEDecoder`) predicts the pixels of every mask cell; the head
    (:class:`CMAEPretrainHead` with ``patch_size = mask_cell``) reconstructs the union of the
    removed cells and reports the error per shot.

    Args:
        backbone (dict): :class:`FCMAEConvNeXt` config.
        neck (dict): :class:`FCMAEDecoder` config.
        head (dict): :class:`CMAEPretrainHead` config.
        pretrained (str, optional): Checkpoint to initialise from. Defaults to None.
        data_preprocessor (dict | nn.Module, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
        weight_init (str): ``'fcmae'`` (default): after the modules' own initialisation, the
            encoder and decoder are re-initialised as upstream FCMAE (:func:`fcmae_upstream_init`,
            std 1.0 for most convs and linears). ``'trunc_normal_0.02'``: mmpretrain's ConvNeXt
            default everywhere (std 0.02), the suite's earlier model.
            ``tools/analysis/compare_fcmae_init.py`` compares them in a short CPU pre-training.

    Raises:
        ValueError: If the backbone has no shot schedule or the cell / patch sizes, channels or
            shot weights of backbone, neck and head disagree.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, torch.nn.Module]] = None,
                 init_cfg: Optional[dict] = None,
                 weight_init: str = 'fcmae') -> None:
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f'FCMAE weight_init={weight_init!r}; allowed: '
                             f'{", ".join(WEIGHT_INITS)}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.weight_init = weight_init
        if not hasattr(self.backbone, 'schedule') or not hasattr(self.backbone, 'mask_cell'):
            raise ValueError(f'FCMAE needs a backbone with a shot schedule and mask cells (e.g. '
                             f'FCMAEConvNeXt), got {type(self.backbone).__name__}.')
        cell = self.backbone.mask_cell
        neck_cell = getattr(self.neck, 'mask_cell', cell)
        head_patch = getattr(self.head, 'patch_size', cell)
        if neck_cell != cell or head_patch != cell:
            raise ValueError(
                f'backbone.mask_cell={cell}, neck.mask_cell={neck_cell} and '
                f'head.patch_size={head_patch} must be equal: the decoder predicts one '
                f'{cell}x{cell} patch per mask cell.')
        neck_in = getattr(self.neck, 'in_channels', self.backbone.channels[-1])
        if neck_in != self.backbone.channels[-1]:
            raise ValueError(f'neck.in_channels={neck_in} must equal the backbone\'s last-stage '
                             f'width {self.backbone.channels[-1]}.')
        if hasattr(self.head, 'check_schedule'):
            self.head.check_schedule(self.backbone.schedule)

    def init_weights(self) -> None:
        """The modules' own initialisation, then upstream FCMAE's (``weight_init='fcmae'``)."""
        super().init_weights()
        if self.weight_init == 'fcmae' and self.init_cfg is None:
            fcmae_upstream_init(self.backbone, self.neck)

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The plain (unmasked) ConvNeXt forward, as :class:`mmpretrain.models.ConvNeXt`.

        Args:
            inputs (torch.Tensor): Images (B, 3, H, W).

        Returns:
            Tuple[torch.Tensor, ...]: The backbone's ``out_indices`` outputs.
        """
        return self.backbone(inputs, mask=False)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Forward in training.

        Args:
            inputs (torch.Tensor): Images (B, 3, H, W).
            data_samples (List[DataSample]): Unused (kept for the mmpretrain interface).

        Returns:
            Dict[str, torch.Tensor]: ``loss`` (optimised), the per-shot errors
            ``rec_err_shot{s}`` and ``masked_cells_shot{s}``, the cells shot ``s`` removed per
            image (neither optimised).
        """
        features, shot_index = self.backbone(inputs)
        pred = self.neck(features, shot_index)
        num_shots = self.backbone.schedule.num_shots
        losses = self.head.loss(pred, inputs, shot_index, num_shots)
        for s in range(1, num_shots + 1):
            losses[f'{SHOT_CELLS_KEY}{s}'] = (shot_index == s).sum(dim=1).float().mean()
        return losses

    @torch.no_grad()
    def reconstruct(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reconstruct a batch for visualisation (one random draw of the schedule).

        Args:
            inputs (torch.Tensor): Normalised square images (B, 3, H, W).

        Returns:
            Dict[str, torch.Tensor]: ``pred`` (B, 3, H, W), the prediction of every cell in the
            input's normalised space (with ``norm_pix`` each cell is de-normalised with the
            statistics of the true cell), and ``shot_index`` (B, N).
        """
        features, shot_index = self.backbone(inputs)
        pred = self.neck(features, shot_index)
        return dict(pred=self.head.to_image(pred, inputs), shot_index=shot_index)
