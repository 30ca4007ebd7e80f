"""The dense-transfer figure of the Fashion-MNIST scenes: inputs, ground truth and predictions.

One row per scene: the gray input, its ground truth, then what each trained checkpoint predicts,
with one legend of the classes; a JSON file beside the PNG records the scenes, the checkpoints
and what they predicted. Two tasks (``task``), one layout:

* ``'segmentation'`` (UperNet, mmseg): the ground-truth semantic map and each checkpoint's
  predicted map; the columns of the models are titled with their label and their mIoU / pixel
  accuracy over the shown scenes, the legend shows the 11 classes (background + the 10
  garments) in the palette of
  :class:`~cmae_mm.datasets.fashion_mnist_scenes.FashionMNISTScenesSegDataset`. The metrics are
  mmseg's ``IoUMetric`` formulas (per-class areas summed over the shown scenes, mIoU the mean
  over the classes with a non-empty union).
* ``'detection'`` (Mask R-CNN, mmdet): the gray scene with every instance's mask filled in its
  class colour (semi-transparent), its box outlined and its class named; the ground truth is
  the split's COCO annotations (``annotations/instances_<split>.json``), the predictions those
  with a score >= ``score_thr`` (also named with their score). The columns of the models are
  titled with the number of detections kept; the JSON lists them per checkpoint and scene.

The models are built as ``tools/test.py`` builds them (:func:`~cmae_mm.engine.runner.load_config`,
:func:`~cmae_mm.engine.runner.register_scope`, the CPU shims of
:func:`~cmae_mm.engine.cpu_compat.apply_cpu_compat`, e.g. SyncBN -> BN), the scenes go through
the config's own test dataset and pipeline, and the predictions come from the model's
``test_step``. Checkpoints are untrusted: they are read with ``weights_only``
(:func:`~cmae_mm.engine.checkpoint.read_state_dict`) and loaded strictly
(:func:`~cmae_mm.engine.checkpoint.load_encoder_state` without allowed differences: any missing
or unexpected key is an error naming them; a checkpoint of the other task is named as such).

Splits: ``--split`` names the ADE20K-style folders (``test``, ``validation``); the COCO file of
a folder is the generator's (:data:`cmae_mm.datasets.fashion_mnist_scenes.SPLITS`:
``validation`` -> ``instances_val.json``).

Scene choice: without a seed, the first ``num_scenes`` scenes of the split in file-name order
(the dataset's order); with a seed, ``num_scenes`` scenes drawn without replacement by
``numpy.random.default_rng(seed)``, shown in file-name order.

Every user error (a malformed ``LABEL=PATH``, a missing checkpoint, an unknown task or split, a
data root without the split's scenes or annotation file, an existing output without
``--force``, a checkpoint that does not fit) is reported before anything is written, as one
``<tool>: error: ...`` line with exit status 2 (:func:`~cmae_mm.analysis.common.run_tool` with
``error_status`` :data:`INPUT_ERROR_STATUS`).
"""
import io
import json
import math
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .common import ToolInputError, check_outputs

__all__ = ['DEFAULT_CONFIG', 'DEFAULT_OUT', 'DETECTION_CONFIG', 'DETECTION_OUT', 'DPI',
           'INPUT_ERROR_STATUS', 'SPLIT_FOLDERS', 'TASKS', 'Task', 'coco_split',
           'figure_inches', 'parse_checkpoints', 'run_scenes_figure', 'select_scenes']

PathLike = Union[str, Path]
#: Draws one cell into its (matplotlib) axes.
Painter = Callable[..., None]

DEFAULT_CONFIG = ('configs/mmseg/fashion_mnist_scenes/'
                  'cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64.py')
DEFAULT_OUT = 'docs/results/fmnist_scenes_upernet/predictions.png'
DETECTION_CONFIG = ('configs/mmdet/fashion_mnist_scenes/'
                    'cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes.py')
DETECTION_OUT = 'docs/results/fmnist_scenes_maskrcnn/predictions.png'
#: ``--split`` -> the scene set's folder under ``images/`` and ``annotations/``.
SPLIT_FOLDERS: Dict[str, str] = {'test': 'test', 'validation': 'validation'}
#: Exit status of a refused command (argparse's status for a usage error).
INPUT_ERROR_STATUS = 2
#: Opacity of the instance masks drawn over a scene.
MASK_ALPHA = 0.45


