'use strict';
// (b) Untrained Keras-topology MobileNet v1 alpha 0.25, 224x224x3, 1000 classes.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const {Rng} = require('../lib/rng');
const {buildMobileNetV1} = require('../models/mobilenet_v1');
const {initWeights, centreClassifier} = require('../lib/weights_init');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {readPngRgb} = require('../lib/png');
const {writeReferences, preprocess} = require('../lib/reference');
const {entropy, compareModels} = require('../lib/checks');

const kName = 'mobilenet_v1_025';
const kImages = ['chelsea', 'coffee', 'astronaut', 'rocket'];
// Per-layer outputs only for one image, and (to keep samples/ small) only at
// the points where a converter's fused [ZeroPadding2D+]conv+BN+ReLU6 group
// ends: every ReLU and every head layer. ZeroPadding2D / Conv2D /
// DepthwiseConv2D / BatchNormalization outputs inside a group are listed in
// the case's layers_omitted.
const kLayersFor = 'chelsea';
const kFusedInner = new Set(['ZeroPadding2D', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization']);
function recordLayer(layer) {
  return layer.name === 'conv_preds' || !kFusedInner.has(layer.getClassName());
}

async function run(modelsDir, imagesDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = buildMobileNetV1({alpha: 0.25, rows: 224, classes: 1000});
  // He-normal kernels x1.3 (so some ReLU6 outputs saturate at 6).
  const rng = new Rng(1001);
  initWeights(model, rng, {defaultGain: 1.3});
  const cases = kImages.map((name) => {
    const file = path.join(imagesDir, `${name}_224.png`);
    const img = readPngRgb(file);
    if (img.width !== 224 || img.height !== 224) throw new Error(`${file} is not 224x224`);
    return {name, image: path.relative(dir, file), tensor: preprocess(img.rgb, 127.5, -1), layers: name === kLayersFor ? recordLayer : false};
  });
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 224, 224, 3]));
  // Untrained: make the classifier respond to what differs between photos.
  await centreClassifier(model, 'dropout', 'conv_preds', xs, 2.5, rng);
  await saveFloatModel(model, dir);
  const labels = [];
  for (let i = 0; i < 1000; ++i) labels.push(`class_${String(i).padStart(3, '0')}`);
  fs.writeFileSync(path.join(dir, 'labels.txt'), labels.join('\n') + '\n');

  const reloaded = await loadModel(dir);
  await compareModels(model, reloaded, xs, 0);
  tf.dispose(xs);
  const ref = await writeReferences(reloaded, dir, cases, {
    formula: 'x = pixel / 127.5 - 1',
    divisor: 127.5,
    offset: -1,
    channel_order: 'RGB',
    range: [-1, 1],
    note: 'Keras mobilenet.preprocess_input (mode "tf"); PNG is already 224x224, no resizing.',
  }, {trained: false, labels: 'labels.txt'});
  for (const c of ref.cases) {
    const h = entropy(c.output);
    c.entropy = h;
    console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)} entropy ${h.toFixed(3)} (uniform ${Math.log(1000).toFixed(3)})`);
    if (c.top5[0].value > 0.99 || h > 0.95 * Math.log(1000)) throw new Error(`${c.name}: softmax is one-hot or uniform`);
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
}

module.exports = {run};
