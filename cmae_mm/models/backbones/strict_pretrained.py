"""Strict ``Pretrained`` initialisation for the suite's downstream encoders."""
from typing import List, Tuple

from mmengine.logging import print_log

from ...engine.checkpoint import encoder_state, load_encoder_state, read_state_dict

__all__ = ['StrictPretrainedMixin']


class StrictPretrainedMixin:
    """Makes an mmpretrain backbone's ``Pretrained`` initialisation strict.

    Mix it in before the backbone class (``class TransferViT(StrictPretrainedMixin,
    VisionTransformer)``). With ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``
    the checkpoint is read (``weights_only``) *before* the random initialisation, so a missing or
    unsafe file fails at once; then every layer is initialised and the encoder weights are loaded,
    raising :class:`~cmae_mm.engine.checkpoint.CheckpointMismatchError` on any missing or
    unexpected key beyond :meth:`expected_differences` — mmengine's own ``Pretrained`` initialiser
    only logs them. The backbone's ``load_state_dict`` pre-hooks run (position-embedding and
    relative-position-bias resizing).
    """

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """Glob patterns of the (missing, unexpected) keys allowed by design; none by default."""
        return [], []

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
