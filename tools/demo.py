"""The embedded demo: what pre-training with Conditional MAE buys, on a real benchmark, in minutes.

Runs the study configs/study/demo_fashion_mnist.yml (cmae_mm/study/demo.py) into a new folder
work_dirs/demo/<timestamp>/, never touching earlier runs:

1. Prepares Fashion-MNIST (60,000 + 10,000 real 28x28 photographs of clothing, 10 classes) in
   data/fashion_mnist from Debian's package dataset-fashion-mnist. If it cannot be prepared, says
   so in one line and runs configs/study/demo_digits.yml instead (scikit-learn's digits, linear
   probe of the pre-trained vs a random encoder).
2. Pre-trains L(0,10; 0.75,0.1) on a subset of the training images (labels unused), then
   fine-tunes the same classifier on the same 100 labelled images per class from the pre-trained
   encoder (layer decay 0.75) and from scratch with the control's own recipe (no layer decay), and
   scores both on the 10,000 test images. The demo shows the workflow in minutes; the evidence,
   with validated lengths, seeds and baselines without a network, is
   docs/evidence_fashion_mnist.md.
3. Saves a PNG grid: original / visible input after each shot / reconstruction.

The console shows one progress line per epoch and the results; every tool's full log is in the
run folder. The options below replace the study file's lengths (default: the file's).
"""
import argparse
import sys
from typing import List, Optional

DATA_CHOICES = ('auto', 'fashion_mnist', 'digits')  # cmae_mm.study.demo.DATA_CHOICES


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse and check the command line (before anything is imported or written).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-root', help='parent of the per-run folders (default: '
                        'work_dirs/demo in the repository)')
    parser.add_argument('--data', choices=DATA_CHOICES, default='auto',
                        help='auto: Fashion-MNIST, or digits when it cannot be prepared')
    parser.add_argument('--data-root', help='where Fashion-MNIST is prepared, relative to the '
                        'repository root (default: data/fashion_mnist, shared by runs)')
    parser.add_argument('--epochs', type=int,
                        help='pre-training epochs, at least 2: warm-up + cosine (default: 4)')
    parser.add_argument('--pretrain-images', type=int, help='unlabelled training images used '
                        'for pre-training (Fashion-MNIST; default: 20000)')
    parser.add_argument('--ft-epochs', type=int,
                        help='fine-tuning epochs of both arms, at least 2 (default: 30)')
    parser.add_argument('--labels-per-class', type=int, help='labelled images per class for '
                        'fine-tuning (Fashion-MNIST; default: 100)')
    args = parser.parse_args(argv)
    for name, least, why in (('epochs', 2, ' (warm-up + cosine)'),
                             ('ft_epochs', 2, ' (warm-up + cosine)'),
                             ('pretrain_images', 1, ''), ('labels_per_class', 1, '')):
        value = getattr(args, name)
        if value is not None and value < least:
            parser.error(f'--{name.replace("_", "-")}={value}: must be at least {least}{why}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo as the command line says (``cmae_mm.study.demo.run_demo``)."""
    args = parse_args(argv)
    from cmae_mm.study.demo import DemoOptions, run_demo

    return run_demo(args.data, args.work_root, DemoOptions(
        args.epochs, args.pretrain_images, args.ft_epochs, args.labels_per_class), args.data_root)


if __name__ == '__main__':
    sys.exit(main())
