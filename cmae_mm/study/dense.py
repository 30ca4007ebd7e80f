"""Dense transfer evaluations of a study: ``segmentation`` (UperNet) and ``detection`` (Mask R-CNN)
on the Fashion-MNIST scenes, each with its from-scratch controls paired by seed.

Each pre-trained encoder of a study is fine-tuned in a dense config through ``tools/train.py
CONFIG --pretrained CHECKPOINT`` (the checkpoint's encoder loaded strictly,
:mod:`cmae_mm.engine.pretrained`) and its final checkpoint scored by ``tools/test.py`` on the test
scenes (``score_on='test'``) or on the validation scenes (``score_on='val'``, recipe search), both
as subprocesses (:func:`~cmae_mm.study.evaluations.train_and_score`: resumed from a checkpoint,
a saved score reused). The controls are the same model without a checkpoint
(``model.backbone.init_cfg=None``); they depend only on the seed and their recipe, so each is
trained once per seed in the study's controls folder and every run of that seed reuses it:

* ``from_scratch``: the pre-trained arm's config, options and schedule (its layer decay
  included: a handicapped control) -> ``<metric>_from_scratch``;
* ``scratch``: a control with its own recipe (its own ``iters``, ``warmup``, ``cfg_options``,
  e.g. ``optim_wrapper.paramwise_cfg.layer_decay_rate: 1.0`` and its own lr; chosen on the
  validation scenes) -> ``<metric>_from_scratch_tuned``.

The suffixes are the suite's (:data:`~cmae_mm.study.evaluations.CONTROLS`), so the study report
labels the two controls as it labels fine-tuning's.

Metrics of ``segmentation`` (mmseg's ``IoUMetric`` over the 11 classes, background included,
percent):

* ``seg_miou`` -- mean over the classes of intersection over union of the predicted and true
  pixels of a class (``mIoU``; classes absent from both prediction and truth are left out);
* ``seg_aacc`` -- share of all pixels labelled correctly (``aAcc``);
* ``seg_macc`` -- mean over the classes of the share of a class's pixels labelled correctly
  (``mAcc``);
* ``seg_iou_<class>`` -- the IoU of one class (``background``, ``t_shirt_top``, ``trouser``, ...,
  ``ankle_boot``: the class name lower-cased, every non-alphanumeric character ``_``); NaN for a
  class absent from both prediction and truth. ``tools/test.py`` logs only the means to its JSON;
  mmseg prints the per-class values as a table (``per class results:``) into the test run's log,
  which :func:`read_segmentation_metrics` parses and checks against the logged ``mIoU``.

Metrics of ``detection`` (mmdet's ``CocoMetric``, COCO's average precision over the 10 garment
classes, in percent: the logged fraction x 100):

* ``det_bbox_map`` -- box AP averaged over IoU thresholds 0.50:0.05:0.95 (``coco/bbox_mAP``);
* ``det_bbox_map_50``, ``det_bbox_map_75`` -- box AP at IoU 0.50 and 0.75;
* ``det_segm_map``, ``det_segm_map_50``, ``det_segm_map_75`` -- the same for the instance masks
  (``coco/segm_mAP...``).

Work dirs: ``<run dir>/<segmentation|detection>`` (``..._val`` when scored on the validation
scenes), with ``options.json`` recording the config and options it was trained with: a later call
with other options stops with the difference instead of reusing a score of another recipe.
"""
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .common import repo_path
from .evaluations import (SCORE_SPLITS, SCRATCH_SUFFIX, TUNED_SCRATCH_SUFFIX, _control_dir,
                          _control_lock, train_and_score)

SEGMENTATION_CONFIG = \
    'configs/mmseg/fashion_mnist_scenes/cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64.py'
DETECTION_CONFIG = \
    'configs/mmdet/fashion_mnist_scenes/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes.py'
#: Keys a ``scratch`` recipe may set.
SCRATCH_KEYS = ('config', 'iters', 'warmup', 'cfg_options')
#: The file in a dense work dir recording the config and options it was trained with.
OPTIONS_FILE = 'options.json'
#: Where mmseg prints the per-class table in the test run's log.
PER_CLASS_HEADING = 'per class results:'
#: Prefix of the per-class IoU values in the saved ``<split>_metrics.json``.
PER_CLASS_PREFIX = 'IoU.'


