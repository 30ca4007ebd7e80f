"""Strict ``Pretrained`` initialisation for the suite's downstream encoders."""
import fnmatch
from typing import Dict, List, Tuple

import torch
from mmengine.logging import print_log

from ...engine.checkpoint import (CheckpointMismatchError, encoder_state, load_encoder_state,
                                  read_state_dict)

__all__ = ['StrictPretrainedMixin']


class StrictPretrainedMixin:
    """Makes an mmpretrain backbone's ``Pretrained`` initialisation strict.

    Mix it in before the backbone class (``class TransferViT(StrictPretrainedMixin,
    VisionTransformer)``). With ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``
    the checkpoint is read (``weights_only``) *before* the random initialisation, so a missing or
    unsafe file fails at once; then every layer is initialised and the encoder weights are loaded,
    raising :class:`~cmae_mm.engine.checkpoint.CheckpointMismatchError` on any missing or
    unexpected key beyond :meth:`expected_differences` — mmengine's own ``Pretrained`` initialiser
    only logs them — and on any tensor whose shape differs from the model's (another width, patch
    size or number of input channels; :meth:`resized_on_load` names the tensors the load hooks
    resize), in one line naming both shapes. The backbone's ``load_state_dict`` pre-hooks run
    (position-embedding and relative-position-bias resizing).
    """

    #: What ``--pretrained`` (:func:`cmae_mm.engine.pretrained.apply_pretrained`) checks, so the
    #: engine needs no import of the models.
    loads_pretrained_strictly = True

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """Glob patterns of the (missing, unexpected) keys allowed by design; none by default."""
        return [], []

    def resized_on_load(self) -> List[str]:
        """Glob patterns of the keys whose shape the backbone's load hooks adapt; none by default.

        Their shapes are not compared with the model's (every other tensor's shape must match).
        """
        return []

    def check_shapes(self, state: Dict[str, torch.Tensor], source: str) -> None:
        """Raise a one-line error if a checkpoint tensor has another shape than the model's.

        Args:
            state: The encoder's state dict (no prefix).
            source: Name of the checkpoint, for the message.

        Raises:
            CheckpointMismatchError: Naming the first differing tensor, both shapes and how many
                tensors differ.
        """
        resized = self.resized_on_load()
        differ = []
        for key, own in self.state_dict().items():
            theirs = state.get(key)
            if theirs is None or not hasattr(theirs, 'shape') or \
                    any(fnmatch.fnmatchcase(key, p) for p in resized):
                continue
            if tuple(theirs.shape) != tuple(own.shape):
                differ.append((key, tuple(theirs.shape), tuple(own.shape)))
        if differ:
            key, theirs, own = differ[0]
            more = f' (and {len(differ) - 1} more tensors)' if len(differ) > 1 else ''
            raise CheckpointMismatchError(
                f'{source} does not fit {type(self).__name__}: {key} has shape {theirs} in the '
                f'checkpoint but {own} in the model{more}: the checkpoint\'s encoder differs from '
                'model.backbone (width, patch size or input channels)')

    def init_weights(self) -> None:
        """Random initialisation, then the strict load of ``init_cfg.checkpoint`` if given."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        source = str(cfg['checkpoint'])
        try:  # read before the random initialisation, so that a bad checkpoint fails at once
            state = encoder_state(read_state_dict(source), cfg.get('prefix', 'backbone.'), source)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'pre-training checkpoint not found: {source!r}; point the config at yours with '
                '--cfg-options model.backbone.init_cfg.checkpoint=<path> (a converted backbone-only '
                "file also needs model.backbone.init_cfg.prefix='')") from e
        self.check_shapes(state, source)
        self.init_cfg = None  # initialise every layer; the checkpoint overwrites the encoder
        try:
            super().init_weights()
        finally:
            self.init_cfg = cfg
        allowed_missing, allowed_unexpected = self.expected_differences()
        missing, unexpected = load_encoder_state(self, state, allowed_missing,
                                                 allowed_unexpected, source)
        print_log(f'{type(self).__name__}: loaded {len(state) - len(unexpected)} tensors from '
                  f'{source}; new by design: {missing}; unused by design: {unexpected}',
                  logger='current')
