'use strict';
// PNG read/write via pngjs. Images are stored at model size: no resizing here.
const fs = require('fs');
const {PNG} = require('pngjs');

// Returns {width, height, rgb: Uint8Array(width*height*3)} (alpha dropped).
function readPngRgb(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const n = png.width * png.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; ++i) {
    rgb[i * 3] = png.data[i * 4];
    rgb[i * 3 + 1] = png.data[i * 4 + 1];
    rgb[i * 3 + 2] = png.data[i * 4 + 2];
  }
  return {width: png.width, height: png.height, rgb};
}

function writePngRgb(file, width, height, rgb) {
  const png = new PNG({width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false});
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  fs.writeFileSync(file, PNG.sync.write(png, {colorType: 2, inputColorType: 2, inputHasAlpha: false}));
}

// 8-bit grayscale PNG (colour type 0) from width*height values.
function writePngGray(file, width, height, gray) {
  const png = new PNG({width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false});
  png.data = Buffer.from(gray.buffer, gray.byteOffset, gray.byteLength);
  fs.writeFileSync(file, PNG.sync.write(png, {colorType: 0, inputColorType: 0, inputHasAlpha: false}));
}

// Returns {width, height, gray: Uint8Array(width*height)} of a grayscale PNG (first channel).
function readPngGray(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const n = png.width * png.height;
  const gray = new Uint8Array(n);
  for (let i = 0; i < n; ++i) gray[i] = png.data[i * 4];
  return {width: png.width, height: png.height, gray};
}

module.exports = {readPngRgb, writePngRgb, writePngGray, readPngGray};