@dataclass(frozen=True)
class DenseTask:
    """What differs between the dense evaluations.

    Args:
        name: The evaluation's name (also its work dir and control folders).
        prefix: Prefix of its metric names (``seg``, ``det``).
        config: Its default config.
        metrics: Logged key (``tools/test.py``'s JSON) -> metric name without the prefix.
        scale: Factor from the logged value to the reported one (100: fraction -> percent).
        data_root: ``--cfg-options`` that read the scenes from ``{root}``.
        val_split: ``--cfg-options`` of ``tools/test.py`` that score the validation scenes of
            ``{root}`` instead of the test scenes.
        per_class_iou: Whether the test log holds mmseg's per-class table.
    """

    name: str
    prefix: str
    config: str
    metrics: Dict[str, str]
    scale: float
    data_root: Dict[str, str]
    val_split: Dict[str, str]
    per_class_iou: bool = False

    def options(self, template: Dict[str, str], root: str) -> Dict[str, Any]:
        """``template`` with ``{root}`` replaced by ``root`` (without a trailing ``/``)."""
        return {k: v.format(root=root.rstrip('/')) for k, v in template.items()}


SEGMENTATION = DenseTask(
    name='segmentation', prefix='seg', config=SEGMENTATION_CONFIG,
    metrics={'mIoU': 'miou', 'aAcc': 'aacc', 'mAcc': 'macc'}, scale=1., per_class_iou=True,
    data_root={f'{s}_dataloader.dataset.data_root': '{root}' for s in ('train', 'val', 'test')},
    val_split={'test_dataloader.dataset.data_prefix.img_path': 'images/validation',
               'test_dataloader.dataset.data_prefix.seg_map_path': 'annotations/validation'})
DETECTION = DenseTask(
    name='detection', prefix='det', config=DETECTION_CONFIG,
    metrics={f'coco/{kind}_mAP{iou}': f'{kind}_map{iou}'
             for kind in ('bbox', 'segm') for iou in ('', '_50', '_75')}, scale=100.,
    data_root={**{f'{s}_dataloader.dataset.data_root': '{root}' for s in ('train', 'val', 'test')},
               'val_evaluator.ann_file': '{root}/annotations/instances_val.json',
               'test_evaluator.ann_file': '{root}/annotations/instances_test.json'},
    val_split={'test_dataloader.dataset.ann_file': 'annotations/instances_val.json',
               'test_dataloader.dataset.data_prefix.img': 'images/validation/',
               'test_evaluator.ann_file': '{root}/annotations/instances_val.json'})
TASKS = {task.name: task for task in (SEGMENTATION, DETECTION)}


def class_slug(name: str) -> str:
    """A class name as part of a metric name: lower-cased, non-alphanumerics ``_``
    (``'T-shirt/top'`` -> ``'t_shirt_top'``)."""
    return re.sub(r'[^a-z0-9]', '_', name.lower())


def _load_config(config: str, cfg_options: Optional[Dict[str, Any]] = None):
    """The config (its custom imports not run) with ``cfg_options`` merged."""
    import warnings

    from mmengine.config import Config

    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
        cfg = Config.fromfile(str(repo_path(config)), import_custom_modules=False)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


def _max_iters(cfg, where: str) -> int:
    train_cfg = cfg.get('train_cfg') or {}
    if not train_cfg.get('max_iters') or train_cfg.get('max_epochs'):
        raise ValueError(f'{where}: the config is not iteration-based (train_cfg.max_iters); '
                         'the dense evaluations need an IterBasedTrainLoop config')
    return int(train_cfg['max_iters'])


