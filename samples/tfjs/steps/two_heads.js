'use strict';
// (j) two_heads: a model with two outputs (a multi-task / detector-style network). 32x32x3 photo
// input, a shared conv trunk, and two heads:
//   output 0 `class_probs`: GlobalAveragePooling2D -> Dense 5 softmax (a classifier);
//   output 1 `map`: MaxPooling2D 2 -> Conv2D 1x1 3 linear, an 8x8x3 map (a dense prediction
//   head, held by a kmodel as CHW planes).
// Untrained (seeded); the classifier is centred on the 6 inputs (4 photos, 2 noise images) so its
// top-1 depends on the input.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
const {Rng} = require('../lib/rng');
const {initWeights, centreClassifier} = require('../lib/weights_init');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {readPngRgb} = require('../lib/png');
const {writeReferences, preprocess} = require('../lib/reference');
const {entropy, compareModels} = require('../lib/checks');

const kName = 'two_heads';
const kImages = ['chelsea', 'coffee', 'astronaut', 'rocket'];

function build() {
  const L = tfl.layers;
  const input = tfl.input({shape: [32, 32, 3], name: 'input'});
  let t = L.conv2d({filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1'}).apply(input);
  t = L.maxPooling2d({poolSize: 2, name: 'pool1'}).apply(t);
  t = L.conv2d({filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2'}).apply(t);
  let a = L.globalAveragePooling2d({name: 'gap'}).apply(t);
  a = L.dense({units: 5, activation: 'softmax', name: 'class_probs'}).apply(a);
  let b = L.maxPooling2d({poolSize: 2, name: 'map_pool'}).apply(t);
  b = L.conv2d({filters: 3, kernelSize: 1, padding: 'valid', name: 'map'}).apply(b);
  return tfl.model({inputs: input, outputs: [a, b], name: kName});
}

async function run(modelsDir, imagesDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = build();
  const rng = new Rng(3101);
  initWeights(model, rng, {biasStd: 0.1});
  const cases = kImages.map((name) => {
    const file = path.join(imagesDir, `${name}_32.png`);
    const img = readPngRgb(file);
    if (img.width !== 32 || img.height !== 32) throw new Error(`${file} is not 32x32`);
    return {name, image: path.relative(dir, file), tensor: preprocess(img.rgb, 255, 0), layers: name === 'chelsea'};
  });
  // Two seeded noise images (pixel values, so a uint8 kmodel input holds them exactly): six
  // cases, so that they calibrate a conversion with at least one sample per class.
  const noiseRng = new Rng(3102);
  for (let i = 0; i < 2; ++i) {
    const rgb = noiseRng.fill(32 * 32 * 3, (r) => r.int(0, 255));
    cases.push({name: `noise_${i}`, image: null, tensor: preprocess(rgb, 255, 0), layers: false});
  }
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 32, 32, 3]));
  await centreClassifier(model, 'gap', 'class_probs', xs, 2.0, rng);
  await saveFloatModel(model, dir);
  const labels = [];
  for (let i = 0; i < 5; ++i) labels.push(`class_${i}`);
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
  }, {trained: false, labels: 'labels.txt (output 0, class_probs)'});
  for (const c of ref.cases) {
    c.entropy = entropy(c.output);
    const m = c.outputs[1].output;
    console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)} entropy ${c.entropy.toFixed(3)}; ` +
      `map [${Math.min(...m).toFixed(3)}, ${Math.max(...m).toFixed(3)}]`);
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
}

module.exports = {run};
