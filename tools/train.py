"""Train a model from a config: pre-training (mmpretrain) or downstream (mmdet, mmseg).

The library is chosen by the config's ``default_scope``. On a machine without CUDA the config is
adapted for CPUs (fp32, SyncBN -> BN, gloo + CPU DDP for ``--launcher pytorch/slurm/mpi``); see
:mod:`cmae_mm.engine.cpu_compat`.

Examples::

    python tools/train.py configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --resume          # latest in work dir
    python tools/train.py CONFIG --resume work_dirs/run1/epoch_10.pth
    python tools/train.py CONFIG --compile      # torch.compile the forward, eager optimizer step
    bash tools/dist_train.sh CONFIG 8 --auto-scale-lr                         # torchrun, 8 processes
    bash tools/dist_train.sh configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 2 --keep-batch  # 2 x 512 x 4 = 4096
    python tools/train.py configs/mmdet/cmae_vit-base-p16_mask-rcnn_fpn_1x_coco.py \
        --pretrained work_dirs/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k/epoch_300.pth                   # encoder, strictly
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

from cmae_mm.engine import LAUNCHERS
from cmae_mm.engine.entrypoints import train


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmpretrain's ``tools/train.py`` interface).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Train a model with an mmengine Runner')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: the config\'s work_dir, else work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT; without a value, from the latest checkpoint '
                        'in the work dir')
    parser.add_argument('--resume-schedule', choices=('checkpoint', 'config'), default=None,
                        help='on --resume, when the config\'s lr schedule differs from the '
                        'checkpoint\'s: stop and say so (checkpoint, the default), or continue '
                        'from the saved step with the config\'s schedule (config)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision training (GPUs only; fp32 is kept on CPU)')
    parser.add_argument('--compile', action='store_true',
                        help="torch.compile the model's forward (the optimizer step stays eager); "
                        "the same as compile=dict(target='forward') in the config")
    parser.add_argument('--no-validate', action='store_true',
                        help='do not validate during training')
    parser.add_argument('--keep-batch', action='store_true',
                        help='keep the config\'s total batch (auto_scale_lr.base_batch_size) on '
                        'fewer processes by gradient accumulation: accumulation = total / '
                        '(per-GPU batch x processes); the lr, warm-up and schedule count optimizer '
                        'steps as in the recipe')
    parser.add_argument('--pretrained', metavar='CHECKPOINT',
                        help='initialise the encoder (the innermost model.backbone) from CHECKPOINT, '
                        'strictly: a pre-training checkpoint (backbone.* keys) or its backbone-only '
                        'conversion (tools/model_converters/convert_cmae.py)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the effective batch (per-GPU x '
                        'processes x accumulation) over the config\'s auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (dotted keys, e.g. '
                        'train_cfg.max_epochs=1 model.backbone.drop_path_rate=0.1)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by legacy launchers; torchrun sets LOCAL_RANK instead')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Train as the command line says (``cmae_mm.engine.entrypoints.train``)."""
    train(parse_args(argv))


if __name__ == '__main__':
    main()
