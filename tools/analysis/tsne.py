"""t-SNE of last-layer patch representations labelled by segmentation classes (paper Fig. 10).

Variant (following CAE): images and label maps of a dataset in ADE20K layout
(<root>/images/<split>/*.jpg, <root>/annotations/<split>/*.png) resized to the model's input size;
each patch is labelled with the class covering more than half of its pixels (mixed patches and the
--ignore ids, ADE20K's 0 "other" and 255, are skipped); up to --per-class patches per class from
--num-images images; final-norm patch tokens of the unmasked image; scikit-learn TSNE (2-D, PCA
init, fixed --seed); coloured by class.

    python tools/analysis/tsne.py CONFIG CHECKPOINT --data-root data/ade/ADEChallengeData2016 \
        --out-dir out
"""
import argparse
import sys

from cmae_mm.analysis.common import add_output_arguments, run_tool
from cmae_mm.analysis.tsne import run_tsne


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint, or 'none' for random init")
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--split', default='validation')
    parser.add_argument('--num-images', type=int, default=500)
    parser.add_argument('--per-class', type=int, default=200)
    parser.add_argument('--ignore', type=int, nargs='*', default=[0, 255])
    parser.add_argument('--max-iter', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    return run_tool('tools/analysis/tsne.py', run_tsne,
                    args.config, args.checkpoint, args.data_root, args.out_dir, split=args.split,
                    num_images=args.num_images, per_class=args.per_class, ignore=args.ignore,
                    max_iter=args.max_iter, seed=args.seed, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
