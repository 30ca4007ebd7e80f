"""The dense-transfer figure of the Fashion-MNIST scenes: per scene, the gray input, its ground
truth and each checkpoint's prediction, with the classes' legend; a JSON beside the PNG lists the
scenes, the checkpoints and what they predicted.

--task segmentation (default): UperNet checkpoints; semantic maps, and the JSON holds the pixel
accuracy / mIoU on the shown scenes. --task detection: Mask R-CNN checkpoints; the scene with
the instances' masks (semi-transparent, in the class colour), boxes and class names, the ground
truth from the split's COCO annotations, predictions with a score >= --score-thr; the JSON holds
the detections kept per checkpoint and scene.

Scenes: the first --num-scenes of the split by file name, or with --seed a seeded draw (shown in
file-name order). Checkpoints are read with weights_only and loaded strictly. A bad input
(LABEL=PATH, checkpoint, split, data root, annotation file, existing output) ends with one error
line, status 2.

    python tools/analysis/scenes_figure.py \\
        MAE=work_dirs/studies/fmnist_scenes_upernet/mae_seed0/segmentation/iter_375.pth \\
        CMAE=work_dirs/studies/fmnist_scenes_upernet/cmae_seed0/segmentation/iter_375.pth
    python tools/analysis/scenes_figure.py --task detection \\
        MAE=work_dirs/cmae_vit-tiny-p4_mask-rcnn_fpn_fashion-mnist-scenes/iter_5000.pth
"""
import argparse
import sys

from cmae_mm.analysis.common import run_tool
from cmae_mm.analysis.scenes_figure import INPUT_ERROR_STATUS, TASKS, run_scenes_figure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+', metavar='LABEL=PATH',
                        help='a trained checkpoint of --config and its column title')
    parser.add_argument('--task', default='segmentation',
                        help='segmentation (UperNet, default) or detection (Mask R-CNN)')
    parser.add_argument('--config', default=None, help='the config of the checkpoints (default: '
                        + '; '.join(f'{t}: {s.config}' for t, s in TASKS.items()) + ')')
    parser.add_argument('--data-root', help="the scene set (default: the config's, "
                        'data/fashion_mnist_scenes)')
    parser.add_argument('--split', default='test', help='test (default) or validation')
    parser.add_argument('--num-scenes', type=int, default=6, help='rows of the figure (default 6)')
    parser.add_argument('--seed', type=int, default=None, help='draw the scenes with this seed '
                        '(default: the first --num-scenes by file name)')
    parser.add_argument('--score-thr', type=float, default=0.5, help='detection: the lowest '
                        'score of a drawn prediction (default %(default)s)')
    parser.add_argument('--out', default=None, help='the PNG; the JSON is written beside it '
                        '(default: ' + '; '.join(f'{t}: {s.out}' for t, s in TASKS.items()) + ')')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = parser.parse_args(argv)
    return run_tool(
        'tools/analysis/scenes_figure.py', run_scenes_figure, error_status=INPUT_ERROR_STATUS,
        checkpoints=args.checkpoints, config=args.config, task=args.task,
        data_root=args.data_root, split=args.split, num_scenes=args.num_scenes, out=args.out,
        seed=args.seed, force=args.force, score_thr=args.score_thr)


if __name__ == '__main__':
    sys.exit(main())
