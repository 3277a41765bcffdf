'use strict';
// (i) prelu_small: Keras PReLU in both forms a converter meets. 12x12x3 input (0..255, a
// Rescaling to 0..1), Conv2D 3x3 'same' -> PReLU with one slope per channel (shared over H, W;
// some slopes negative or above 1) -> Conv2D 3x3 stride 2 -> PReLU with one slope for the whole
// tensor (shared over H, W, C: a leaky ReLU) -> GlobalAveragePooling2D -> Dense softmax.
// -p cpu runs the first as EMC_PRELU_INT8; -p k210 runs it on the CPU (EMC_PRELU_INT8 between
// byte tables) and the second in the KPU conv's activation table.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
const {Rng} = require('../lib/rng');
const {setAllWeights} = require('../lib/leaf_weights');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {writeReferences} = require('../lib/reference');
const {compareModels} = require('../lib/checks');

const kName = 'prelu_small';

function build() {
  const inp = tfl.input({shape: [12, 12, 3], name: 'input'});
  let x = tfl.layers.rescaling({scale: 1 / 255, name: 'rescale'}).apply(inp);
  x = tfl.layers.conv2d({filters: 6, kernelSize: 3, padding: 'same', name: 'conv1'}).apply(x);
  x = tfl.layers.prelu({sharedAxes: [1, 2], name: 'prelu_channel'}).apply(x);
  x = tfl.layers.conv2d({filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'conv2'}).apply(x);
  x = tfl.layers.prelu({sharedAxes: [1, 2, 3], name: 'prelu_shared'}).apply(x);
  x = tfl.layers.globalAveragePooling2d({name: 'gap'}).apply(x);
  const out = tfl.layers.dense({units: 4, activation: 'softmax', name: 'logits'}).apply(x);
  return tfl.model({inputs: inp, outputs: out, name: kName});
}

async function run(modelsDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = build();
  setAllWeights(model, new Rng(1301));
  // Slopes a trained PReLU can have besides the initializer's: negative, zero, above 1.
  const pc = model.getLayer('prelu_channel').getWeights()[0];
  const alpha = Array.from(pc.dataSync());
  alpha[1] = -0.3;
  alpha[3] = 0;
  alpha[4] = 1.6;
  model.getLayer('prelu_channel').setWeights([tf.tensor(alpha, pc.shape)]);
  await saveFloatModel(model, dir);
  const inRng = new Rng(1302);
  const cases = [0, 1, 2].map((i) => ({
    name: `random_${i}`, image: null, tensor: inRng.fill(12 * 12 * 3, (r) => Math.floor(r.uniform(0, 256))), layers: i === 0,
  }));
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 12, 12, 3]));
  const reloaded = await loadModel(dir);
  await compareModels(model, reloaded, xs, 0);
  tf.dispose(xs);
  const ref = await writeReferences(reloaded, dir, cases, {
    formula: 'none: the input tensor is inputs/<case>.f32 (seeded integer pixel values 0..255)',
  }, {trained: false});
  for (const c of ref.cases) console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)}`);
}

module.exports = {run};
