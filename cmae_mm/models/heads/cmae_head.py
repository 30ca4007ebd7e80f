"""Reconstruction head of Conditional MAE: union target, optional per-shot weights, per-shot logs."""
from typing import Dict, Optional, Sequence

import torch
from mmpretrain.models.heads import MAEPretrainHead
from mmpretrain.registry import MODELS

#: Prefix of the logged per-shot reconstruction errors. mmengine's ``parse_losses`` sums every key
#: containing "loss" into the optimised total, so these keys must not contain it.
SHOT_ERROR_KEY = 'rec_err_shot'
#: Prefix of the logged number of mask cells shot ``s`` removed (mean per image) of the hierarchical
#: families (SimMIM-Swin, FCMAE); like ``rec_err_shot`` it must not contain "loss".
SHOT_CELLS_KEY = 'masked_cells_shot'
#: The logged loss of the trivial reconstruction (predict zero on the same removed patches): each
#: patch's own mean with ``norm_pix``, the dataset mean (zero after normalisation) without. A
#: model whose ``loss`` is not clearly below it has learnt nothing beyond the mean.
TRIVIAL_ERROR_KEY = 'rec_err_trivial'
#: The logged loss of a stronger trivial reconstruction: predict, for each removed patch, the mean
#: target patch at that position over the training images seen so far (a running mean over every
#: training batch: after the first epoch, the training set's mean patch under the augmentation).
MEAN_PATCH_ERROR_KEY = 'rec_err_mean_patch'


