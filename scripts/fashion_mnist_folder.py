#!/usr/bin/python3
"""Writes a Fashion-MNIST split as an ImageFolder tree of 28x28 PGM files (plain Python).

    fashion_mnist_folder.py OUT_DIR [--split t10k|train] [--data DIR]

OUT_DIR/<class>/<split>_<index>.pgm, class folder names = the lines of
samples/models/fashion_cnn/labels.txt. DIR defaults to Debian's
/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist).
"""
import argparse
import gzip
import os
import sys

CLASSES = ['t-shirt_top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag',
           'ankle_boot']


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return dims, data[4 + 4 * ndim:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('out_dir')
    ap.add_argument('--split', default='t10k', choices=['t10k', 'train'])
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a = ap.parse_args()
    idims, images = read_idx(os.path.join(a.data, f'{a.split}-images-idx3-ubyte.gz'))
    ldims, labels = read_idx(os.path.join(a.data, f'{a.split}-labels-idx1-ubyte.gz'))
    if idims[0] != ldims[0] or idims[1:] != [28, 28]:
        sys.exit(f'unexpected idx shapes {idims} {ldims}')
    for c in CLASSES:
        os.makedirs(os.path.join(a.out_dir, c), exist_ok=True)
    for i in range(idims[0]):
        path = os.path.join(a.out_dir, CLASSES[labels[i]], f'{a.split}_{i:05d}.pgm')
        with open(path, 'wb') as f:
            f.write(b'P5\n28 28\n255\n' + images[i * 784:(i + 1) * 784])
    print(f'wrote {idims[0]} images to {a.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
