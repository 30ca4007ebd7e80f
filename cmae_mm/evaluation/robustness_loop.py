"""A test loop that reports clean and perturbed metrics side by side (paper Tab. 9).

Select it on any classification config, from the command line::

    python tools/test.py CONFIG CHECKPOINT --perturb occlusion shuffle
    python tools/test.py CONFIG CHECKPOINT --cfg-options test_cfg.type=RobustnessTestLoop \\
        "test_cfg.perturbations=[occlusion,shuffle]" test_cfg.seed=0

It runs the config's own test dataloader and evaluator once clean and once per perturbation (the
same images, with :class:`~cmae_mm.datasets.transforms.PatchOcclusion` or
:class:`~cmae_mm.datasets.transforms.PatchShuffle` inserted before ``PackInputs``), and returns one metrics
dict: the clean metrics under their usual names, and for each perturbation ``<kind>/<metric>`` and
``<kind>/drop/<metric>`` (clean minus perturbed). The Runner logs and dumps it like any test result.
"""
from typing import Dict, List, Optional, Sequence, Union

from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import TestLoop
from torch.utils.data import DataLoader

from .perturbation import PERTURBATIONS, perturb_dataloader

__all__ = ['RobustnessTestLoop']


@LOOPS.register_module()
class RobustnessTestLoop(TestLoop):
    """Test clean, then under each perturbation, with one seed.

    Registered in mmengine's root ``LOOPS``, so configs of every scope find it.

    Args:
        runner (Runner): The runner.
        dataloader (dict): The test dataloader *config* (the perturbed copies are derived from it).
        evaluator (Evaluator | dict | list): The test evaluator; it is reused for every variant.
        perturbations (Sequence[str]): Kinds to evaluate after the clean run, each one of
            ``'occlusion'`` (a random 50% of the patches set to the mean colour) and ``'shuffle'``
            (the patch grid permuted). Defaults to both.
        seed (int): Base seed of the perturbations; each image draws from (seed, its index), so the
            result does not depend on batch size, workers or ranks. Defaults to 0.
        patch_size (int, optional): Side of the perturbed cells in pixels. Defaults to the
            backbone's ``patch_size`` in the config, else 16.
        ratio (float): Fraction of cells occluded. Defaults to 0.5.
        fp16 (bool): Test with fp16 autocast. Defaults to False.

    Raises:
        TypeError: If ``dataloader`` is an already built DataLoader.
        ValueError: On an unknown or repeated perturbation kind, or a test pipeline without
            ``PackInputs``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[dict, DataLoader],
                 evaluator,
                 perturbations: Sequence[str] = ('occlusion', 'shuffle'),
                 seed: int = 0,
                 patch_size: Optional[int] = None,
                 ratio: float = 0.5,
                 fp16: bool = False) -> None:
        if not isinstance(dataloader, dict):
            raise TypeError(f'{type(self).__name__} needs the test dataloader as a config dict to '
                            f'derive the perturbed copies from; got a {type(dataloader).__name__}')
        kinds = [perturbations] if isinstance(perturbations, str) else list(perturbations)
        unknown = [k for k in kinds if k not in PERTURBATIONS]
        if unknown or not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f'{type(self).__name__}: perturbations={kinds!r}; give one or more '
                             f'distinct kinds of {sorted(PERTURBATIONS)}')
        if patch_size is None:
            backbone = (runner.cfg.get('model') or {}).get('backbone') or {}
            patch_size = backbone.get('patch_size', 16)
        self.seed, self.patch_size = seed, patch_size
        variants = {}
        for kind in kinds:
            extra = dict(ratio=ratio) if kind == 'occlusion' else {}
            variants[kind] = perturb_dataloader(dataloader, kind, seed, runner.cfg,
                                                patch_size=patch_size, **extra)
        super().__init__(runner, dataloader, evaluator, fp16)
        self.perturbed: Dict[str, DataLoader] = {
            kind: runner.build_dataloader(cfg, seed=runner.seed) for kind, cfg in variants.items()}

    def run(self) -> dict:
        """Evaluate clean and perturbed; returns the metrics described in the module docstring."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        clean = self._evaluate(self.dataloader)
        metrics = dict(clean)
        for kind, loader in self.perturbed.items():
            for key, value in self._evaluate(loader).items():
                metrics[f'{kind}/{key}'] = value
                if isinstance(value, (int, float)) and isinstance(clean.get(key), (int, float)):
                    metrics[f'{kind}/drop/{key}'] = clean[key] - value
        print_log(self.summary(metrics), logger='current')
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def _evaluate(self, loader: DataLoader) -> dict:
        """Run every batch of ``loader`` through the model and evaluate (the evaluator resets)."""
        self.test_loss.clear()
        for idx, data_batch in enumerate(loader):
            self.run_iter(idx, data_batch)
        return self.evaluator.evaluate(len(loader.dataset))

    def summary(self, metrics: dict) -> str:
        """A table: one row per clean metric, columns clean / each perturbation (drop)."""
        kinds: List[str] = list(self.perturbed)
        rows = [f'robustness (seed {self.seed}, {self.patch_size}x{self.patch_size} cells): '
                + ' | '.join(['clean'] + kinds)]
        for key, value in metrics.items():
            if '/' in key and key.split('/', 1)[0] in kinds or not isinstance(value, (int, float)):
                continue
            cells = [f'{value:.2f}'] + [
                f"{metrics[f'{k}/{key}']:.2f} (drop {metrics[f'{k}/drop/{key}']:.2f})" for k in kinds]
            rows.append(f'{key}: ' + ' | '.join(cells))
        return '\n'.join(rows)
