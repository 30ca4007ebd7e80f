"""Write Fashion-MNIST's four extracted idx files for mmpretrain's ``FashionMNIST`` (checked, atomic).

Sources: a folder with the four official ``*-idx*-ubyte.gz`` files (``--source``), or by default
Debian's package ``dataset-fashion-mnist`` (installed, or fetched with ``apt-get download`` and
unpacked with ``dpkg-deb -x``: nothing is installed). Every file is checked (counts 60,000 /
10,000, 6,000 / 1,000 per class, 28x28, MD5 of the decompressed bytes) and renamed into place only
when complete; re-running with good files in place does nothing.

Usage:
    python tools/dataset_converters/prepare_fashion_mnist.py                     # Debian's package
    python tools/dataset_converters/prepare_fashion_mnist.py --source ~/Downloads/fashion-mnist
    python tools/dataset_converters/prepare_fashion_mnist.py --out data/fashion_mnist
"""
import argparse
import sys

from cmae_mm.datasets.fashion_mnist import FashionMNISTSourceError, prepare_fashion_mnist


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--source', default=None,
                        help='folder with the four official .gz files (default: Debian package)')
    parser.add_argument('--out', default='data/fashion_mnist',
                        help='output folder, the FashionMNIST data_root (default: %(default)s)')
    parser.add_argument('--no-checksum', action='store_true',
                        help='check only the idx structure, not the official counts and MD5s '
                        '(for small files of your own, e.g. in tests)')
    args = parser.parse_args()
    try:
        print(prepare_fashion_mnist(args.out, args.source, verify_md5=not args.no_checksum))
    except (FashionMNISTSourceError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
