"""ViT encoder with multi-shot (conditional) masking."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.selfsup.mae import MAEViT
from mmpretrain.registry import MODELS

from ...masking import ShotSchedule, random_keep
from ..utils import python_float_drop_probs


def _gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Select tokens: ``x`` (B, L, C), ``index`` (B, K) -> (B, K, C)."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


@MODELS.register_module()
class CMAEViT(MAEViT):
    """Vision Transformer for Conditional MAE pre-training.

    Shot ``s`` removes a random fraction ``mask_ratios[s]`` of the patch tokens still visible at the
    input of block ``mask_layers[s]`` (0 = right after the patch embedding, which is MAE's masking);
    the CLS token is never removed. Blocks from a shot on really run on the shorter sequence. With
    ``mask_layers=[0]`` the backbone is :class:`mmpretrain.models.MAEViT` exactly (same RNG use).

    Args:
        arch (str | dict): ViT architecture (see ``VisionTransformer.arch_zoo``). Defaults to 'b'.
        img_size (int): Input size during pre-training. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        mask_layers (Sequence[int]): ``ℓ_s``, strictly increasing block indices in
            ``[0, depth - 1]``. Defaults to ``(0, 10)``.
        mask_ratios (Sequence[float]): ``η_s`` in ``[0, 1)``, one per shot.
            Defaults to ``(0.75, 0.1)`` — the paper's best ``L(0, 10; 0.75, 0.1)``.
        **kwargs: Other arguments of :class:`MAEViT` (``out_indices``, ``drop_path_rate``,
            ``norm_cfg``, ``out_type``, ``init_cfg``, ...). ``mask_ratio`` is not accepted: use
            ``mask_ratios``.

    Raises:
        ValueError: If the schedule is invalid for this encoder (see :class:`ShotSchedule`).
    """

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 224,
                 patch_size: int = 16,
                 mask_layers: Sequence[int] = (0, 10),
                 mask_ratios: Sequence[float] = (0.75, 0.1),
                 **kwargs) -> None:
        if 'mask_ratio' in kwargs:
            raise ValueError(
                f"CMAEViT got mask_ratio={kwargs['mask_ratio']!r}: a Conditional MAE schedule is "
                f'set with mask_layers=[...] and mask_ratios=[...] (MAE is mask_layers=[0], '
                f'mask_ratios=[{kwargs["mask_ratio"]}]).')
        sizes = img_size if isinstance(img_size, (tuple, list)) else (img_size, img_size)
        if any(not isinstance(x, int) or x < patch_size or x % patch_size for x in sizes):
            raise ValueError(
                f'CMAEViT got img_size={img_size!r} with patch_size={patch_size!r}: the image side '
                f'must be a positive multiple of the patch size (e.g. 224 with 16).')
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size, **kwargs)
        # mmpretrain gives each block a numpy drop-path rate: dynamo would break the graph there
        python_float_drop_probs(self)
        self.schedule = ShotSchedule(
            mask_layers, mask_ratios, num_layers=self.num_layers, num_tokens=self.num_patches)
        # MAEViT's single ratio, kept meaningful for code that reads it: the first shot's ratio.
        self.mask_ratio = self.schedule.ratios[0] if self.schedule.layers[0] == 0 else 0.

    def forward(
        self,
        x: torch.Tensor,
        mask: Optional[bool] = True
    ) -> Union[Tuple[torch.Tensor, ...], Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Encode an image batch, masking in shots.

        Args:
            x (torch.Tensor): Images (B, 3, H, W) at the pre-training size.
            mask (bool, optional): ``True`` masks; ``None``/``False`` runs the plain ViT (all
                tokens, ``out_type`` / ``out_indices`` as in ``VisionTransformer``).

        Returns:
            With masking, a tuple ``(latent, shot_index, ids_restore)``:

            - ``latent`` (B, 1 + N_S, C): CLS token and the N_S finally visible patch tokens,
              after the final norm.
            - ``shot_index`` (B, N) long: per patch, 0 = never removed, s = removed by shot s
              (1-based). It generalises MAE's ``mask``: ``mask = (shot_index > 0).float()``.
            - ``ids_restore`` (B, N): for :class:`MAEPretrainDecoder`; position of each patch in
              ``[visible tokens, removed tokens]``.
        """
        if not mask:
            return super().forward(x, mask=None)

        B = x.shape[0]
        x = self.patch_embed(x)[0] + self.pos_embed[:, 1:, :]  # (B, N, C)
        N = x.shape[1]
        # ids_visible[b, t]: original patch index of the t-th visible token.
        ids_visible = torch.arange(N, device=x.device).expand(B, N)
        removed, shot_index = [], torch.zeros(B, N, dtype=torch.long, device=x.device)
        cls_token = (self.cls_token + self.pos_embed[:, :1, :]).expand(B, -1, -1)
        x = torch.cat((cls_token, x), dim=1)  # (B, 1 + N, C)

        for i, layer in enumerate(self.layers):
            shot = self.schedule.shot_at(i)
            if shot is not None:
                x, ids_visible, ids_removed = self._mask_shot(x, ids_visible,
                                                              self.schedule.ratios[shot])
                removed.append(ids_removed)
                shot_index.scatter_(1, ids_removed, shot + 1)
            x = layer(x)
        x = self.norm1(x)

        ids_restore = torch.argsort(torch.cat([ids_visible, *removed], dim=1), dim=1)
        return x, shot_index, ids_restore

    def _mask_shot(self, x: torch.Tensor, ids_visible: torch.Tensor,
                   ratio: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Apply one shot to the token sequence.

        Args:
            x (torch.Tensor): (B, 1 + L, C) CLS + visible patch tokens.
            ids_visible (torch.Tensor): (B, L) original patch index of each visible token.
            ratio (float): ``η`` of this shot.

        Returns:
            Tuple of ``x`` (B, 1 + K, C), ``ids_visible`` (B, K) and the original indices of the
            removed patches (B, L - K), ``K = int(L * (1 - η))``.
        """
        B, L = ids_visible.shape
        if int(L * (1 - ratio)) == L:  # η = 0 (or rounds to no removal): no shot, no RNG use
            return x, ids_visible, ids_visible[:, :0]
        keep, drop = random_keep(B, L, ratio, x.device)
        x = torch.cat((x[:, :1], _gather_tokens(x[:, 1:], keep)), dim=1)
        return x, torch.gather(ids_visible, 1, keep), torch.gather(ids_visible, 1, drop)
