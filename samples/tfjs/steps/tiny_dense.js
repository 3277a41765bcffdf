'use strict';
// (e) tiny_dense: a tiny untrained MLP (Flatten + 2 Dense) whose weights are
// stored float16-quantized ("quantization": {"dtype": "float16"}), which
// tfjs-core's io_utils.decodeWeights supports (getFloat16Decoder).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
const {Rng} = require('../lib/rng');
const {initWeights} = require('../lib/weights_init');
const {quantizeFloat16, fromFloat16Bits} = require('../lib/quantize');
const {captureArtifacts, loadModel, removeOldShards, writeShards, writeModelJson} = require('../lib/model_io');
const {writeReferences} = require('../lib/reference');
const {entropy} = require('../lib/checks');

const kName = 'tiny_dense';

function build() {
  const input = tfl.input({shape: [4, 4, 3], name: 'input'});
  let x = tfl.layers.flatten({name: 'flatten'}).apply(input);
  x = tfl.layers.dense({units: 32, activation: 'relu', name: 'dense_1'}).apply(x);
  x = tfl.layers.dense({units: 5, activation: 'softmax', name: 'dense_2'}).apply(x);
  return tfl.model({inputs: input, outputs: x, name: 'tiny_dense'});
}

async function run(modelsDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = build();
  const rng = new Rng(606);
  initWeights(model, rng, {biasStd: 0.2, kernelGain: {dense_2: 2}});
  const artifacts = await captureArtifacts(model);
  const entries = [];
  const chunks = [];
  const expected = new Map();
  let offset = 0;
  for (const spec of artifacts.weightSpecs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = artifacts.weightData.slice(offset, offset + n * 4);
    offset += n * 4;
    const q = quantizeFloat16(new Float32Array(bytes.buffer, bytes.byteOffset, n));
    entries.push({name: spec.name, shape: spec.shape, dtype: 'float32', quantization: q.meta});
    chunks.push(q.bytes);
    const halfs = new Uint16Array(q.bytes.buffer, q.bytes.byteOffset, n);
    expected.set(spec.name, Float32Array.from(halfs, fromFloat16Bits));
  }
  const all = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  removeOldShards(dir);
  const paths = writeShards(dir, new Uint8Array(all.buffer, all.byteOffset, all.length), all.length);
  writeModelJson(dir, {...artifacts,
    convertedBy: 'EMC samples/tfjs/make_samples.js: float16 weight quantization in the tensorflowjs_converter --quantize_float16 format'},
  [{paths, weights: entries}]);

  const reloaded = await loadModel(dir);
  for (const w of reloaded.weights) {
    const want = expected.get(w.originalName);
    const got = await w.read().data();
    for (let i = 0; i < want.length; ++i) {
      if (got[i] !== want[i]) throw new Error(`${w.originalName}[${i}]: tfjs decoded ${got[i]}, expected ${want[i]}`);
    }
  }
  const inRng = new Rng(607);
  const cases = [0, 1, 2, 3].map((i) => ({
    name: `random_${i}`, image: null, tensor: inRng.fill(48, (r) => r.uniform(-1, 1)), layers: true,
  }));
  const ref = await writeReferences(reloaded, dir, cases, {
    formula: 'none: the input tensor is inputs/<case>.f32 (seeded uniform values in [-1, 1))',
  }, {trained: false, weights_quantization: 'float16 (IEEE binary16, round to nearest even, little-endian)'});
  for (const c of ref.cases) {
    c.entropy = entropy(c.output);
    console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)} entropy ${c.entropy.toFixed(3)}`);
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
}

module.exports = {run};
