"""``SafeCheckpointHook``: mmengine's ``CheckpointHook`` that deletes old checkpoints only after the new
one is saved. Registered under its own name; mmengine's ``CheckpointHook`` is left as it is."""
from collections import deque

from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook
from mmengine.registry import HOOKS

__all__ = ['SafeCheckpointHook']


@HOOKS.register_module()
class SafeCheckpointHook(MMEngineCheckpointHook):
    """``CheckpointHook`` that saves the new checkpoint before removing the oldest kept one.

    mmengine 0.10.7 removes the oldest checkpoint beyond ``max_keep_ckpts`` *before* writing the
    new one: with ``max_keep_ckpts=1`` a run killed during the save, or a disk that fills, is
    left with no checkpoint at all, and ``last_checkpoint`` names a deleted file. Here the new
    checkpoint is written first, then ``last_checkpoint`` is updated, then the oldest checkpoint
    is removed, so the disk briefly holds ``max_keep_ckpts + 1`` checkpoints.

    All arguments are mmengine's. With ``backend_args=dict(backend='atomic_local')``
    (:mod:`cmae_mm.engine.atomic_io`) each checkpoint file is written atomically (a temporary
    file renamed into place), so a killed save leaves no truncated ``epoch_N.pth``. Every training
    config of the suite sets both (``default_hooks.checkpoint``); ``last_checkpoint`` itself is
    written by mmengine with a plain ``open()``, after the checkpoint it names is complete.
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save ``step``'s checkpoint, then drop the oldest kept one beyond ``max_keep_ckpts``."""
        keep = self.max_keep_ckpts
        full = keep > 0 and len(self.keep_ckpt_ids) >= keep and not (
            self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step)
        if not full:
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        # The parent removes nothing now; its deque (maxlen = max_keep_ckpts) would silently drop
        # the oldest id on append, so it gets room for one more.
        self.max_keep_ckpts = len(self.keep_ckpt_ids) + 1
        self.keep_ckpt_ids = deque(self.keep_ckpt_ids, self.max_keep_ckpts)
        try:
            super()._save_checkpoint_with_step(runner, step, meta)
        finally:
            self.max_keep_ckpts = keep
        while len(self.keep_ckpt_ids) > keep:
            old = self.keep_ckpt_ids.popleft()
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if runner.rank == 0:
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):
                    self.file_backend.rmtree(path)
        self.keep_ckpt_ids = deque(self.keep_ckpt_ids, keep)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
