'use strict';
// Writes N 224x224 calibration PNGs for the converter benchmarks: the four sample photos
// (samples/images/*_224.png) under seeded flips, cyclic shifts and brightness/contrast changes.
//   node bench/make_calib_images.js N OUTDIR
const fs = require('fs');
const path = require('path');
const {createRequire} = require('module');
const tfjsDir = path.join(__dirname, '..', 'samples', 'tfjs');
const req = createRequire(path.join(tfjsDir, 'package.json'));
const {PNG} = req('pngjs');
const {Rng} = req('./lib/rng');

const n = Number(process.argv[2]);
const outDir = process.argv[3];
if (!(n > 0) || !outDir) {
  console.error('usage: node make_calib_images.js N OUTDIR');
  process.exit(2);
}
const imagesDir = path.join(__dirname, '..', 'samples', 'images');
const photos = ['astronaut', 'chelsea', 'coffee', 'rocket'].map(
    (name) => PNG.sync.read(fs.readFileSync(path.join(imagesDir, `${name}_224.png`))));
fs.mkdirSync(outDir, {recursive: true});
const rng = new Rng(4242);
for (let i = 0; i < n; ++i) {
  const src = photos[i % photos.length];
  const w = src.width, h = src.height;
  const flip = i >= photos.length && rng.uniform(0, 1) < 0.5;
  const dx = i < photos.length ? 0 : Math.floor(rng.uniform(0, w));
  const dy = i < photos.length ? 0 : Math.floor(rng.uniform(0, h));
  const gain = i < photos.length ? 1 : rng.uniform(0.6, 1.4);
  const off = i < photos.length ? 0 : rng.uniform(-40, 40);
  const dst = new PNG({width: w, height: h});
  for (let y = 0; y < h; ++y) {
    for (let x = 0; x < w; ++x) {
      const sx = ((flip ? w - 1 - x : x) + dx) % w, sy = (y + dy) % h;
      const s = (sy * w + sx) * 4, d = (y * w + x) * 4;
      for (let c = 0; c < 3; ++c)
        dst.data[d + c] = Math.max(0, Math.min(255, Math.round(src.data[s + c] * gain + off)));
      dst.data[d + 3] = 255;
    }
  }
  fs.writeFileSync(
      path.join(outDir, `calib_${String(i).padStart(3, '0')}.png`), PNG.sync.write(dst));
}
console.log(`${outDir}: ${n} images`);
