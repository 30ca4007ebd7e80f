"""Study evaluations that measure the paper's claims beyond accuracy on a study's trained runs.

Conditional MAE (arXiv 2402.06090v1 here cited as "the paper") claims that the second shot changes
what the encoder learns. Each claim is measured per run, so the runner computes it like any other
evaluation and the report pairs MAE and Conditional MAE runs of the same seed:

* :func:`attention` -- attention distance and entropy per block (Fig. 5), of the pre-trained
  encoder and of the fine-tuned classifier, on the first test images;
* :func:`cka` -- linear CKA between the blocks of this run and of a reference run of the same seed
  (Fig. 4), and within this run's encoder;
* :func:`robustness` -- top-1 of the fine-tuned classifier on the test images under patch occlusion
  at several ratios and under patch shuffling (Tab. 9), with the registered transforms of
  ``tools/test.py --perturb``;
* :func:`reversed_attention` -- in the block before the second shot, the share of a second-masked
  token's outgoing attention that its 8 grid neighbours receive (Fig. 6).

The fine-tuned classifier is the one the study's ``finetune`` evaluation trained
(``<run dir>/finetune``), so ``finetune`` must come first in the study's list. Metric names carry
the prefixes of :data:`CLAIM_PREFIXES`; the study report keeps them out of its accuracy tables and
``study.py claims`` (:mod:`cmae_mm.study.claims_report`) reports them. Matrices (CKA) go to
``<run dir>/claims/*.json`` beside the scalar metrics.
"""
import copy
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .evaluations import FINETUNE_CONFIG, build_model, iter_batches

#: Prefixes of the metrics of this module (kept out of the report's accuracy tables).
CLAIM_PREFIXES = ('attn_', 'cka_', 'robust_', 'revattn_')
#: Occlusion ratios of :func:`robustness` (App. A.5 occludes 10-90 % of the patches).
OCCLUSION_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9)


def is_claim_metric(name: str) -> bool:
    """Whether ``name`` is a metric of this module (see :data:`CLAIM_PREFIXES`)."""
    return name.startswith(CLAIM_PREFIXES)


def finetuned_checkpoint(checkpoint: Path, folder: str = 'finetune') -> Path:
    """The final checkpoint of the run's fine-tuning (``<run dir>/finetune/last_checkpoint``).

    Raises:
        FileNotFoundError: Naming the folder, when the run has not been fine-tuned (the study's
            ``finetune`` evaluation must come before this one).
    """
    ft_dir = Path(checkpoint).parent / folder
    last = ft_dir / 'last_checkpoint'
    if last.is_file():
        path = Path(last.read_text().strip())
        if not path.is_absolute() and not path.is_file():
            path = ft_dir / path.name
        if path.is_file():
            return path
    raise FileNotFoundError(f'no fine-tuned checkpoint in {ft_dir} (last_checkpoint): list the '
                            f'finetune evaluation before this one in the study file')


def _finetuned_model(checkpoint: Path, config: str, seed: int):
    """The fine-tuned ``ImageClassifier`` of the run, loaded strictly from its checkpoint."""
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    return build_model(cfg, finetuned_checkpoint(checkpoint), seed)


def _test_batches(model, root: Path, num_images: int, batch_size: int = 100) -> Iterator[dict]:
    """The first ``num_images`` test images, pre-processed by ``model``'s data pre-processor."""
    seen = 0
    for data in iter_batches(model, root, 'test', batch_size=batch_size):
        if seen >= num_images:
            return
        take = min(len(data['inputs']), num_images - seen)
        seen += take
        yield dict(inputs=data['inputs'][:take], data_samples=data['data_samples'][:take])


def _data_root(cfg, data_root: Optional[str]) -> Path:
    return Path(data_root or cfg.train_dataloader.dataset.data_root)


def _encoder_attention(backbone, batches: Iterator[dict]) -> Dict[int, Dict[str, List[float]]]:
    """Per block, per head mean attention distance (grid units) and entropy (nats), unmasked."""
    import torch

    from ..analysis.attention import AttentionRecorder, HeadStatistics
    from ..analysis.common import unmasked_forward

    stats = HeadStatistics(tuple(backbone.patch_resolution))
    with torch.no_grad(), AttentionRecorder(backbone) as recorder:
        for data in batches:
            unmasked_forward(backbone, data['inputs'])
            stats.update(recorder.weights)
    return stats.result()