def iter_schedule_options(cfg, iters: int, warmup: Optional[int] = None,
                          where: str = 'dense') -> Dict[str, Any]:
    """``--cfg-options`` that run an iteration-based config's schedule in ``iters`` iterations.

    The config's schedule is scaled to ``iters``: its warm-up (the first scheduler, ending
    before ``train_cfg.max_iters``) keeps its share of the run (at least 1 iteration) unless
    ``warmup`` is given; a scheduler that began at the warm-up's end begins at the new one; every
    scheduler that ended at ``max_iters`` ends at ``iters``; milestones (``MultiStepLR``) keep
    their share (at least 1); ``T_max`` is the new length of its scheduler. Validation and
    checkpoints keep their share of the run too (at least every iteration), and the last
    checkpoint is ``iter_<iters>.pth``.

    Args:
        cfg (mmengine.config.Config): The config, with ``train_cfg.max_iters`` and a
            ``param_scheduler`` list of iteration-based (``by_epoch=False``) schedulers.
        iters: Training iterations (>= 2: a warm-up and the rest).
        warmup: Warm-up iterations (1 .. ``iters - 1``); default: the config's share.
        where: Name for messages.

    Returns:
        Dict[str, Any]: Dotted config keys -> values.
    """
    if not isinstance(iters, int) or isinstance(iters, bool) or iters < 2:
        raise ValueError(f'{where}: iters={iters!r}: must be an integer >= 2 (a warm-up and the '
                         'rest)')
    base = _max_iters(cfg, where)
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    if any(s.get('by_epoch', True) for s in schedulers):
        raise ValueError(f'{where}: every param_scheduler of the config must be iteration-based '
                         '(by_epoch=False) to be scaled to iters')

    def scaled(value: float) -> int:
        return max(1, round(value * iters / base))

    warm_end = next((s['end'] for s in schedulers[:1] if s.get('end', base) < base), None)
    if warm_end is None and warmup is not None:
        raise ValueError(f'{where}: warmup={warmup!r}, but the config has no warm-up scheduler')
    warm = None if warm_end is None else (scaled(warm_end) if warmup is None else warmup)
    if warm is not None and (not isinstance(warm, int) or isinstance(warm, bool)
                             or not 0 < warm < iters):
        raise ValueError(f'{where}: warmup={warm!r}: must be an integer in 1..{iters - 1} for '
                         f'{iters} iterations')
    options: Dict[str, Any] = {'train_cfg.max_iters': iters}
    for i, s in enumerate(schedulers):
        begin, end = s.get('begin', 0), s.get('end', base)
        new_begin = 0 if not begin else (warm if begin == warm_end else scaled(begin))
        new_end = iters if end >= base else (warm if end == warm_end else scaled(end))
        if 'begin' in s:
            options[f'param_scheduler.{i}.begin'] = new_begin
        options[f'param_scheduler.{i}.end'] = new_end
        if 'milestones' in s:
            options[f'param_scheduler.{i}.milestones'] = [scaled(m) for m in s['milestones']]
        if 'T_max' in s:
            options[f'param_scheduler.{i}.T_max'] = new_end - new_begin
    val_interval = cfg.train_cfg.get('val_interval')
    if val_interval:
        options['train_cfg.val_interval'] = min(iters, scaled(val_interval))
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if checkpoint.get('interval'):
        options['default_hooks.checkpoint.interval'] = min(iters, scaled(checkpoint['interval']))
    return options


def _parse_per_class_iou(log_text: str, where: str) -> Dict[str, float]:
    """The IoU column of the last per-class table mmseg printed into a log: class -> IoU (%)."""
    start = log_text.rfind(PER_CLASS_HEADING)
    if start < 0:
        raise ValueError(f'{where}: no {PER_CLASS_HEADING!r} table in the test log')
    rows: List[List[str]] = []
    for line in log_text[start:].splitlines()[1:]:
        line = line.strip()
        if line.startswith('|'):
            rows.append([cell.strip() for cell in line.strip('|').split('|')])
        elif rows and not line.startswith('+'):
            break  # the line after the table
    if len(rows) < 2 or 'IoU' not in rows[0] or 'Class' not in rows[0]:
        raise ValueError(f'{where}: the per-class table has no Class and IoU columns: '
                         f'{rows[:1]}')
    name, iou = rows[0].index('Class'), rows[0].index('IoU')
    return {row[name]: float(row[iou]) for row in rows[1:]}


