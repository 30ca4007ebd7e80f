"""Swin Transformer for two-shot (conditional) SimMIM pre-training.

Shots are indexed by Swin **stage**: shot ``s`` acts at the input of ``stages[mask_layers[s]]``.
Shot 1 (``mask_layers[0] == 0``) is SimMIM's own block mask, drawn by the data pipeline
(``SimMIMMaskGenerator``) and applied at the patch embeddings exactly as
:class:`mmpretrain.models.SimMIMSwinTransformer` does. A later shot at stage ``ℓ`` picks, among the
mask cells still visible, a random fraction ``η_s`` (:func:`cmae_mm.masking.random_keep`) and
replaces the features of their stage-``ℓ`` tokens by a learnable stage-``ℓ`` mask token. Tokens are
never dropped: window attention needs the full grid. In mmpretrain's Swin the patch merging runs at
the end of a stage, so the input of ``stages[ℓ]`` is the (merged) output of ``stages[ℓ - 1]``.

Swin-B at 192 px with ``L(0, 3; 0.6, 0.1)`` and 32-px cells: shot 1 masks ``ceil(36 * 0.6) = 22``
of the 36 cells; at the input of ``stages[3]`` (6 x 6 tokens of width 1024, one per cell) shot 2
keeps ``int(14 * 0.9) = 12`` of the 14 visible cells and masks 2 more; the target is the union
(24 cells).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmengine.utils import to_2tuple
from mmpretrain.models.selfsup.simmim import SimMIMSwinTransformer
from mmpretrain.registry import MODELS

from ...masking import ShotSchedule, random_keep


@MODELS.register_module()
class CMAESimMIMSwinTransformer(SimMIMSwinTransformer):
    """SimMIM Swin Transformer with multi-shot masking at stage inputs.

    With ``mask_layers=[0]``, or when every later shot rounds to no removal (e.g. ``η_2 = 0``), the
    model has the parameters of :class:`SimMIMSwinTransformer` and computes exactly what it computes
    (no extra parameter, no extra random draw).

    Args:
        arch (str | dict): Swin architecture (see ``SwinTransformer.arch_zoo``). Defaults to 'T'.
        img_size (int | tuple): Pre-training input size. Defaults to 192.
        mask_layers (Sequence[int]): ``ℓ_s``, strictly increasing stage indices in
            ``[0, num_stages - 1]``; ``mask_layers[0]`` must be 0 (shot 1 is the pipeline's mask).
            Defaults to ``(0, 3)``.
        mask_ratios (Sequence[float]): ``η_s`` in ``[0, 1)``, one per shot; ``mask_ratios[0]`` must
            be the ``mask_ratio`` of the pipeline's ``SimMIMMaskGenerator`` (checked on the first
            masked forward). Defaults to ``(0.6, 0.1)``.
        mask_cell (int): Side of a mask cell in pixels, the pipeline's ``mask_patch_size``. It must
            divide ``img_size`` and be a multiple of the token stride of every shot's stage
            (``4 * 2**ℓ`` with the default patch embedding). Defaults to 32.
        later_shot_rounding (str): Rounding of shots 2, 3, ...: ``'keep_floor'`` (default, keep
            ``int(L * (1 - η))`` of the ``L`` visible cells, the ViT family's rule) or
            ``'mask_round'`` (mask ``round(L * η)``); see :class:`ShotSchedule`.
        **kwargs: Other arguments of :class:`SimMIMSwinTransformer` (``stage_cfgs``,
            ``drop_path_rate``, ``out_indices``, ``use_abs_pos_embed``, ``init_cfg``, ...).

    Raises:
        ValueError: If the schedule or the cell geometry is invalid for this encoder.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'T',
                 img_size: Union[int, Tuple[int, int]] = 192,
                 mask_layers: Sequence[int] = (0, 3),
                 mask_ratios: Sequence[float] = (0.6, 0.1),
                 mask_cell: int = 32,
                 later_shot_rounding: str = 'keep_floor',
                 **kwargs) -> None:
        super().__init__(arch=arch, img_size=img_size, **kwargs)
        img_h, img_w = to_2tuple(img_size)
        if isinstance(mask_cell, bool) or not isinstance(mask_cell, int) or mask_cell < 1 \
                or img_h % mask_cell or img_w % mask_cell:
            raise ValueError(f'mask_cell={mask_cell!r} must be a positive int dividing '
                             f'img_size={img_size!r} (SimMIM: 32 for 192 px).')
        #: (rows, cols) of the mask-cell grid.
        self.cell_grid: Tuple[int, int] = (img_h // mask_cell, img_w // mask_cell)
        self.num_cells = self.cell_grid[0] * self.cell_grid[1]
        self.mask_cell = mask_cell
        self.schedule = ShotSchedule(
            mask_layers, mask_ratios, num_layers=len(self.stages), num_tokens=self.num_cells,
            first_shot_rounding='mask_ceil', later_shot_rounding=later_shot_rounding)
        if self.schedule.layers[0] != 0:
            raise ValueError(
                f'mask_layers={list(self.schedule.layers)} starts at stage '
                f'{self.schedule.layers[0]}, but mask_layers[0] must be 0: shot 1 is the data '
                f"pipeline's SimMIMMaskGenerator mask, applied at the patch embeddings.")

        # Model patches per cell side (the pipeline's ``scale``), then per shot stage.
        patch_h, patch_w = self.patch_resolution
        if patch_h % self.cell_grid[0] or patch_w % self.cell_grid[1] \
                or patch_h // self.cell_grid[0] != patch_w // self.cell_grid[1]:
            raise ValueError(
                f'mask_cell={mask_cell} does not tile the {patch_h}x{patch_w} patch grid of '
                f'img_size={img_size!r} into square cells of whole patches.')
        self.cell_scale = patch_h // self.cell_grid[0]
        #: shot (0-based) -> stage tokens per cell side at the shot's stage.
        self._tokens_per_cell: Dict[int, int] = {}
        for shot, stage in enumerate(self.schedule.layers):
            if self.cell_scale % 2**stage:
                raise ValueError(
                    f'mask_cell={mask_cell} is not a multiple of the token stride of stage '
                    f'{stage} ({mask_cell // self.cell_scale * 2**stage} px), which '
                    f'mask_layers={list(self.schedule.layers)} masks: a cell must cover whole '
                    f'stage-{stage} tokens.')
            self._tokens_per_cell[shot] = self.cell_scale // 2**stage

        #: Visible cells after each shot: SimMIM's rule for shot 1 (``ceil(N * η_1)`` masked),
        #: ``later_shot_rounding`` for the later shots.
        self.visible_counts: List[int] = self.schedule.kept_counts(self.num_cells)

        # One learnable mask token per later shot that can remove something, with the width of
        # its stage's input; none otherwise (so that the η = 0 model is SimMIM's, parameter for
        # parameter).
        self._stage_token_names: Dict[int, str] = {}
        for shot in range(1, self.schedule.num_shots):
            if self.visible_counts[shot] < self.visible_counts[shot - 1]:
                stage = self.schedule.layers[shot]
                name = f'mask_token_stage{stage}'
                self.register_parameter(
                    name, nn.Parameter(torch.zeros(1, 1, self.stages[stage].embed_dims)))
                self._stage_token_names[shot] = name
        self._pipeline_mask_checked = False

    @property
    def stage_mask_token_names(self) -> List[str]:
        """Names of the stage mask-token parameters (empty when no later shot removes a cell)."""
        return list(self._stage_token_names.values())

    def init_weights(self) -> None:
        """Initialise as SimMIM, and the stage mask tokens as its mask token."""
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg['type'] == 'Pretrained':
            return
        for name in self._stage_token_names.values():
            trunc_normal_(getattr(self, name), mean=0, std=.02)

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor]
    ) -> Union[Tuple[torch.Tensor, ...], Tuple[Tuple[torch.Tensor, ...], torch.Tensor,
                                               torch.Tensor]]:
        """Encode images, masking in shots.

        Args:
            x (torch.Tensor): Images (B, 3, H, W) at the pre-training size.
            mask (torch.Tensor, optional): Shot 1, the pipeline's SimMIM mask (B, H/p, W/p) with
                ``p`` the model patch size (1 = masked), constant on each mask cell. ``None`` runs
                the plain Swin Transformer.

        Returns:
            With ``mask=None``, the tuple of stage outputs of :class:`SwinTransformer`. Otherwise
            ``(outs, union_mask, shot_index)``:

            - ``outs``: tuple of (B, C_i, H_i, W_i) features of ``out_indices``, as
              :class:`SimMIMSwinTransformer` returns.
            - ``union_mask`` (B, H/p, W/p), dtype of ``mask``: the cells masked by any shot, at
              model-patch resolution (the reconstruction target).
            - ``shot_index`` (B, num_cells) long, cells in raster order: 0 = never masked,
              s = masked by shot s (1-based).
        """
        if mask is None:
            return super().forward(x, None)
        # The one-time check reads the mask on the host; a compiled forward skips it (it would
        # break the graph) and CMAESimMIM runs it eagerly on the data preprocessor's output.
        if not torch.compiler.is_compiling() and not self._pipeline_mask_checked:
            self.check_pipeline_mask(mask)

        # Shot 1, SimMIM's: one value per cell (its top-left model patch).
        shot_index = mask[:, ::self.cell_scale, ::self.cell_scale].flatten(1).long()

        x, hw_shape = self.patch_embed(x)
        B, L, _ = x.shape
        mask_token = self.mask_token.expand(B, L, -1)
        w = mask.flatten(1).unsqueeze(-1).type_as(mask_token)
        x = x * (1. - w) + mask_token * w
        if self.use_abs_pos_embed:
            x = x + self.absolute_pos_embed
        x = self.drop_after_pos(x)

        outs = []
        for i, stage in enumerate(self.stages):
            shot = self.schedule.shot_at(i)
            if shot is not None and shot in self._stage_token_names:
                x = self._mask_shot(x, hw_shape, shot, shot_index)
            x, hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                out = out.view(-1, *hw_shape, stage.out_channels).permute(0, 3, 1, 2).contiguous()
                outs.append(out)

        if self._stage_token_names:
            union_mask = mask.masked_fill(self.cells_to_patch_mask(shot_index > 1), 1)
        else:
            union_mask = mask
        return tuple(outs), union_mask, shot_index

    def cells_to_patch_mask(self, cells: torch.Tensor) -> torch.Tensor:
        """Expand per-cell values (B, num_cells) to model-patch resolution (B, H/p, W/p)."""
        return self._expand_cells(cells, self.cell_scale)

    def _expand_cells(self, cells: torch.Tensor, factor: int) -> torch.Tensor:
        grid = cells.view(cells.shape[0], *self.cell_grid)
        return grid.repeat_interleave(factor, 1).repeat_interleave(factor, 2)

    def _mask_shot(self, x: torch.Tensor, hw_shape: Tuple[int, int], shot: int,
                   shot_index: torch.Tensor) -> torch.Tensor:
        """Apply a later shot at the input of its stage.

        Args:
            x (torch.Tensor): (B, h*w, C) stage-input tokens.
            hw_shape (Tuple[int, int]): ``(h, w)`` of the stage-input grid.
            shot (int): 0-based shot index (>= 1).
            shot_index (torch.Tensor): (B, num_cells) long, updated in place with ``shot + 1`` on
                the newly masked cells.

        Returns:
            torch.Tensor: (B, h*w, C) with the new cells' tokens replaced by the stage mask token.
        """
        per_cell = self._tokens_per_cell[shot]
        expected = (self.cell_grid[0] * per_cell, self.cell_grid[1] * per_cell)
        if tuple(hw_shape) != expected:
            raise ValueError(
                f'stage {self.schedule.layers[shot]} input grid is {tuple(hw_shape)}, expected '
                f'{expected} ({per_cell} token(s) per side of each of the {self.cell_grid} '
                f'cells): feed images of the pre-training size.')
        B, num_visible = x.shape[0], self.visible_counts[shot - 1]
        _, remove = random_keep(B, num_visible, self.schedule.ratios[shot], x.device,
                                len_keep=self.visible_counts[shot])
        # Cell indices of the visible cells, in raster order (every image has num_visible).
        ids_visible = torch.argsort((shot_index > 0).to(torch.int32), dim=1,
                                    stable=True)[:, :num_visible]
        shot_index.scatter_(1, torch.gather(ids_visible, 1, remove), shot + 1)

        token = getattr(self, self._stage_token_names[shot])
        new = self._expand_cells(shot_index == shot + 1, per_cell).flatten(1)
        w = new.unsqueeze(-1).type_as(token)
        return x * (1. - w) + token.expand(B, x.shape[1], -1) * w

    def check_pipeline_mask(self, mask: torch.Tensor) -> None:
        """Check, once, that the pipeline's masks are SimMIM's cell masks for this geometry.

        The first masked forward in eager mode calls it (and :class:`CMAESimMIM` on the first
        preprocessed training batch, so that a compiled forward is checked too); later calls
        return at once.

        Args:
            mask (torch.Tensor): (B, H/p, W/p) pipeline masks.

        Raises:
            ValueError: If the mask is not a 0/1 mask constant on ``mask_cell`` cells or does
                not mask ``ceil(num_cells * η_1)`` cells per image.
        """
        if self._pipeline_mask_checked:
            return
        self._check_pipeline_mask(mask)
        self._pipeline_mask_checked = True

    def _check_pipeline_mask(self, mask: torch.Tensor) -> None:
        """Check that ``mask`` is SimMIM's cell mask for this geometry and ``η_1``."""
        if mask.dim() != 3 or tuple(mask.shape[1:]) != tuple(self.patch_resolution):
            raise ValueError(
                f'mask has shape {tuple(mask.shape)}, expected (B, '
                f'{self.patch_resolution[0]}, {self.patch_resolution[1]}) (one value per model '
                f'patch, as SimMIMMaskGenerator gives).')
        cells = mask.reshape(mask.shape[0], self.cell_grid[0], self.cell_scale,
                             self.cell_grid[1], self.cell_scale).transpose(2, 3).flatten(3)
        if not bool(((cells == 0) | (cells == 1)).all()) or \
                not bool((cells == cells[..., :1]).all()):
            raise ValueError(
                f'mask is not a 0/1 mask constant on {self.mask_cell}-px cells '
                f'({self.cell_scale}x{self.cell_scale} model patches): set '
                f'SimMIMMaskGenerator(mask_patch_size={self.mask_cell}) or mask_cell to its '
                f'mask_patch_size.')
        masked = cells[..., 0].flatten(1).sum(1)
        expected = self.num_cells - self.visible_counts[0]
        if not bool((masked == expected).all()):
            got = sorted(set(int(n) for n in masked))
            got_text = got[0] if len(got) == 1 else got
            raise ValueError(
                f'the pipeline mask masks {got_text} of {self.num_cells} cells per image, but '
                f'mask_ratios[0]={self.schedule.ratios[0]:g} gives ceil({self.num_cells} * '
                f'{self.schedule.ratios[0]:g}) = {expected} (SimMIM\'s rule): make '
                f'SimMIMMaskGenerator(mask_ratio=...) equal to mask_ratios[0].')