def attention(cfg, checkpoint: Path, seed: int, num_images: int = 500, finetuned: bool = True,
              finetune_config: str = FINETUNE_CONFIG, data_root: Optional[str] = None
              ) -> Dict[str, float]:
    """Attention distance and entropy per block, averaged over heads, queries and images (Fig. 5).

    The statistics are those of ``tools/analysis/attention_distance.py``
    (:class:`cmae_mm.analysis.attention.HeadStatistics`): patch-to-patch attention with the CLS
    token dropped and rows renormalised; distance in patch-grid units. Images: the first
    ``num_images`` test images, unmasked.

    Args:
        cfg (mmengine.config.Config): The run's pre-training config.
        checkpoint: The final pre-training checkpoint.
        seed: The run's seed.
        num_images: Test images used.
        finetuned: Also measure the fine-tuned classifier (``<run dir>/finetune``).
        finetune_config: The fine-tuning config the ``finetune`` evaluation used.
        data_root: Fashion-MNIST root; default: the pre-training dataset's.

    Returns:
        Dict[str, float]: ``attn_distance_pt_b<l>`` and ``attn_entropy_pt_b<l>`` for every block
        ``l`` (two digits), and ``..._ft_b<l>`` for the fine-tuned classifier.
    """
    root = _data_root(cfg, data_root)
    models = [('pt', build_model(cfg, checkpoint, seed))]
    if finetuned:
        models.append(('ft', _finetuned_model(checkpoint, finetune_config, seed)))
    metrics = {}
    for stage, model in models:
        result = _encoder_attention(model.backbone, _test_batches(model, root, num_images))
        for layer, values in result.items():
            for key in ('distance', 'entropy'):
                metrics[f'attn_{key}_{stage}_b{layer:02d}'] = round(
                    float(np.mean(values[key])), 6)
    return metrics


def _layer_features(backbone, batches: Iterator[dict]) -> List[List]:
    """Per batch, the representations of :func:`cmae_mm.analysis.cka.layer_inputs`."""
    import torch

    from ..analysis.cka import layer_inputs

    with torch.no_grad():
        return [layer_inputs(backbone, data['inputs']) for data in batches]


def _cka_matrix(feats_a: List[List], feats_b: List[List]):
    from ..analysis.cka import MinibatchCKA

    acc = MinibatchCKA(len(feats_a[0]), len(feats_b[0]))
    for a, b in zip(feats_a, feats_b):
        acc.update(a, b)
    return acc.compute()


def reference_checkpoint(checkpoint: Path, reference: str, seed: int) -> Path:
    """The checkpoint of run ``reference`` with the same seed and schedule in the same study.

    Raises:
        FileNotFoundError: Naming the expected file when the reference run is not trained yet.
    """
    path = Path(checkpoint).parent.parent / f'{reference}_seed{seed}' / Path(checkpoint).name
    if not path.is_file():
        raise FileNotFoundError(f'cka: the reference run {reference}_seed{seed} has no '
                                f'{path.name} yet ({path}); train it first (study.py run '
                                f'--only {reference}_seed{seed})')
    return path


def cka(cfg, checkpoint: Path, seed: int, reference: str = 'mae', num_images: int = 1000,
        batch_size: int = 100, data_root: Optional[str] = None) -> Dict[str, float]:
    """Linear CKA between this run's blocks and the reference run's of the same seed (Fig. 4).

    Representations: per block the output of its first LayerNorm, then the final norm (13 for a
    12-block ViT; CLS dropped), on the first ``num_images`` test images, unmasked; minibatch CKA
    with the unbiased HSIC (:class:`cmae_mm.analysis.cka.MinibatchCKA`, MAE-Lite's estimator).
    The whole matrices (this run vs the reference, and this run vs itself) are written to
    ``<run dir>/claims/cka.json``.

    Args:
        cfg (mmengine.config.Config): The run's pre-training config.
        checkpoint: The final pre-training checkpoint.
        seed: The run's seed.
        reference: Name of the run compared with (same study, same seed). A run that is the
            reference itself gets only the within-encoder matrix and no metric.
        num_images: Test images (a multiple of ``batch_size``).
        batch_size: Images per minibatch.
        data_root: Fashion-MNIST root; default: the pre-training dataset's.

    Returns:
        Dict[str, float]: ``cka_<reference>_b<l>``: CKA of representation ``l`` of this run and
        of the reference (the diagonal).
    """
    if num_images % batch_size:
        raise ValueError(f'cka: num_images={num_images} must be a multiple of '
                         f'batch_size={batch_size} (minibatch CKA needs equal batches)')
    root = _data_root(cfg, data_root)
    run_dir = Path(checkpoint).parent
    model = build_model(cfg, checkpoint, seed)
    own = _layer_features(model.backbone, _test_batches(model, root, num_images, batch_size))
    record: Dict[str, Any] = dict(num_images=num_images, batch_size=batch_size,
                                  representations='ln1 input of each block, then the final norm',
                                  self=_cka_matrix(own, own).tolist())
    metrics = {}
    is_reference = run_dir.name == f'{reference}_seed{seed}'
    if not is_reference:
        ref = build_model(cfg, reference_checkpoint(checkpoint, reference, seed), seed)
        other = _layer_features(ref.backbone, _test_batches(ref, root, num_images, batch_size))
        cross = _cka_matrix(own, other)
        record['reference'] = reference
        record['cross'] = cross.tolist()
        metrics = {f'cka_{reference}_b{i:02d}': round(float(cross[i, i]), 6)
                   for i in range(cross.shape[0])}
    _write_json(run_dir / 'claims' / 'cka.json', record)
    return metrics