def read_segmentation_metrics(score_dir: Path) -> Dict[str, float]:
    """``aAcc``, ``mIoU``, ``mAcc`` and ``IoU.<class>`` of a ``tools/test.py`` run of mmseg.

    The means come from the run's ``<stamp>/<stamp>.json``; the per-class IoU from the table
    mmseg's ``IoUMetric`` prints into the same run's ``<stamp>/<stamp>.log`` (it logs only the
    means to the JSON). The table's values are rounded as the means are; their NaN-mean must
    agree with the logged ``mIoU`` to the rounding (0.01), else the table is not the one that
    was scored and nothing is returned.

    Raises:
        FileNotFoundError: No test run in ``score_dir`` logged ``mIoU``.
        ValueError: The per-class table is missing, malformed or disagrees with ``mIoU``.
    """
    import numpy as np

    metrics = _read_logged(score_dir, SEGMENTATION)
    stamp_dir = Path(metrics.pop('_stamp_dir'))
    log = stamp_dir / f'{stamp_dir.name}.log'
    where = f'segmentation: {log}'
    per_class = _parse_per_class_iou(log.read_text(errors='replace') if log.is_file() else '',
                                     where)
    values = np.array(list(per_class.values()), dtype=float)
    mean = float(np.nanmean(values)) if not np.isnan(values).all() else float('nan')
    if not math.isclose(mean, metrics['mIoU'], abs_tol=0.0101):
        raise ValueError(f'{where}: the per-class IoU average {mean:.3f} is not the logged mIoU '
                         f'{metrics["mIoU"]}')
    metrics.update({PER_CLASS_PREFIX + name: value for name, value in per_class.items()})
    return metrics


def read_detection_metrics(score_dir: Path) -> Dict[str, float]:
    """Every ``coco/*`` metric of a ``tools/test.py`` run of mmdet (``<stamp>/<stamp>.json``).

    Raises:
        FileNotFoundError: No test run in ``score_dir`` logged ``coco/bbox_mAP`` (mmdet's
            CocoMetric logs nothing when the model detected nothing in any image).
    """
    metrics = _read_logged(score_dir, DETECTION)
    metrics.pop('_stamp_dir')
    return metrics


def _read_logged(score_dir: Path, task: DenseTask) -> Dict[str, Any]:
    """The last JSON line of the newest test run in ``score_dir`` holding the task's metrics,
    without timings, with ``_stamp_dir`` (the run's folder)."""
    from .logs import last_logged_entry

    required = next(iter(task.metrics))
    found = last_logged_entry(score_dir, ('{stamp}.json', ), lambda entry: required in entry)
    if found is None:
        hint = (' (CocoMetric logs no metric when nothing was detected: see the log, e.g. '
                'model.test_cfg.rcnn.score_thr)' if task is DETECTION else '')
        raise FileNotFoundError(f'{task.name}: no test run in {score_dir} logged {required} '
                                f'(<timestamp>/<timestamp>.json){hint}')
    stamp_dir, entry = found
    missing = [k for k in task.metrics if k not in entry]
    if missing:
        raise ValueError(f'{task.name}: {stamp_dir} logged {sorted(entry)}, not {missing}')
    metrics: Dict[str, Any] = {k: float(v) for k, v in entry.items()
                               if k not in ('data_time', 'time', 'step', 'iter', 'epoch')}
    metrics['_stamp_dir'] = str(stamp_dir)
    return metrics


READERS: Dict[str, Callable[[Path], Dict[str, float]]] = {
    'segmentation': read_segmentation_metrics, 'detection': read_detection_metrics}


def study_metrics(task: DenseTask, logged: Dict[str, float], suffix: str = ''
                  ) -> Dict[str, float]:
    """The study's metric names and values of what a test run logged (see the module docstring).

    Args:
        task: The evaluation.
        logged: :func:`read_segmentation_metrics` / :func:`read_detection_metrics` of a run.
        suffix: Control suffix of the names (``''`` for the pre-trained arm).

    Returns:
        Dict[str, float]: ``<prefix>_<metric><suffix>`` -> value (rounded to 4 decimals; NaN
        for a per-class IoU without pixels, or COCO's -1 of "no ground truth").
    """
    def value(raw: float) -> float:
        if math.isnan(raw) or raw < 0:
            return float('nan')
        return round(raw * task.scale, 4)

    metrics = {f'{task.prefix}_{name}{suffix}': value(logged[key])
               for key, name in task.metrics.items()}
    if task.per_class_iou:
        metrics.update({f'{task.prefix}_iou_{class_slug(key[len(PER_CLASS_PREFIX):])}{suffix}':
                        value(v) for key, v in logged.items()
                        if key.startswith(PER_CLASS_PREFIX)})
    return metrics