class Task(NamedTuple):
    """What differs between the figure's tasks (the layout is shared).

    Attributes:
        scope: ``default_scope`` of the task's configs (``'mmseg'``, ``'mmdet'``).
        config: The default config.
        out: The default PNG.
        checkpoint: What a checkpoint of the task is (for messages).
        head: The state-dict key group that only the task's models have.
    """
    scope: str
    config: str
    out: str
    checkpoint: str
    head: str


#: ``--task`` -> its scope, defaults and checkpoint kind.
TASKS: Dict[str, Task] = {
    'segmentation': Task('mmseg', DEFAULT_CONFIG, DEFAULT_OUT,
                         'segmentation checkpoint (UperNet)', 'decode_head'),
    'detection': Task('mmdet', DETECTION_CONFIG, DETECTION_OUT,
                      'detection checkpoint (Mask R-CNN)', 'roi_head'),
}

# Layout, in inches (at DPI 100 every size below is a whole number of pixels).
DPI = 100
CELL = 1.5           # side of one map
LEFT = 0.4           # the scene names, vertical, left of the first column
TOP = 0.5            # the column titles (two lines)
LEGEND_ENTRY = 1.5   # width of one legend entry
LEGEND_ROW = 0.18    # height of one legend row
LEGEND_PAD = 0.15    # space around the legend


class Instances(NamedTuple):
    """The instances of one scene, as numpy arrays (``N`` instances of an (H, W) scene).

    Attributes:
        boxes: (N, 4) float boxes ``x1, y1, x2, y2`` in pixels.
        labels: (N,) int class indices into the dataset's classes.
        masks: (N, H, W) bool masks.
        scores: (N,) float scores of predictions; None for the ground truth.
    """
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    scores: Optional[np.ndarray] = None


