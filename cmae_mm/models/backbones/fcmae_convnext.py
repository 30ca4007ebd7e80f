"""ConvNeXt (V2) encoder for FCMAE pre-training with multi-shot (conditional) masking.

FCMAE (ConvNeXt V2) runs the encoder on the visible part of the image only, with sparse
convolutions. This module emulates sparse convolution densely and exactly: every position of a
removed mask cell holds zero at the input of every operation that mixes positions (the stem, the
7x7 depthwise convolutions, the 2x2 downsampling convolutions) and at the input of every GRN (whose
global L2 statistics therefore come from the visible positions only), and the output of every stage
is zero there. Position-wise operations (LayerNorm, the pointwise MLP) may produce garbage at
removed positions in between; it never reaches a visible position.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmpretrain.models.backbones import ConvNeXt
from mmpretrain.models.backbones.convnext import ConvNeXtBlock
from mmpretrain.registry import MODELS

from ...masking import ShotSchedule, random_keep


def cell_mask(keep_cells: torch.Tensor, grid: Tuple[int, int], size: Tuple[int, int],
              dtype: torch.dtype) -> torch.Tensor:
    """Upsample a per-cell visibility mask to a feature map (nearest, by ``repeat_interleave``).

    Args:
        keep_cells (torch.Tensor): (B, gh * gw) bool, True = visible, cells in raster order.
        grid (Tuple[int, int]): ``(gh, gw)``, the mask-cell grid.
        size (Tuple[int, int]): ``(h, w)`` of the feature map, multiples of ``(gh, gw)``.
        dtype (torch.dtype): Dtype of the returned mask.

    Returns:
        torch.Tensor: (B, 1, h, w), 1 at visible positions and 0 at removed ones.
    """
    (gh, gw), (h, w) = grid, size
    keep = keep_cells.view(-1, 1, gh, gw).to(dtype)
    return keep.repeat_interleave(h // gh, dim=2).repeat_interleave(w // gw, dim=3)


#: Where :func:`masked_block_forward` takes GRN's statistics: ``'image'`` (per image, over its
#: visible positions: the JAX reference) or ``'batch'`` (over every visible position of the
#: batch: upstream's PyTorch sparse GRN).
GRN_STATS = ('image', 'batch')


def batch_grn(grn: nn.Module, x: torch.Tensor, data_format: str) -> torch.Tensor:
    """mmpretrain's GRN with its statistics pooled over the whole batch.

    ``Gx`` is the L2 norm of each channel over every position of every image (removed positions
    are zero, so over the visible ones), ``Nx = Gx / (mean_c Gx + eps)``, and the output is
    ``gamma * (x * Nx) + beta + x`` as in :class:`mmpretrain.models.utils.GRN`. This is what
    upstream's ``MinkowskiGRN`` computes on the sparse features of a per-GPU batch.

    Args:
        grn (nn.Module): The block's GRN (its ``gamma``, ``beta``, ``eps``).
        x (torch.Tensor): (B, H, W, C) for ``'channel_last'``, (B, C, H, W) for
            ``'channel_first'``, zero at removed positions.
        data_format (str): ``'channel_last'`` or ``'channel_first'``.

    Returns:
        torch.Tensor: Same shape as ``x``.
    """
    if data_format == 'channel_last':
        gx = torch.norm(x, p=2, dim=(0, 1, 2), keepdim=True)  # (1, 1, 1, C)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + grn.eps)
        return grn.gamma * (x * nx) + grn.beta + x
    gx = torch.norm(x, p=2, dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
    nx = gx / (gx.mean(dim=1, keepdim=True) + grn.eps)
    return grn.gamma.view(1, -1, 1, 1) * (x * nx) + grn.beta.view(1, -1, 1, 1) + x


def masked_block_forward(block: ConvNeXtBlock, x: torch.Tensor, keep: torch.Tensor,
                         grn_stats: str = 'image') -> torch.Tensor:
    """Run one mmpretrain :class:`ConvNeXtBlock` as a sparse (visible-only) block.

    The block's own submodules are called in the order of ``ConvNeXtBlock.forward``; the only
    differences are that the GRN input is zeroed at removed positions (so its per-channel L2 norm
    over space is the norm over visible positions) and that the output is zeroed there. With
    ``keep`` all ones this is ``block(x)`` bit for bit. GRN's statistics are per image, over its
    visible positions by default: the JAX reference in ConvNeXt-V2's TRAINING.md. Upstream's
    PyTorch sparse GRN (MinkowskiEngine) pools them over every visible point of the whole per-GPU
    batch (an open upstream issue): ``grn_stats='batch'`` (:func:`batch_grn`).

    Args:
        block (ConvNeXtBlock): The block (its parameters are used as they are).
        x (torch.Tensor): (B, C, H, W) input, already zero at removed positions.
        keep (torch.Tensor): (B, 1, H, W) visibility, 1 = visible, 0 = removed (dtype of ``x``).
        grn_stats (str): ``'image'`` (default) or ``'batch'``, see :data:`GRN_STATS`.

    Returns:
        torch.Tensor: (B, C, H, W), zero at removed positions.
    """

    if grn_stats not in GRN_STATS:
        raise ValueError(f'grn_stats={grn_stats!r}; allowed: {", ".join(GRN_STATS)}')

    def grn(x: torch.Tensor, data_format: str) -> torch.Tensor:
        if grn_stats == 'batch':
            return batch_grn(block.grn, x, data_format)
        return block.grn(x, data_format=data_format)

    def _inner_forward(x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = block.depthwise_conv(x)  # removed inputs are zero: sparse depthwise conv
        if block.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
            x = block.norm(x, data_format='channel_last')
            x = block.pointwise_conv1(x)
            x = block.act(x)
            if block.grn is not None:
                x = grn(x * keep.permute(0, 2, 3, 1), data_format='channel_last')
            x = block.pointwise_conv2(x)
            x = x.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
        else:
            x = block.norm(x, data_format='channel_first')
            x = block.pointwise_conv1(x)
            x = block.act(x)
            if block.grn is not None:
                x = grn(x * keep, data_format='channel_first')
            x = block.pointwise_conv2(x)
        if block.gamma is not None:
            x = x.mul(block.gamma.view(1, -1, 1, 1))
        return (shortcut + block.drop_path(x)) * keep

    if block.with_cp and x.requires_grad:
        return cp.checkpoint(_inner_forward, x, use_reentrant=False)
    return _inner_forward(x)


@MODELS.register_module()
class FCMAEConvNeXt(ConvNeXt):
    """ConvNeXt V2 encoder for FCMAE / Conditional FCMAE pre-training.

    Masking works on a grid of ``mask_cell x mask_cell`` input-pixel cells (FCMAE's 32x32 "patches";
    ConvNeXt-B at 224 px has 7x7 = 49 cells). Shot ``s`` removes a random fraction
    ``mask_ratios[s]`` of the cells still visible at the input of stage ``mask_layers[s]``:
    stage 0 is the input image (FCMAE's own masking), stage ``ℓ > 0`` the output of
    ``downsample_layers[ℓ]``. A shot keeps ``int(L * (1 - η))`` of the ``L`` visible cells; a shot
    that would remove nothing draws no random numbers. Every stage-``ℓ`` position lies in exactly
    one cell, since the stage strides (4, 8, 16, 32) divide the cell size. ``L(0, 3; 0.6, 0.1)``
    on ConvNeXt V2-B at 224: stages 0-2 see 19 of 49 cells, stage 3 sees 17.

    Draws use :func:`random_keep` (one ``torch.rand(B, L)`` per shot; FCMAE's code sorts
    ``torch.randn`` noise instead, which has the same distribution of masks), over the visible
    cells listed in raster order.

    Final norm (``final_norm``): by default none, as FCMAE's sparse encoder, whose output goes
    straight to the decoder's ``proj`` (facebookresearch/ConvNeXt-V2 ``convnextv2_sparse.py``,
    ``fcmae.py``). The last stage's ``norm{last}`` is then not built at all (an ``nn.Identity``
    takes its place), so the pre-training backbone has no unused parameter and DDP needs no
    ``find_unused_parameters``; a fine-tuned ConvNeXt starts a fresh final norm, applied after
    global pooling, which :class:`TransferConvNeXt` reports as missing by design, as the official
    fine-tuning does. ``final_norm=True`` keeps the suite's earlier model: the last stage's
    LayerNorm applied at every position before the decoder (removed cells re-zeroed), a checkpoint
    that loads strictly into a stock ConvNeXt.

    With ``final_norm=True`` the backbone adds no parameter to :class:`mmpretrain.models.ConvNeXt`:
    with the default ``out_indices=(3,)`` its state dict loads into ``ConvNeXt(arch,
    use_grn=True, layer_scale_init_value=0.)`` with ``strict=True``; with the default
    ``final_norm=False`` it lacks exactly ``norm3.weight`` and ``norm3.bias``.

    Args:
        arch (str | dict): ConvNeXt architecture (see ``ConvNeXt.arch_settings``).
            Defaults to 'base'.
        img_size (int): Pre-training input size, a multiple of ``mask_cell``; sets the number of
            cells the schedule is validated against. Defaults to 224.
        mask_cell (int): Input pixels per side of a mask cell. Must equal the encoder's total
            stride (``stem_patch_size * 2 ** (num_stages - 1)``, 32 for ConvNeXt), so that the
            last stage has one position per cell. Defaults to 32.
        mask_layers (Sequence[int]): ``ℓ_s``, strictly increasing stage indices in
            ``[0, num_stages - 1]``. Defaults to ``(0, 3)``.
        mask_ratios (Sequence[float]): ``η_s`` in ``[0, 1)``, one per shot.
            Defaults to ``(0.6, 0.1)``.
        later_shot_rounding (str): Rounding of shots 2, 3, ...: ``'keep_floor'`` (default, keep
            ``int(L * (1 - η))`` of the ``L`` visible cells, the ViT family's rule) or
            ``'mask_round'`` (mask ``round(L * η)``); see :class:`ShotSchedule`.
        use_grn (bool): GRN in the blocks (ConvNeXt V2). Defaults to True.
        layer_scale_init_value (float): Layer scale (0 = none, ConvNeXt V2). Defaults to 0.
        out_indices (Sequence[int] | int): Stages of the plain path's output (as ConvNeXt).
            Defaults to ``(3,)``.
        grn_stats (str): GRN statistics of the masked path: ``'image'`` (default, per image
            over its visible positions, the JAX reference) or ``'batch'`` (over every visible
            position of the batch, upstream's PyTorch sparse GRN); see :func:`batch_grn`. The
            plain (unmasked) path is mmpretrain's GRN either way.
        final_norm (bool): Build the last stage's ``norm{last}`` and apply it at the end of the
            masked path (the suite's earlier model). Defaults to False: no final norm, as FCMAE.
        **kwargs: Other arguments of :class:`ConvNeXt` (``drop_path_rate``, ``stem_patch_size``,
            ``linear_pw_conv``, ``with_cp``, ``gap_before_final_norm``, ``init_cfg``, ...).

    Raises:
        ValueError: If ``mask_cell`` or ``img_size`` does not fit the encoder, or the schedule is
            invalid (see :class:`ShotSchedule`).
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 mask_cell: int = 32,
                 mask_layers: Sequence[int] = (0, 3),
                 mask_ratios: Sequence[float] = (0.6, 0.1),
                 use_grn: bool = True,
                 layer_scale_init_value: float = 0.,
                 out_indices: Union[Sequence[int], int] = (3, ),
                 later_shot_rounding: str = 'keep_floor',
                 final_norm: bool = False,
                 grn_stats: str = 'image',
                 **kwargs) -> None:
        if grn_stats not in GRN_STATS:
            raise ValueError(f'grn_stats={grn_stats!r}; allowed: {", ".join(GRN_STATS)}')
        if not isinstance(final_norm, bool):
            raise ValueError(f'final_norm={final_norm!r} must be True or False.')
        if not isinstance(out_indices, int):
            out_indices = list(out_indices)  # ConvNeXt rewrites negative entries in place
        super().__init__(
            arch=arch,
            use_grn=use_grn,
            layer_scale_init_value=layer_scale_init_value,
            out_indices=out_indices,
            **kwargs)
        stem_patch_size = self.downsample_layers[0][0].stride[0]
        self.stage_strides = [stem_patch_size * 2**i for i in range(self.num_stages)]
        if isinstance(mask_cell, bool) or not isinstance(mask_cell, int) \
                or mask_cell != self.stage_strides[-1]:
            raise ValueError(
                f'mask_cell={mask_cell!r} must equal the encoder\'s total stride '
                f'{self.stage_strides[-1]} (stem_patch_size={stem_patch_size}, '
                f'{self.num_stages} stages), so that each last-stage position is one mask cell.')
        if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size <= 0 \
                or img_size % mask_cell:
            raise ValueError(f'img_size={img_size!r} must be a positive multiple of '
                             f'mask_cell={mask_cell} (e.g. 224 = 7 x 32).')
        self.final_norm = final_norm
        self.grn_stats = grn_stats
        last = self.num_stages - 1
        if not final_norm and last in self.out_indices:
            # Not built (no parameter left unused by the masked path); the plain path passes the
            # last stage's output through unchanged.
            setattr(self, f'norm{last}', nn.Identity())
        self.img_size = img_size
        self.mask_cell = mask_cell
        self.num_cells = (img_size // mask_cell)**2
        self.schedule = ShotSchedule(
            mask_layers, mask_ratios, num_layers=self.num_stages, num_tokens=self.num_cells,
            later_shot_rounding=later_shot_rounding)

    def forward(self,
                x: torch.Tensor,
                mask: Optional[bool] = True) -> Tuple[torch.Tensor, ...]:
        """Encode an image batch, masking in shots.

        Args:
            x (torch.Tensor): Images (B, 3, H, W), ``H`` and ``W`` multiples of ``mask_cell``.
            mask (bool, optional): ``True`` masks; ``None``/``False`` runs the stock
                :class:`ConvNeXt` forward (all positions, ``out_indices`` and
                ``gap_before_final_norm`` as configured), for analysis and fine-tuning.

        Returns:
            Without masking, ConvNeXt's tuple of outputs. With masking, ``(features, shot_index)``:

            - ``features`` (B, C_last, H / 32, W / 32): the last stage's map (with
              ``final_norm``, passed through its ``norm{last}`` LayerNorm position by position;
              no global pooling), zero at every removed cell.
            - ``shot_index`` (B, (H / 32) * (W / 32)) long, cells in raster order: 0 = never
              removed, s = removed by shot s (1-based).
        """
        if not mask:
            return super().forward(x)

        B, _, H, W = x.shape
        if H % self.mask_cell or W % self.mask_cell:
            raise ValueError(f'Input size {H}x{W} is not a multiple of mask_cell='
                             f'{self.mask_cell} in both dimensions.')
        grid = (H // self.mask_cell, W // self.mask_cell)
        N = grid[0] * grid[1]
        # ids_visible[b]: the cells still visible in image b, in raster order.
        ids_visible = torch.arange(N, device=x.device).expand(B, N)
        shot_index = torch.zeros(B, N, dtype=torch.long, device=x.device)

        def keep_like(t: torch.Tensor) -> torch.Tensor:
            return cell_mask(shot_index == 0, grid, tuple(t.shape[-2:]), t.dtype)

        if self.schedule.shot_at(0) is not None:
            ids_visible = self._shot(self.schedule.shot_at(0), ids_visible, shot_index)
        x = x * keep_like(x)  # removed pixels: zero before the stem
        for i, stage in enumerate(self.stages):
            for layer in self.downsample_layers[i]:
                if isinstance(layer, nn.Conv2d):
                    x = x * keep_like(x)  # zero before every spatial op (the LN is per-position)
                x = layer(x)
            shot = self.schedule.shot_at(i)
            if i > 0 and shot is not None:
                ids_visible = self._shot(shot, ids_visible, shot_index)
            keep = keep_like(x)
            x = x * keep
            for block in stage:
                x = masked_block_forward(block, x, keep, self.grn_stats)

        last = self.num_stages - 1
        if self.final_norm and last in self.out_indices:
            x = getattr(self, f'norm{last}')(x) * keep
        return x, shot_index

    def _shot(self, shot: int, ids_visible: torch.Tensor, shot_index: torch.Tensor) -> torch.Tensor:
        """Apply shot ``shot`` (0-based) to the visible cells.

        Args:
            shot (int): Index of the shot in the schedule.
            ids_visible (torch.Tensor): (B, L) cells visible before the shot, raster order.
            shot_index (torch.Tensor): (B, N) long, updated in place: the removed cells get
                ``shot + 1``.

        Returns:
            torch.Tensor: (B, int(L * (1 - η))) cells still visible, raster order.
        """
        B, L = ids_visible.shape
        ratio = self.schedule.ratios[shot]
        len_keep = self.schedule.keep_count(shot, L)
        if len_keep == L:  # removes nothing: no RNG draw, nothing changes
            return ids_visible
        keep, remove = random_keep(B, L, ratio, ids_visible.device, len_keep=len_keep)
        shot_index.scatter_(1, torch.gather(ids_visible, 1, remove), shot + 1)
        return torch.gather(ids_visible, 1, keep).sort(dim=1).values