def _write_json(path: Path, record: Dict[str, Any]) -> None:
    from ..engine.atomic_io import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes((json.dumps(record, indent=1) + '\n').encode(), path)


def _perturbed_top1(model, loader: dict, batch_size: int = 500) -> float:
    """Top-1 (%) of ``model`` over the dataset of a dataloader config (built as mmpretrain does)."""
    import torch
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    dataset = DATASETS.build(loader['dataset'])
    correct = 0
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = default_collate([dataset[i] for i in
                                     range(start, min(start + batch_size, len(dataset)))])
            data = model.data_preprocessor(batch, False)
            preds = model(data['inputs'], data['data_samples'], mode='predict')
            correct += sum(int(p.pred_label.item() == p.gt_label.item()) for p in preds)
    return 100. * correct / len(dataset)


def robustness(cfg, checkpoint: Path, seed: int, ratios: Sequence[float] = OCCLUSION_RATIOS,
               shuffle: bool = True, perturb_seed: int = 0,
               finetune_config: str = FINETUNE_CONFIG, data_root: Optional[str] = None
               ) -> Dict[str, float]:
    """Top-1 of the fine-tuned classifier on the test images, clean and perturbed (Tab. 9).

    The perturbations are ``tools/test.py --perturb``'s registered transforms, inserted before
    ``PackInputs`` by :func:`cmae_mm.evaluation.perturb_dataloader`: ``PatchOcclusion`` sets a
    ``ratio`` of the 4x4-pixel cells (the patches) to the data pre-processor's mean (0 after
    normalisation), ``PatchShuffle`` permutes the cells. Each image draws its cells from
    ``(perturb_seed, image index)``, so every model sees the same perturbed images.

    Args:
        cfg (mmengine.config.Config): The run's pre-training config.
        checkpoint: The final pre-training checkpoint.
        seed: The run's seed.
        ratios: Occlusion ratios.
        shuffle: Also shuffle the patches.
        perturb_seed: Seed of the perturbations (the same for every run).
        finetune_config: The fine-tuning config the ``finetune`` evaluation used.
        data_root: Fashion-MNIST root; default: the fine-tuning config's.

    Returns:
        Dict[str, float]: ``robust_clean``, ``robust_occlusion_<ratio x 100>`` (e.g.
        ``robust_occlusion_50``) and ``robust_shuffle`` (top-1, %).
    """
    from mmengine.config import Config

    from ..evaluation.perturbation import perturb_dataloader

    ft_cfg = Config.fromfile(finetune_config)
    loader = ft_cfg.test_dataloader
    if data_root is not None:
        loader.dataset.data_root = data_root
    patch = int(ft_cfg.model.backbone.patch_size)
    model = _finetuned_model(checkpoint, finetune_config, seed)
    metrics = {'robust_clean': _perturbed_top1(model, loader)}
    for ratio in ratios:
        variant = perturb_dataloader(loader, 'occlusion', perturb_seed, ft_cfg,
                                     patch_size=patch, ratio=float(ratio))
        metrics[f'robust_occlusion_{round(100 * ratio):02d}'] = _perturbed_top1(model, variant)
    if shuffle:
        variant = perturb_dataloader(loader, 'shuffle', perturb_seed, ft_cfg, patch_size=patch)
        metrics['robust_shuffle'] = _perturbed_top1(model, variant)
    return {k: round(v, 4) for k, v in metrics.items()}


@contextmanager
def _recorded_shots(backbone) -> Iterator[List[Tuple[Any, Any]]]:
    """Record ``(ids_visible, ids_removed)`` of every shot a :class:`CMAEViT` draws (instance-level
    wrapper of its ``_mask_shot``, removed on exit; the model's computation is unchanged)."""
    shots: List[Tuple[Any, Any]] = []
    original = backbone._mask_shot

    def wrapped(x, ids_visible, ratio):
        out = original(x, ids_visible, ratio)
        shots.append((ids_visible, out[2]))
        return out

    backbone._mask_shot = wrapped
    try:
        yield shots
    finally:
        del backbone._mask_shot