def _check_recorded(work_dir: Path, record: Dict[str, Any], where: str) -> None:
    """Refuse a work dir trained with another config or options; record them in a new one."""
    from ..engine.atomic_io import atomic_write_bytes

    path = work_dir / OPTIONS_FILE
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + '\n'
    if path.is_file():
        old = json.loads(path.read_text())
        new = json.loads(text)
        if old != new:
            keys = sorted(k for k in set(old.get('options', {})) | set(new['options'])
                          if old.get('options', {}).get(k) != new['options'].get(k))
            changed = ', '.join([f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in sorted(
                set(old) | set(new)) if k not in ('config', 'options') and old.get(k) != new.get(k)]
                + [f'{k}: {old.get("options", {}).get(k)!r} -> {new["options"].get(k)!r}'
                   for k in keys])
            if old.get('config') != new['config']:
                changed = f'config: {old.get("config")} -> {new["config"]}; ' + changed
            raise ValueError(f'{where}: {work_dir} was trained with other options ({changed}); '
                             'move it away to train with these')
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(text.encode(), path)


def _check_config(config: Any, task: DenseTask, where: str) -> str:
    if not isinstance(config, str) or not config or not repo_path(config).is_file():
        raise ValueError(f'{where}: config {config!r} not found (a dense config, relative to the '
                         f'repository root; default: {task.config})')
    return config


def _arm_options(task: DenseTask, config: str, seed: int, iters: Optional[int],
                 warmup: Optional[int], cfg_options: Optional[Dict[str, Any]],
                 data_root: Optional[str], where: str):
    """``(options, final checkpoint name, loaded config)`` of one arm: seed, data root, the
    schedule scaled to ``iters``, then ``cfg_options``."""
    cfg = _load_config(config)
    options: Dict[str, Any] = {'randomness.seed': seed}
    if data_root is not None:
        options.update(task.options(task.data_root, str(data_root)))
    if iters is not None:
        options.update(iter_schedule_options(cfg, iters, warmup, where))
    elif warmup is not None:
        options.update(iter_schedule_options(cfg, _max_iters(cfg, where), warmup, where))
    options.update(cfg_options or {})
    merged = _load_config(config, options)
    return options, f'iter_{_max_iters(merged, where)}.pth', merged


def _score(task: DenseTask, config: str, work_dir: Path, options: Dict[str, Any], final: str,
           merged, score_on: str, train_args: Sequence[str] = (),
           recorded: Optional[Dict[str, Any]] = None) -> Dict[str, float]:
    """Train (``--pretrained`` in ``train_args``) and score one arm in ``work_dir``;
    ``recorded``: more of the recipe for the work dir's record (e.g. the checkpoint)."""
    root = str(merged.test_dataloader.dataset.data_root)
    score_options = task.options(task.val_split, root) if score_on == 'val' else None
    _check_recorded(work_dir, dict(config=config, options=options, **(recorded or {})),
                    task.name)
    return train_and_score(config, work_dir, options, final_checkpoint=final,
                           score_options=score_options, train_args=train_args,
                           log_name=f'{task.name}.log', score_on=score_on,
                           read_metrics=READERS[task.name])


