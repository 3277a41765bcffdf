'use strict';
// Writes the Keras-topology MobileNet v1 (samples/tfjs/models/mobilenet_v1.js) at a given alpha,
// 224x224x3, 1000 classes, seeded He-normal weights, as a TF.js layers model (model.json + shards)
// for the converter benchmarks. Needs `npm ci` in samples/tfjs.
//   node bench/make_mobilenet_tfjs.js ALPHA OUTDIR
const path = require('path');
const {createRequire} = require('module');
const tfjsDir = path.join(__dirname, '..', 'samples', 'tfjs');
const req = createRequire(path.join(tfjsDir, 'package.json'));
req('@tensorflow/tfjs-backend-cpu');
const {Rng} = req('./lib/rng');
const {buildMobileNetV1} = req('./models/mobilenet_v1');
const {initWeights} = req('./lib/weights_init');
const {saveFloatModel} = req('./lib/model_io');

async function main() {
  const [alphaArg, outDir] = process.argv.slice(2);
  const alpha = Number(alphaArg);
  if (!(alpha > 0) || !outDir) {
    console.error('usage: node make_mobilenet_tfjs.js ALPHA OUTDIR');
    process.exit(2);
  }
  const model = buildMobileNetV1({alpha, rows: 224, classes: 1000});
  initWeights(model, new Rng(1001), {defaultGain: 1.3});
  await saveFloatModel(model, outDir);
  console.log(`${outDir}: MobileNet v1 alpha ${alpha}, ${model.countParams()} parameters`);
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
