'use strict';
// (c) Untrained functional model with Concatenate + residual Add, DepthwiseConv2D
// (depth_multiplier 2) and LeakyReLU, 32x32x3 input, 10 classes.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const {Rng} = require('../lib/rng');
const {buildFunctionalConcatAdd} = require('../models/functional_concat_add');
const {initWeights, centreClassifier} = require('../lib/weights_init');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {readPngRgb} = require('../lib/png');
const {writeReferences, preprocess} = require('../lib/reference');
const {entropy, compareModels} = require('../lib/checks');

const kName = 'functional_concat_add';
const kImages = ['chelsea', 'coffee', 'astronaut', 'rocket'];
const kLayersFor = new Set(['chelsea', 'astronaut']);  // per-layer outputs (size)

async function run(modelsDir, imagesDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = buildFunctionalConcatAdd();
  const rng = new Rng(3003);
  initWeights(model, rng, {biasStd: 0.1});
  const cases = kImages.map((name) => {
    const file = path.join(imagesDir, `${name}_32.png`);
    const img = readPngRgb(file);
    if (img.width !== 32 || img.height !== 32) throw new Error(`${file} is not 32x32`);
    return {name, image: path.relative(dir, file), tensor: preprocess(img.rgb, 255, 0), layers: kLayersFor.has(name)};
  });
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 32, 32, 3]));
  // Untrained: make the classifier respond to what differs between photos.
  await centreClassifier(model, 'gap', 'logits', xs, 2.0, rng);
  await saveFloatModel(model, dir);
  const labels = [];
  for (let i = 0; i < 10; ++i) labels.push(`class_${i}`);
  fs.writeFileSync(path.join(dir, 'labels.txt'), labels.join('\n') + '\n');

  const reloaded = await loadModel(dir);
  await compareModels(model, reloaded, xs, 0);
  tf.dispose(xs);
  const ref = await writeReferences(reloaded, dir, cases, {
    formula: 'x = pixel / 255',
    divisor: 255,
    offset: 0,
    channel_order: 'RGB',
    range: [0, 1],
    note: 'PNG is already 32x32, no resizing.',
  }, {trained: false, labels: 'labels.txt'});
  for (const c of ref.cases) {
    c.entropy = entropy(c.output);
    console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)} entropy ${c.entropy.toFixed(3)}`);
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
}

module.exports = {run};