@MODELS.register_module()
class CMAEPretrainHead(MAEPretrainHead):
    """Pixel reconstruction head for Conditional MAE.

    The target is the union of the patches removed by all shots, on per-patch normalised pixels
    when ``norm_pix=True``, as MAE. Every iteration also logs the reconstruction error of the
    patches removed by each shot as ``rec_err_shot{s}`` (paper Fig. 7) and the error of the
    trivial reconstruction, predicting zero for every removed patch, as ``rec_err_trivial``
    (neither is optimised). With ``norm_pix`` zero is each patch's own mean, so blank patches
    (zero after normalisation) cost the trivial prediction nothing; ``loss / rec_err_trivial``
    tells how much of the error the model removes beyond that baseline.

    Args:
        loss (dict): Config of the pixel loss, e.g. ``dict(type='PixelReconstructionLoss',
            criterion='L2')``.
        norm_pix (bool): Normalise each target patch by its mean and variance. Defaults to False.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        shot_weights (Sequence[float], optional): ``w_s``. None (default) optimises the error
            averaged over the union of removed patches (MAE's loss; each patch weighs the same).
            Otherwise the loss is ``sum_s w_s * err_s`` with ``err_s`` the error averaged over the
            patches removed by shot ``s`` (paper Tab. 3 uses ``w_s = η_s``).
    """

    def __init__(self,
                 loss: dict,
                 norm_pix: bool = False,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 shot_weights: Optional[Sequence[float]] = None) -> None:
        super().__init__(
            loss=loss, norm_pix=norm_pix, patch_size=patch_size, in_channels=in_channels)
        if shot_weights is not None:
            if isinstance(shot_weights, (str, bytes)) or not isinstance(shot_weights, Sequence) \
                    or not all(isinstance(w, (int, float)) and w >= 0 for w in shot_weights):
                raise ValueError(f'shot_weights={shot_weights!r} must be None or a list of '
                                 f'non-negative numbers, one per shot.')
            shot_weights = tuple(float(w) for w in shot_weights)
        self.shot_weights = shot_weights
        # Running sum and count of the training targets per patch position (not saved: a
        # statistic of the log, rebuilt after a resume).
        self.register_buffer('_patch_sum', torch.zeros(0), persistent=False)
        self._patch_count = 0

    def to_image(self, pred: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Turn a prediction into an image in the input's normalised space (for visualisation).

        With ``norm_pix`` each patch is de-normalised with the mean and variance of the true
        patch, as MAE's visualisation does.

        Args:
            pred (torch.Tensor): Decoder output (B, N, p*p*C).
            inputs (torch.Tensor): The images (B, C, H, W).

        Returns:
            torch.Tensor: (B, C, H, W).
        """
        if self.norm_pix:
            target = self.patchify(inputs)
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            pred = pred * (var + 1.e-6)**.5 + mean
        return self.unpatchify(pred)

    def check_schedule(self, schedule) -> None:
        """Fail at build time if ``shot_weights`` does not give one weight per shot.

        Args:
            schedule (ShotSchedule): The backbone's schedule.

        Raises:
            ValueError: Naming both lengths.
        """
        weights = self.shot_weights
        if weights is not None and len(weights) != schedule.num_shots:
            raise ValueError(
                f'head.shot_weights={list(weights)} has {len(weights)} entries but the backbone '
                f'schedule {schedule} has {schedule.num_shots} shots: give one weight per shot.')

    def loss(self, pred: torch.Tensor, target: torch.Tensor, shot_index: torch.Tensor,
             num_shots: int) -> Dict[str, torch.Tensor]:
        """Compute the optimised loss and the per-shot errors.

        Args:
            pred (torch.Tensor): Decoder output (B, N, p*p*C).
            target (torch.Tensor): Input images (B, C, H, W).
            shot_index (torch.Tensor): (B, N) long, 0 = visible, s = removed by shot s.
            num_shots (int): ``S``, the number of shots of the schedule.

        Returns:
            Dict[str, torch.Tensor]: ``loss`` (optimised) and ``rec_err_shot{s}`` for
            ``s = 1..S`` (detached; 0 for a shot that removed no patch).
        """
        if self.shot_weights is not None and len(self.shot_weights) != num_shots:
            raise ValueError(f'shot_weights={list(self.shot_weights)} has '
                             f'{len(self.shot_weights)} entries but the schedule has '
                             f'{num_shots} shots.')
        target = self.construct_target(target)
        per_shot = []
        for s in range(1, num_shots + 1):
            removed_s = (shot_index == s).to(pred.dtype)
            per_shot.append(
                self.loss_module(pred, target, removed_s) if bool(removed_s.any())
                else pred.new_zeros(()))
        if self.shot_weights is None:
            loss = self.loss_module(pred, target, (shot_index > 0).to(pred.dtype))
        else:
            loss = sum(w * err for w, err in zip(self.shot_weights, per_shot))
        losses = dict(loss=loss)
        for s, err in enumerate(per_shot, start=1):
            losses[f'{SHOT_ERROR_KEY}{s}'] = err.detach()
        with torch.no_grad():
            zeros = torch.zeros_like(pred)
            if self.shot_weights is None:
                trivial = self.loss_module(zeros, target, (shot_index > 0).to(pred.dtype))
            else:
                trivial = sum(w * (self.loss_module(zeros, target, (shot_index == s).to(
                    pred.dtype)) if bool((shot_index == s).any()) else pred.new_zeros(()))
                    for s, w in enumerate(self.shot_weights, start=1))
            losses[TRIVIAL_ERROR_KEY] = trivial
            losses[MEAN_PATCH_ERROR_KEY] = self._mean_patch_error(pred, target, shot_index)
        return losses

    def _mean_patch_error(self, pred: torch.Tensor, target: torch.Tensor,
                          shot_index: torch.Tensor) -> torch.Tensor:
        """The loss of predicting the running mean target patch at each position (no grad).

        In training mode the batch's targets (B, N, D) are first added to the running mean, so
        the first batch is scored against its own mean and every later one against all batches
        seen so far.
        """
        if self.training:
            batch_sum = target.detach().sum(dim=0)
            if self._patch_sum.shape != batch_sum.shape:
                self._patch_sum = torch.zeros_like(batch_sum)
                self._patch_count = 0
            self._patch_sum += batch_sum
            self._patch_count += target.shape[0]
        if self._patch_sum.shape != target.shape[1:] or self._patch_count == 0:
            return pred.new_full((), float('nan'))
        mean = (self._patch_sum / self._patch_count).expand_as(pred)
        if self.shot_weights is None:
            return self.loss_module(mean, target, (shot_index > 0).to(pred.dtype))
        return sum(w * (self.loss_module(mean, target, (shot_index == s).to(pred.dtype))
                        if bool((shot_index == s).any()) else pred.new_zeros(()))
                   for s, w in enumerate(self.shot_weights, start=1))
