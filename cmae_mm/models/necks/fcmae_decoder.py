"""FCMAE's light convolutional decoder: mask tokens on removed cells, ConvNeXt V2 blocks, pixels."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule, Sequential
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.convnext import ConvNeXtBlock
from mmpretrain.registry import MODELS


@MODELS.register_module()
class FCMAEDecoder(BaseModule):
    """Decoder of FCMAE, fed by :class:`FCMAEConvNeXt`.

    ``1x1 conv (in_channels -> embed_dims)`` -> a learnable mask token replaces the feature of every
    cell removed by any shot (the union, ``shot_index > 0``) -> ``depth`` ConvNeXt V2 blocks
    (mmpretrain's :class:`ConvNeXtBlock` with GRN, no layer scale) -> ``1x1 conv`` to the
    ``mask_cell ** 2 * img_channels`` pixels of each cell. The output is laid out as
    :meth:`MAEPretrainHead.patchify` lays out the target, so ``CMAEPretrainHead(patch_size=
    mask_cell)`` computes the loss.

    Initialisation (when ``init_cfg`` is None): conv and linear weights truncated normal
    (std 0.02) with zero bias, LayerNorm weight 1 / bias 0, GRN gamma / beta 0 (mmpretrain's
    default), mask token normal (std 0.02). :class:`FCMAE` with its default
    ``weight_init='fcmae'`` then re-initialises the decoder and the encoder as upstream
    ``FCMAE.__init__`` does (:func:`~cmae_mm.models.selfsup.fcmae.fcmae_upstream_init`: std 1.0
    for ``proj``, ``pred`` and the depthwise convs, PyTorch's default for the blocks' linears);
    ``weight_init='trunc_normal_0.02'`` keeps this one.

    Args:
        in_channels (int): Channels of the encoder's last stage. Defaults to 1024 (ConvNeXt-B).
        embed_dims (int): Decoder width. Defaults to 512.
        depth (int): Number of decoder blocks. Defaults to 1.
        mask_cell (int): Pixels per side of a mask cell, i.e. the patch size of the prediction.
            Defaults to 32.
        img_channels (int): Image channels to predict. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config; replaces the default
            initialisation above when given.
    """

    def __init__(self,
                 in_channels: int = 1024,
                 embed_dims: int = 512,
                 depth: int = 1,
                 mask_cell: int = 32,
                 img_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value, low in (('in_channels', in_channels, 1), ('embed_dims', embed_dims, 1),
                                 ('depth', depth, 0), ('mask_cell', mask_cell, 1),
                                 ('img_channels', img_channels, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f'FCMAEDecoder got {name}={value!r}: it must be an int >= {low}.')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.mask_cell = mask_cell
        self.img_channels = img_channels
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=1)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dims, 1, 1))
        self.decoder = Sequential(*[
            ConvNeXtBlock(embed_dims, use_grn=True, layer_scale_init_value=0.)
            for _ in range(depth)
        ])
        self.pred = nn.Conv2d(embed_dims, mask_cell**2 * img_channels, kernel_size=1)

    def init_weights(self) -> None:
        """Initialise as FCMAE (see the class docstring), unless ``init_cfg`` says otherwise."""
        if self.init_cfg is not None or self._is_init:
            super().init_weights()
            return
        super().init_weights()
        nn.init.normal_(self.mask_token, std=.02)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, shot_index: torch.Tensor) -> torch.Tensor:
        """Predict the pixels of every cell.

        Args:
            x (torch.Tensor): Encoder features (B, in_channels, h, w), one position per cell.
            shot_index (torch.Tensor): (B, h * w) long, 0 = visible, s > 0 = removed by shot s.

        Returns:
            torch.Tensor: (B, h * w, mask_cell ** 2 * img_channels), per cell the pixels in
            ``MAEPretrainHead.patchify`` order (row, column, channel).
        """
        B, C, h, w = x.shape
        if C != self.in_channels or tuple(shot_index.shape) != (B, h * w):
            raise ValueError(
                f'FCMAEDecoder expects features (B, {self.in_channels}, h, w) and shot_index '
                f'(B, h * w); got features {tuple(x.shape)} and shot_index '
                f'{tuple(shot_index.shape)}.')
        removed = (shot_index > 0).view(B, 1, h, w)
        x = self.proj(x)
        x = torch.where(removed, self.mask_token.to(x.dtype), x)
        x = self.decoder(x)
        x = self.pred(x)  # (B, p * p * C, h, w)
        return x.flatten(2).transpose(1, 2)