def neighbour_share(weights, ids_visible, ids_removed, grid: Tuple[int, int]
                    ) -> Tuple[float, float, int]:
    """How much of a removed token's outgoing attention its 8 grid neighbours receive.

    For key token ``j`` (removed by the next shot) the outgoing attention is the column
    ``A[i, j]`` over the other visible patch tokens ``i`` (patch-to-patch block, CLS dropped, rows
    renormalised, mean over heads). Its neighbour share is the part of that column whose queries
    are ``j``'s 8 grid neighbours; the chance share is the neighbours' fraction of the other
    visible tokens (what uniform attention would give).

    Args:
        weights (torch.Tensor): (B, H, 1 + L, 1 + L) attention of the block before the shot.
        ids_visible (torch.Tensor): (B, L) grid index of each visible token, in sequence order.
        ids_removed (torch.Tensor): (B, R) grid indices the shot removes.
        grid: ``(h, w)`` of the patch grid.

    Returns:
        Tuple[float, float, int]: Sums over removed tokens of the neighbour share and of the
        chance share, and the number of removed tokens counted (those with at least one other
        visible token).
    """
    import torch

    a = weights[:, :, 1:, 1:].double()
    a = (a / a.sum(dim=-1, keepdim=True)).mean(dim=1)  # (B, L, L)
    w = grid[1]
    rows, cols = ids_visible // w, ids_visible % w  # (B, L)
    share = chance = 0.
    count = 0
    for b in range(a.shape[0]):
        for j_grid in ids_removed[b].tolist():
            j = int((ids_visible[b] == j_grid).nonzero()[0, 0])
            col = a[b, :, j].clone()
            col[j] = 0.
            near = ((rows[b] - rows[b, j]).abs() <= 1) & ((cols[b] - cols[b, j]).abs() <= 1)
            near[j] = False
            others = a.shape[1] - 1
            if others < 1 or float(col.sum()) == 0.:
                continue
            share += float(col[near].sum() / col.sum())
            chance += float(near.sum()) / others
            count += 1
    return share, chance, count


def reversed_attention(cfg, checkpoint: Path, seed: int, mask_layers: Sequence[int] = (0, 10),
                       mask_ratios: Sequence[float] = (0.75, 0.1), num_images: int = 500,
                       draw_seed: int = 0, data_root: Optional[str] = None) -> Dict[str, float]:
    """Reversed attention in the block before the second shot (Fig. 6), read at the same tokens.

    The encoder runs with the two-shot schedule ``L(mask_layers; mask_ratios)`` whatever its own
    schedule (the schedule has no weights), with the global RNG seeded by ``draw_seed`` before the
    images: an MAE encoder and a Conditional MAE encoder are read on the same visible tokens, and
    the tokens measured are those the second shot removes (for MAE, the ones the same random
    draw would remove). See :func:`neighbour_share` for the statistic.

    Args:
        cfg (mmengine.config.Config): The run's pre-training config.
        checkpoint: The final pre-training checkpoint.
        seed: The run's seed.
        mask_layers: The two-shot schedule's blocks; the block before ``mask_layers[1]`` is read.
        mask_ratios: Its ratios.
        num_images: Test images.
        draw_seed: Seed of the masks (the same for every run).
        data_root: Fashion-MNIST root; default: the pre-training dataset's.

    Returns:
        Dict[str, float]: ``revattn_neighbour_share`` (mean over the removed tokens of all images),
        ``revattn_chance_share`` (uniform attention's share at the same tokens) and
        ``revattn_excess`` (their ratio).
    """
    import torch

    from ..analysis.attention import AttentionRecorder

    if len(mask_layers) != 2 or len(mask_ratios) != 2:
        raise ValueError(f'reversed_attention: a two-shot schedule, got mask_layers='
                         f'{list(mask_layers)} mask_ratios={list(mask_ratios)}')
    run_cfg = copy.deepcopy(cfg)  # the run's config, with the two-shot schedule
    run_cfg.model.backbone.mask_layers = list(mask_layers)
    run_cfg.model.backbone.mask_ratios = list(mask_ratios)
    model = build_model(run_cfg, checkpoint, seed)
    backbone = model.backbone
    block = mask_layers[1] - 1
    grid = tuple(backbone.patch_resolution)
    share = chance = 0.
    count = 0
    torch.manual_seed(draw_seed)
    with torch.no_grad():
        for data in _test_batches(model, _data_root(cfg, data_root), num_images):
            with AttentionRecorder(backbone, [block]) as rec, _recorded_shots(backbone) as shots:
                backbone(data['inputs'], mask=True)
            ids_visible, ids_removed = shots[1]
            s, c, n = neighbour_share(rec.weights[block], ids_visible, ids_removed, grid)
            share, chance, count = share + s, chance + c, count + n
    share, chance = share / max(count, 1), chance / max(count, 1)
    return dict(revattn_neighbour_share=round(share, 6), revattn_chance_share=round(chance, 6),
                revattn_excess=round(share / chance if chance else float('nan'), 6))


CLAIM_EVALUATIONS = {'attention': attention, 'cka': cka, 'robustness': robustness,
                     'reversed_attention': reversed_attention}