def _legend_columns(columns: int, num_classes: int) -> int:
    """Legend entries per row: as many as fit the figure's width."""
    return max(1, min(num_classes, int((LEFT + columns * CELL) // LEGEND_ENTRY)))


def figure_inches(rows: int, columns: int, num_classes: int = 11) -> Tuple[float, float]:
    """Size of the figure of ``rows`` scenes and ``columns`` maps per scene.

    Args:
        rows: Scenes shown.
        columns: Maps per row: input, ground truth and one per model.
        num_classes: Entries of the legend (11 for segmentation, 10 for detection).

    Returns:
        (width, height) in inches; times :data:`DPI`, rounded, the PNG's size in pixels. Each is
        a whole number of pixels plus a quarter: matplotlib truncates inches x DPI to pixels,
        and e.g. 4.52 x 100 is 451.99999999999994 in floating point.
    """
    legend_rows = math.ceil(num_classes / _legend_columns(columns, num_classes))
    inches = (LEFT + columns * CELL, TOP + rows * CELL + legend_rows * LEGEND_ROW + 2 * LEGEND_PAD)
    return tuple((round(size * DPI) + 0.25) / DPI for size in inches)


def parse_checkpoints(items: Sequence[str], task: str = 'segmentation') -> List[Tuple[str, str]]:
    """Split the ``LABEL=PATH`` arguments (at the first ``=``) and check the files exist.

    Args:
        items: The ``LABEL=PATH`` strings of the command line.
        task: A key of :data:`TASKS` (for the messages).

    Returns:
        ``(label, path)`` pairs in the given order.

    Raises:
        ToolInputError: Naming the first malformed item (no ``=``, an empty label or path, a
            label given twice) and what is allowed.
        FileNotFoundError: Naming the first local checkpoint that is not a file.
    """
    kind = TASKS[task].checkpoint
    if not items:
        raise ToolInputError(f'no checkpoint given; allowed: one or more LABEL=PATH of a {kind} '
                             '(e.g. MAE=work_dirs/.../iter_375.pth)')
    pairs: List[Tuple[str, str]] = []
    for item in items:
        label, sep, path = item.partition('=')
        label, path = label.strip(), path.strip()
        if not sep or not label or not path:
            raise ToolInputError(f'checkpoint {item!r}: allowed: LABEL=PATH with a non-empty '
                                 'label and path (e.g. MAE=work_dirs/.../iter_375.pth)')
        if label in (known for known, _ in pairs):
            raise ToolInputError(f'checkpoint {item!r}: the label {label!r} is given twice; '
                                 'allowed: one checkpoint per label')
        if '://' not in path and not Path(path).is_file():
            raise FileNotFoundError(f'checkpoint {item!r}: {path} is not a file; allowed: a '
                                    f'trained {kind} of --config')
        pairs.append((label, path))
    return pairs


def select_scenes(count: int, num_scenes: int, seed: Optional[int]) -> List[int]:
    """Indices of the scenes to show, in file-name order (the dataset's order).

    Args:
        count: Scenes in the split.
        num_scenes: Scenes to show (1..count).
        seed: None for the first ``num_scenes``; else the seed of a draw without replacement.

    Returns:
        ``num_scenes`` sorted indices into the split.

    Raises:
        ToolInputError: ``num_scenes`` outside 1..count.
    """
    if not 1 <= num_scenes <= count:
        raise ToolInputError(f'--num-scenes {num_scenes}: allowed: 1..{count} (the scenes of '
                             'the split)')
    if seed is None:
        return list(range(num_scenes))
    chosen = np.random.default_rng(seed).choice(count, num_scenes, replace=False)
    return sorted(int(i) for i in chosen)


def coco_split(split: str) -> str:
    """The COCO name of a ``--split`` (``'validation'`` -> ``'val'``), as the generator names it.

    Args:
        split: A key of :data:`SPLIT_FOLDERS`.

    Returns:
        The ``<name>`` of ``annotations/instances_<name>.json``.
    """
    from cmae_mm.datasets.fashion_mnist_scenes import SPLITS

    (name, ) = [coco for coco, (folder, _, _) in SPLITS.items() if folder == SPLIT_FOLDERS[split]]
    return name


def _split_paths(split: str, task: str) -> Dict[str, str]:
    """The images folder and the annotations (folder or COCO file) of a split, under the root."""
    folder = SPLIT_FOLDERS[split]
    annotations = (f'annotations/{folder}' if task == 'segmentation' else
                   f'annotations/instances_{coco_split(split)}.json')
    return dict(images=f'images/{folder}', annotations=annotations)


def _check_data(data_root: PathLike, split: str, task: str) -> None:
    """Fail unless ``data_root`` holds the split's images (PNGs) and its task's annotations."""
    paths = _split_paths(split, task)
    images = Path(data_root) / paths['images']
    annotations = Path(data_root) / paths['annotations']
    found = annotations.is_dir() if task == 'segmentation' else annotations.is_file()
    if not found or not images.is_dir() or next(images.glob('*.png'), None) is None:
        raise ToolInputError(
            f'--data-root {data_root}: no {split} scenes (expected {paths["images"]}/*.png and '
            f'{paths["annotations"]}{"/" if task == "segmentation" else ""}); allowed: a scene '
            'set of tools/dataset_converters/make_fashion_mnist_scenes.py')


def _load_config(config: str, data_root: Optional[str], split: str, task: str):
    """The config with its test dataset pointed at ``data_root`` / ``split``, adapted to the CPU.

    Returns:
        Tuple[mmengine.config.Config, str]: The config and the data root used.
    """
    from cmae_mm.engine.cpu_compat import apply_cpu_compat
    from cmae_mm.engine.runner import load_config

    scope = TASKS[task].scope
    cfg = load_config(config)  # FileNotFoundError naming a missing config
    if cfg.get('default_scope') != scope or not isinstance(
            (cfg.get('test_dataloader') or {}).get('dataset'), dict):
        raise ToolInputError(f'--config {config}: default_scope {cfg.get("default_scope")!r}; '
                             f'allowed with --task {task}: an {scope} config with a '
                             f'test_dataloader (e.g. {TASKS[task].config})')
    dataset = cfg.test_dataloader.dataset
    root = str(data_root if data_root is not None else dataset.get('data_root', ''))
    paths = _split_paths(split, task)
    dataset.data_root = root
    if task == 'segmentation':
        dataset.data_prefix = dict(img_path=paths['images'], seg_map_path=paths['annotations'])
        cfg.model.pretrained = None
    else:
        dataset.data_prefix = dict(img=paths['images'] + '/')
        dataset.ann_file = paths['annotations']
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    cfg.launcher = 'none'
    apply_cpu_compat(cfg)  # SyncBN -> BN without CUDA
    return cfg, root


def _build_model(cfg, task: str, label: str, checkpoint: str):
    """The config's model with the checkpoint's weights, strictly, in eval mode on the CPU.

    Raises:
        UnsafeCheckpointError: The checkpoint holds objects outside the ``weights_only``
            allowlist.
        ToolInputError: It is a checkpoint of the other task.
        CheckpointMismatchError: Its keys do not fit the model (naming missing and unexpected).
    """
    import importlib

    from cmae_mm.engine.checkpoint import load_encoder_state, read_state_dict

    state = read_state_dict(checkpoint)  # weights_only; read before the model is built
    groups = sorted({key.split('.')[0] for key in state})
    if TASKS[task].head not in groups:
        for other, spec in TASKS.items():
            if spec.head in groups:
                raise ToolInputError(
                    f'checkpoint {label}={checkpoint}: a {spec.checkpoint} (its keys start with '
                    f'{groups}); allowed with --task {task}: a trained {TASKS[task].checkpoint} '
                    f'of --config (or --task {other})')
    model = importlib.import_module(f'{TASKS[task].scope}.registry').MODELS.build(cfg.model)
    load_encoder_state(model, state, source=f'{label}={checkpoint}')  # strict: nothing allowed
    return model.eval()


def _areas(pred, gt, num_classes: int, ignore_index: int):
    """mmseg's per-class (intersection, union, prediction, label) areas of one (H, W) map pair."""
    from mmseg.evaluation.metrics import IoUMetric

    return IoUMetric.intersect_and_union(pred, gt, num_classes, ignore_index)


def _metrics(areas: Sequence, classes: Sequence[str]) -> dict:
    """Pixel accuracy, mIoU and per-class IoU (percent) of summed areas (mmseg's formulas)."""
    import torch
    from mmseg.evaluation.metrics import IoUMetric

    total = [torch.stack([a[k] for a in areas]).sum(0) for k in range(4)]  # (num_classes,)
    result = IoUMetric.total_area_to_metrics(*total, metrics=['mIoU'])
    iou = np.asarray(result['IoU'], dtype=np.float64) * 100
    return dict(pixel_accuracy=round(float(result['aAcc']) * 100, 2),
                mIoU=round(float(np.nanmean(iou)), 2),
                iou_per_class={c: (None if math.isnan(v) else round(float(v), 2))
                               for c, v in zip(classes, iou)})


def _colour(label_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours; indices outside the palette are white."""
    lut = np.full((256, 3), 255, np.uint8)
    lut[:len(palette)] = palette
    return lut[np.clip(label_map, 0, 255).astype(np.uint8)]


def _picture(picture: np.ndarray) -> Painter:
    """A cell showing an (H, W) uint8 gray image or an (H, W, 3) uint8 colour image."""
    def paint(ax) -> None:
        if picture.ndim == 2:
            ax.imshow(picture, cmap='gray', vmin=0, vmax=255, interpolation='nearest')
        else:
            ax.imshow(picture, interpolation='nearest')
    return paint


def _instances(image: np.ndarray, instances: Instances, classes: Sequence[str],
               palette: np.ndarray) -> Painter:
    """A cell showing the (H, W) gray ``image`` with the instances drawn over it.

    Each mask is filled in its class colour at :data:`MASK_ALPHA`, each box outlined in it and
    labelled with the class name (and the score of a prediction) at its top left corner.
    """
    def paint(ax) -> None:
        from matplotlib.patches import Rectangle

        height, width = image.shape
        ax.imshow(image, cmap='gray', vmin=0, vmax=255, interpolation='nearest')
        overlay = np.zeros((height, width, 4), np.float32)  # RGBA, transparent
        for mask, label in zip(instances.masks, instances.labels):  # later ones on top
            overlay[mask.astype(bool)] = (*(palette[label] / 255.0), MASK_ALPHA)
        ax.imshow(overlay, interpolation='nearest')
        for i, ((x1, y1, x2, y2), label) in enumerate(zip(instances.boxes, instances.labels)):
            colour = palette[label] / 255.0
            # pixel i covers [i - 0.5, i + 0.5] on matplotlib's image axes
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                   edgecolor=colour, linewidth=1))
            text = classes[label] if instances.scores is None else \
                f'{classes[label]} {instances.scores[i]:.2f}'
            ax.text(x1 - 0.5, y1 - 0.5, text, fontsize=5, va='bottom', ha='left',
                    color='black', clip_on=True,
                    bbox=dict(facecolor=colour, edgecolor='none', pad=0.5, alpha=0.8))
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
    return paint


def _draw(columns: Sequence[Tuple[str, Sequence[Painter]]], names: List[str],
          classes: Sequence[str], palette: np.ndarray) -> bytes:
    """Render the grid as PNG bytes.

    Args:
        columns: (title, per scene its cell's painter) of each column, left to right.
        names: Per scene, its file name (row label).
        classes: The class names (legend).
        palette: (num_classes, 3) uint8 colours.

    Returns:
        The PNG file's bytes; its size is :func:`figure_inches` times :data:`DPI`.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = len(names)
    width, height = figure_inches(rows, len(columns), len(classes))
    fig = plt.figure(figsize=(width, height), dpi=DPI)
    pad = 0.04  # inches between maps
    for c, (title, painters) in enumerate(columns):
        for r in range(rows):
            x0 = LEFT + c * CELL + pad
            y0 = height - TOP - (r + 1) * CELL + pad
            ax = fig.add_axes((x0 / width, y0 / height, (CELL - 2 * pad) / width,
                               (CELL - 2 * pad) / height))
            painters[r](ax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(names[r], fontsize=7)
    handles = [Patch(facecolor=np.asarray(colour) / 255, edgecolor='0.5', label=name)
               for name, colour in zip(classes, palette)]
    legend_top = height - TOP - rows * CELL - LEGEND_PAD / 2  # inches from the bottom
    fig.legend(handles=handles, loc='upper center',
               ncol=_legend_columns(len(columns), len(classes)),
               fontsize=7, frameon=False, bbox_to_anchor=(0.5, legend_top / height))
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


class _Columns(NamedTuple):
    """A task's cells right of the input and its own fields of the JSON record.

    Attributes:
        ground_truth: Per scene, the painter of its ground-truth cell.
        models: Per checkpoint, (column title, per scene the painter of its cell).
        record: The task's fields of the JSON (what each checkpoint predicted).
    """
    ground_truth: List[Painter]
    models: List[Tuple[str, List[Painter]]]
    record: dict


def _predict(cfg, task: str, models: Sequence[Tuple[str, str]], samples: List[dict]):
    """Yield ``(label, checkpoint, outputs)``: each model's ``test_step`` on the samples.

    Args:
        cfg: The adapted config (:func:`_load_config`).
        task: A key of :data:`TASKS`.
        models: ``(label, path)`` pairs (:func:`parse_checkpoints`).
        samples: The scenes through the config's test pipeline.

    Yields:
        Tuple[str, str, list]: The label, the checkpoint and one data sample per scene; one
        model is in memory at a time.
    """
    import torch
    from mmengine.dataset import pseudo_collate

    for label, checkpoint in models:
        model = _build_model(cfg, task, label, checkpoint)
        with torch.no_grad():
            outputs = model.test_step(pseudo_collate(samples))
        del model
        yield label, checkpoint, outputs


def _segmentation_columns(dataset, samples: List[dict], predictions, names: List[str],
                          classes: List[str], palette: np.ndarray) -> _Columns:
    """The ground-truth maps, each model's predicted maps and their mIoU / pixel accuracy.

    Args:
        dataset: The mmseg test dataset (its ``ignore_index``).
        samples: The shown scenes through the test pipeline (their ``gt_sem_seg``, (1, H, W)).
        predictions: :func:`_predict`'s ``(label, checkpoint, outputs)``.
        names: The scenes' file names.
        classes: The 11 class names.
        palette: (11, 3) uint8 colours.
    """
    ignore_index = int(dataset.ignore_index)
    gts = [s['data_samples'].gt_sem_seg.data[0] for s in samples]  # (H, W) each
    results: List[dict] = []
    models: List[Tuple[str, List[Painter]]] = []
    for label, checkpoint, outputs in predictions:
        maps = [o.pred_sem_seg.data[0].cpu() for o in outputs]  # (H, W) each
        areas = [_areas(p, g, len(classes), ignore_index) for p, g in zip(maps, gts)]
        metrics = _metrics(areas, classes)
        per_scene = [dict(scene=n, **{k: v for k, v in _metrics([a], classes).items()
                                      if k != 'iou_per_class'}) for n, a in zip(names, areas)]
        results.append(dict(label=label, checkpoint=checkpoint, **metrics, scenes=per_scene))
        models.append((f'{label}\nmIoU {metrics["mIoU"]:.1f}  acc '
                       f'{metrics["pixel_accuracy"]:.1f}',
                       [_picture(_colour(m.numpy(), palette)) for m in maps]))
    return _Columns([_picture(_colour(g.numpy(), palette)) for g in gts], models,
                    dict(metrics_over='the shown scenes (mmseg IoUMetric formulas; percent)',
                         models=results))


def _numpy(values) -> np.ndarray:
    """A tensor, an mmdet box list (``.tensor``) or an array as a numpy array."""
    values = getattr(values, 'tensor', values)
    return values.detach().cpu().numpy() if hasattr(values, 'detach') else np.asarray(values)


def _detection_columns(dataset, chosen: List[int], images: List[np.ndarray], predictions,
                       names: List[str], classes: List[str], palette: np.ndarray,
                       score_thr: float) -> _Columns:
    """The COCO annotations and each model's detections with a score >= ``score_thr``.

    Args:
        dataset: The mmdet ``CocoDataset`` of the split (its raw instances).
        chosen: The shown scenes' indices into it.
        images: Their (H, W) uint8 gray scenes.
        predictions: :func:`_predict`'s ``(label, checkpoint, outputs)``; each output's
            ``pred_instances`` are in the scene's pixels (``bboxes`` (N, 4), ``labels`` (N,),
            ``scores`` (N,), ``masks`` (N, H, W)).
        names: The scenes' file names.
        classes: The 10 class names.
        palette: (10, 3) uint8 colours.
        score_thr: The lowest score kept.
    """
    from mmdet.registry import TRANSFORMS

    # mmdet's own decoding of the COCO annotations (RLE / polygons -> (N, H, W) masks)
    load = TRANSFORMS.build(dict(type='LoadAnnotations', with_bbox=True, with_mask=True))
    truths: List[Instances] = []
    for index, image in zip(chosen, images):
        loaded = load(dict(dataset.get_data_info(index), ori_shape=image.shape[:2]))
        truths.append(Instances(_numpy(loaded['gt_bboxes']).reshape(-1, 4),
                                _numpy(loaded['gt_bboxes_labels']).astype(int),
                                loaded['gt_masks'].to_ndarray().astype(bool)))

    def described(instances: Instances) -> dict:
        found = dict(detections=len(instances.labels),
                     classes=[classes[k] for k in instances.labels])
        if instances.scores is not None:
            found['scores'] = [round(float(s), 4) for s in instances.scores]
        return found

    results: List[dict] = []
    models: List[Tuple[str, List[Painter]]] = []
    for label, checkpoint, outputs in predictions:
        kept: List[Instances] = []
        for output in outputs:
            pred = output.pred_instances
            keep = _numpy(pred.scores) >= score_thr
            kept.append(Instances(_numpy(pred.bboxes).reshape(-1, 4)[keep],
                                  _numpy(pred.labels).astype(int)[keep],
                                  _numpy(pred.masks).astype(bool)[keep],
                                  _numpy(pred.scores)[keep]))
        total = sum(len(k.labels) for k in kept)
        results.append(dict(label=label, checkpoint=checkpoint, detections=total,
                            scenes=[dict(scene=n, **described(k)) for n, k in zip(names, kept)]))
        models.append((f'{label}\n{total} detections, score >= {score_thr:g}',
                       [_instances(i, k, classes, palette) for i, k in zip(images, kept)]))
    ground_truth = [dict(scene=n, **{('instances' if k == 'detections' else k): v
                                     for k, v in described(t).items()})
                    for n, t in zip(names, truths)]
    return _Columns([_instances(i, t, classes, palette) for i, t in zip(images, truths)], models,
                    dict(score_thr=score_thr, ground_truth=ground_truth, models=results))


def run_scenes_figure(checkpoints: Sequence[str], config: Optional[str] = None,
                      data_root: Optional[str] = None, split: str = 'test', num_scenes: int = 6,
                      out: Optional[PathLike] = None, seed: Optional[int] = None,
                      force: bool = False, task: str = 'segmentation',
                      score_thr: float = 0.5) -> List[Path]:
    """Draw the scenes figure and write its JSON (see the module docstring).

    Args:
        checkpoints: ``LABEL=PATH`` strings, one column each, in this order.
        config: The config the checkpoints were trained with; None: the task's default
            (:data:`DEFAULT_CONFIG`, :data:`DETECTION_CONFIG`).
        data_root: The scene set; None: the config's test ``data_root``.
        split: ``'test'`` or ``'validation'``.
        num_scenes: Rows of the figure.
        out: The PNG; the JSON is written beside it (same name, ``.json``); None: the task's
            default (:data:`DEFAULT_OUT`, :data:`DETECTION_OUT`).
        seed: None: the first ``num_scenes`` scenes by file name; else the seed of their draw.
        force: Overwrite existing outputs.
        task: ``'segmentation'`` (UperNet maps) or ``'detection'`` (Mask R-CNN instances).
        score_thr: Detection only: the lowest score of a drawn prediction (0..1).

    Returns:
        The PNG and JSON paths.

    Raises:
        ToolInputError: An unknown task, a malformed ``LABEL=PATH``, an unknown split, a data
            root without the split's scenes or annotation file, a bad ``--num-scenes`` or
            ``--score-thr``, ``--out`` not a ``.png``, a config of another scope, a checkpoint
            of the other task.
        FileNotFoundError: A missing config or checkpoint.
        FileExistsError: An existing output without ``force``.
        UnsafeCheckpointError, CheckpointMismatchError: A checkpoint refused or not fitting.
    """
    if task not in TASKS:
        raise ToolInputError(f'--task {task!r}: allowed: {", ".join(TASKS)}')
    spec = TASKS[task]
    config = spec.config if config is None else config
    out = Path(spec.out if out is None else out)
    if out.suffix.lower() != '.png':
        raise ToolInputError(f'--out {out}: allowed: a .png file name')
    png, sidecar = check_outputs([out, out.with_suffix('.json')], force)
    if split not in SPLIT_FOLDERS:
        raise ToolInputError(f'--split {split!r}: allowed: {", ".join(SPLIT_FOLDERS)}')
    models = parse_checkpoints(checkpoints, task)
    if not Path(config).is_file():
        raise FileNotFoundError(f'--config {config}: not a file; allowed: an {spec.scope} '
                                f'config, e.g. {spec.config}')
    if seed is not None and seed < 0:
        raise ToolInputError(f'--seed {seed}: allowed: a non-negative integer')
    if not 0 <= score_thr <= 1:
        raise ToolInputError(f'--score-thr {score_thr}: allowed: a score in 0..1')

    cfg, root = _load_config(config, data_root, split, task)
    _check_data(root, split, task)
    if task == 'detection':  # the model's own cut must not hide what --score-thr keeps
        rcnn = cfg.model.test_cfg.rcnn
        rcnn.score_thr = min(float(rcnn.get('score_thr', score_thr)), score_thr)

    import importlib

    from mmengine.registry import init_default_scope
    from PIL import Image

    from cmae_mm.engine.runner import register_scope

    register_scope(cfg)
    init_default_scope(spec.scope)
    registry = importlib.import_module(f'{spec.scope}.registry')
    dataset = registry.DATASETS.build(cfg.test_dataloader.dataset)
    chosen = select_scenes(len(dataset), num_scenes, seed)
    classes = list(dataset.metainfo['classes'])
    palette = np.asarray(dataset.metainfo['palette'], np.uint8).reshape(-1, 3)
    samples = [dataset[i] for i in chosen]  # the config's test pipeline (with the annotations)
    infos = [dataset.get_data_info(i) for i in chosen]
    names = [Path(info['img_path']).name for info in infos]
    images = [np.asarray(Image.open(info['img_path']).convert('L')) for info in infos]

    predictions = _predict(cfg, task, models, samples)
    if task == 'segmentation':
        columns = _segmentation_columns(dataset, samples, predictions, names, classes, palette)
    else:
        columns = _detection_columns(dataset, chosen, images, predictions, names, classes,
                                     palette, score_thr)
    picture = _draw([('input', [_picture(image) for image in images]),
                     ('ground truth', columns.ground_truth), *columns.models],
                    names, classes, palette)
    record = dict(
        task=task, config=config, data_root=root, split=split,
        selection=('first by file name' if seed is None else
                   f'numpy default_rng({seed}) draw without replacement, file-name order'),
        seed=seed, scenes=names, scene_indices=chosen, columns=['input', 'ground truth'] +
        [label for label, _ in models], classes=classes, palette=palette.tolist(),
        **columns.record)

    from cmae_mm.engine.atomic_io import atomic_write_bytes

    png.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(picture, png)
    atomic_write_bytes((json.dumps(record, indent=2) + '\n').encode(), sidecar)
    return [png, sidecar]
