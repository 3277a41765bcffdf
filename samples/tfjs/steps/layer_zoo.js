'use strict';
// (g) layer_zoo: one functional model with the layer classes added for issue 11:
// Rescaling, SeparableConv2D ('same' + relu; stride 2 'valid' without bias),
// PReLU (shared over H, W), Multiply, Maximum, Minimum, Average (3 inputs), ELU, UpSampling2D,
// Cropping2D (asymmetric), Softmax on a [H, W, C] map, Dense. Seeded weights, 8x8x4 input.
// (tfjs-layers 4.22 does not write SeparableConv2D's depth_multiplier into model.json, so a
// multiplier > 1 does not reload even in TF.js; tests/converter cover it by hand.)
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
const {Rng} = require('../lib/rng');
const {setAllWeights} = require('../lib/leaf_weights');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {writeReferences} = require('../lib/reference');
const {compareModels} = require('../lib/checks');

const kName = 'layer_zoo';

function build() {
  const inp = tfl.input({shape: [8, 8, 4], name: 'input'});
  const x0 = tfl.layers.rescaling({scale: 1 / 127.5, offset: -1, name: 'rescale'}).apply(inp);
  const a = tfl.layers.separableConv2d({filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'sep1'}).apply(x0);
  let b = tfl.layers.conv2d({filters: 8, kernelSize: 1, name: 'conv_b'}).apply(x0);
  b = tfl.layers.prelu({sharedAxes: [1, 2], name: 'prelu'}).apply(b);
  const m = tfl.layers.multiply({name: 'mul'}).apply([a, b]);
  const mx = tfl.layers.maximum({name: 'max'}).apply([a, b]);
  const mn = tfl.layers.minimum({name: 'min'}).apply([a, b]);
  const av = tfl.layers.average({name: 'avg'}).apply([a, b, m]);
  let c = tfl.layers.concatenate({name: 'cat'}).apply([mx, mn, av]);
  c = tfl.layers.elu({name: 'elu'}).apply(c);
  let u = tfl.layers.upSampling2d({size: [2, 2], name: 'up'}).apply(c);
  u = tfl.layers.cropping2D({cropping: [[1, 2], [3, 0]], name: 'crop'}).apply(u);
  let s = tfl.layers.separableConv2d({filters: 6, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'sep2'}).apply(u);
  s = tfl.layers.softmax({axis: -1, name: 'map_softmax'}).apply(s);
  s = tfl.layers.globalAveragePooling2d({name: 'gap'}).apply(s);
  const out = tfl.layers.dense({units: 5, activation: 'softmax', name: 'logits'}).apply(s);
  return tfl.model({inputs: inp, outputs: out, name: 'layer_zoo'});
}

async function run(modelsDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = build();
  setAllWeights(model, new Rng(1201));
  await saveFloatModel(model, dir);
  const inRng = new Rng(1202);
  const cases = [0, 1].map((i) => ({
    name: `random_${i}`, image: null, tensor: inRng.fill(8 * 8 * 4, (r) => r.uniform(0, 255)), layers: i === 0,
  }));
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 8, 8, 4]));
  const reloaded = await loadModel(dir);
  await compareModels(model, reloaded, xs, 0);
  tf.dispose(xs);
  const ref = await writeReferences(reloaded, dir, cases, {
    formula: 'none: the input tensor is inputs/<case>.f32 (seeded uniform values in [0, 255))',
  }, {trained: false});
  for (const c of ref.cases) console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)}`);
}

module.exports = {run};
