#!/usr/bin/python3
"""Makes samples/images/*.png from photos shipped by Debian's python3-skimage.

Run once (the PNGs are committed; make_samples.js never resizes):
    apt-get install python3-skimage python3-pil
    /usr/bin/python3 samples/tfjs/prepare_images.py   (Debian python, not a pyenv one)
Each photo is centre-cropped to a square, then resized with
Pillow's LANCZOS filter to 224x224 and 32x32, saved as 8-bit RGB PNG.
"""
import os
import sys

from PIL import Image

DATA_DIR = '/usr/lib/python3/dist-packages/skimage/data'
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'images')

# output name -> file in skimage/data (licences: samples/images/LICENSE.md)
PHOTOS = {
    'chelsea': 'chelsea.png',
    'coffee': 'coffee.png',
    'astronaut': 'astronaut.png',
    'rocket': 'rocket.jpg',
}


def centre_square(img):
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s)), (left, top, s)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, file in PHOTOS.items():
        img = Image.open(os.path.join(DATA_DIR, file)).convert('RGB')
        sq, box = centre_square(img)
        for size in (224, 32):
            out = os.path.join(OUT_DIR, f'{name}_{size}.png')
            sq.resize((size, size), Image.LANCZOS).save(out, optimize=False)
            print(f'{out}: from {file} {img.size}, crop (left, top, side)={box}, LANCZOS {size}x{size}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