def dense_transfer(task: DenseTask, checkpoint: Path, seed: int, config: Optional[str] = None,
                   iters: Optional[int] = None, warmup: Optional[int] = None,
                   cfg_options: Optional[Dict[str, Any]] = None,
                   scratch: Optional[Dict[str, Any]] = None, from_scratch: bool = True,
                   score_on: str = 'test', controls_dir: Optional[str] = None,
                   controls_only: bool = False, data_root: Optional[str] = None,
                   seeds: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """The pre-trained arm of a dense evaluation and its controls (see :func:`segmentation`)."""
    where = task.name
    if score_on not in SCORE_SPLITS:
        raise ValueError(f'{where}: score_on={score_on!r}: allowed: {", ".join(SCORE_SPLITS)}')
    if seeds is not None and (not isinstance(seeds, (list, tuple)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ValueError(f'{where}: seeds={seeds!r}: allowed: a list of integers (the study '
                         'seeds to evaluate), or none for all')
    if scratch is not None:
        unknown = sorted(set(scratch) - set(SCRATCH_KEYS)) if isinstance(scratch, dict) \
            else [repr(scratch)]
        if unknown:
            raise ValueError(f'{where} scratch: unknown key(s) {unknown}; allowed: '
                             f'{", ".join(SCRATCH_KEYS)}')
    config = _check_config(config or task.config, task, where)
    if seeds is not None and seed not in seeds:
        return {}
    checkpoint = Path(checkpoint)
    options, final, merged = _arm_options(task, config, seed, iters, warmup, cfg_options,
                                          data_root, where)
    scenes = repo_path(str(merged.test_dataloader.dataset.data_root))
    if not (scenes / 'annotations').is_dir():
        raise FileNotFoundError(f'{where}: no scene set in {scenes} (write it with python '
                                'tools/dataset_converters/make_fashion_mnist_scenes.py, or set '
                                'data_root)')
    suffix = '' if score_on == 'test' else f'_{score_on}'
    metrics: Dict[str, float] = {}
    if not controls_only:
        if not checkpoint.is_file():
            raise FileNotFoundError(f'{where}: no pre-training checkpoint {checkpoint}')
        logged = _score(task, config, checkpoint.parent / f'{task.name}{suffix}', options, final,
                        merged, score_on, ['--pretrained', str(checkpoint)])
        metrics.update(study_metrics(task, logged))
    if from_scratch:
        control = {**options, 'model.backbone.init_cfg': None}
        control_dir = _control_dir(checkpoint, task.name, [config, control], seed, controls_dir)
        with _control_lock(control_dir):
            logged = _score(task, config, control_dir, control, final, merged, score_on)
        metrics.update(study_metrics(task, logged, SCRATCH_SUFFIX))
    if scratch is not None:
        own_config = _check_config(scratch.get('config', config), task, f'{where} scratch')
        own, own_final, own_merged = _arm_options(
            task, own_config, seed, scratch.get('iters'), scratch.get('warmup'),
            {**(scratch.get('cfg_options') or {}), 'model.backbone.init_cfg': None}, data_root,
            f'{where} scratch')
        control_dir = _control_dir(checkpoint, f'{task.name}-scratch', [own_config, own], seed,
                                   controls_dir)
        with _control_lock(control_dir):
            logged = _score(task, own_config, control_dir, own, own_final, own_merged, score_on)
        metrics.update(study_metrics(task, logged, TUNED_SCRATCH_SUFFIX))
    return metrics


def segmentation(cfg, checkpoint: Path, seed: int, config: str = SEGMENTATION_CONFIG,
                 iters: Optional[int] = None, warmup: Optional[int] = None,
                 cfg_options: Optional[Dict[str, Any]] = None,
                 scratch: Optional[Dict[str, Any]] = None, from_scratch: bool = True,
                 score_on: str = 'test', controls_dir: Optional[str] = None,
                 controls_only: bool = False, data_root: Optional[str] = None,
                 seeds: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """Semantic segmentation of the Fashion-MNIST scenes with the pre-trained encoder (UperNet).

    ``tools/train.py CONFIG --work-dir <run dir>/segmentation --pretrained CHECKPOINT
    --cfg-options randomness.seed=<seed> ...``, then ``tools/test.py CONFIG
    <work dir>/iter_<N>.pth --work-dir <work dir>/<score_on>`` (see the module docstring for the
    controls, the work dirs and what each metric means).

    Args:
        cfg (mmengine.config.Config): The pre-training run's config (unused: the model is
            ``config``'s).
        checkpoint: The run's final pre-training checkpoint (its encoder is loaded strictly).
        seed: The run's seed: the training seed of the arm and of its controls.
        config: The dense config (iteration-based).
        iters: Training iterations, the config's schedule scaled to them
            (:func:`iter_schedule_options`); None: the config's (8,000).
        warmup: Warm-up iterations; default: the config's share of the run.
        cfg_options: Further overrides of the config (e.g. ``optim_wrapper.optimizer.lr``).
        scratch: The control with its own recipe: ``config``, ``iters``, ``warmup`` and
            ``cfg_options`` of its own (e.g. ``optim_wrapper.paramwise_cfg.layer_decay_rate:
            1.0``); None: no such control.
        from_scratch: Also train the control at the pre-trained arm's recipe and length.
        score_on: ``'test'`` (the test scenes; final runs) or ``'val'`` (the validation scenes;
            recipe search, in ``<run dir>/segmentation_val``).
        controls_dir: Folder of the controls, shared by studies with the same recipes (default:
            ``<study dir>/controls``).
        controls_only: Train and score only the controls (``study.py controls``).
        data_root: The scene set (default: the config's, ``data/fashion_mnist_scenes``).
        seeds: Evaluate only the runs of these seeds (the others get no metric); None: all.

    Returns:
        Dict[str, float]: ``seg_miou``, ``seg_aacc``, ``seg_macc``, ``seg_iou_<class>`` (not
        with ``controls_only``), and with the controls the same names ending in
        ``_from_scratch`` / ``_from_scratch_tuned``; percent.
    """
    return dense_transfer(SEGMENTATION, checkpoint, seed, config, iters, warmup, cfg_options,
                          scratch, from_scratch, score_on, controls_dir, controls_only,
                          data_root, seeds)


def detection(cfg, checkpoint: Path, seed: int, config: str = DETECTION_CONFIG,
              iters: Optional[int] = None, warmup: Optional[int] = None,
              cfg_options: Optional[Dict[str, Any]] = None,
              scratch: Optional[Dict[str, Any]] = None, from_scratch: bool = True,
              score_on: str = 'test', controls_dir: Optional[str] = None,
              controls_only: bool = False, data_root: Optional[str] = None,
              seeds: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """Instance detection and segmentation of the Fashion-MNIST scenes with the pre-trained
    encoder (Mask R-CNN + FPN), as :func:`segmentation` does it (work dir
    ``<run dir>/detection``; ``data_root`` also sets the evaluators' COCO annotation files).

    Args:
        cfg (mmengine.config.Config): The pre-training run's config (unused).
        checkpoint: The run's final pre-training checkpoint.
        seed: The run's seed.
        config: The dense config (iteration-based).
        iters: Training iterations (the config's schedule scaled); None: the config's (5,000).
        warmup: Warm-up iterations; default: the config's share of the run.
        cfg_options: Further overrides of the config.
        scratch: The control with its own recipe (as :func:`segmentation`'s).
        from_scratch: Also train the control at the pre-trained arm's recipe and length.
        score_on: ``'test'`` or ``'val'``.
        controls_dir: Folder of the controls (default: ``<study dir>/controls``).
        controls_only: Train and score only the controls.
        data_root: The scene set (default: the config's).
        seeds: Evaluate only the runs of these seeds (detection costs about 8 times
            segmentation's CPU time per iteration); None: all.

    Returns:
        Dict[str, float]: ``det_bbox_map``, ``det_bbox_map_50``, ``det_bbox_map_75``,
        ``det_segm_map``, ``det_segm_map_50``, ``det_segm_map_75`` (percent) and with the
        controls the same names ending in ``_from_scratch`` / ``_from_scratch_tuned``.
    """
    return dense_transfer(DETECTION, checkpoint, seed, config, iters, warmup, cfg_options,
                          scratch, from_scratch, score_on, controls_dir, controls_only,
                          data_root, seeds)


#: Registered into :data:`cmae_mm.study.evaluations.EVALUATIONS` (and its controls' list).
DENSE_EVALUATIONS = {'segmentation': segmentation, 'detection': detection}
