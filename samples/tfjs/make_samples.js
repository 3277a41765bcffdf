#!/usr/bin/env node
'use strict';
// Regenerates every sample model in samples/models/ with TensorFlow.js (cpu
// backend): model.json + shards, inputs/*.f32, refs/**.f32, reference.json.
//   cd samples/tfjs && npm ci && node make_samples.js [--retrain] [model ...]
// Without model names all models are made. --retrain reruns the PyTorch
// training of shapes_cnn (train_shapes_torch.py, needs Debian python3-torch);
// otherwise the committed trained/shapes_cnn_weights.* are used. fashion_cnn (Fashion-MNIST,
// trained by train_fashion_torch.py) is made only when named: it needs dataset-fashion-mnist. Deterministic: all randomness comes
// from seeded generators (lib/rng.js), Math.random included.
const {seedMathRandom} = require('./lib/rng');
seedMathRandom(20240101);

const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');

const kModelsDir = path.resolve(__dirname, '..', 'models');
const kImagesDir = path.resolve(__dirname, '..', 'images');

const kSteps = {
  mobilenet_v1_025: () => require('./steps/mobilenet_v1_025').run(kModelsDir, kImagesDir),
  functional_concat_add: () => require('./steps/functional_concat_add').run(kModelsDir, kImagesDir),
  shapes_cnn: (opts) => require('./steps/shapes_cnn').run(kModelsDir, kImagesDir, opts),
  shapes_cnn_uint8: () => require('./steps/shapes_cnn_uint8').run(kModelsDir, kImagesDir),
  tiny_dense: () => require('./steps/tiny_dense').run(kModelsDir, kImagesDir),
  teachable_nested: () => require('./steps/teachable_nested').run(kModelsDir),
  layer_zoo: () => require('./steps/layer_zoo').run(kModelsDir),
  prelu_small: () => require('./steps/prelu_small').run(kModelsDir),
  two_heads: () => require('./steps/two_heads').run(kModelsDir, kImagesDir),
  // Not part of the default set: needs Debian dataset-fashion-mnist (make it by name).
  fashion_cnn: (opts) => require('./steps/fashion_cnn').run(kModelsDir, kImagesDir, opts),
};
const kOnDemand = new Set(['fashion_cnn']);

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  if (tf.getBackend() !== 'cpu') throw new Error(`backend is ${tf.getBackend()}, want cpu`);
  const args = process.argv.slice(2);
  const opts = {retrain: args.includes('--retrain')};
  const wanted = args.filter((a) => a !== '--retrain');
  for (const name of wanted) {
    if (!(name in kSteps)) throw new Error(`unknown model ${name}; known: ${Object.keys(kSteps).join(', ')}`);
  }
  const names = wanted.length > 0 ? wanted : Object.keys(kSteps).filter((n) => !kOnDemand.has(n));
  for (const name of names) {
    const t0 = Date.now();
    console.log(`== ${name}`);
    await kSteps[name](opts);
    console.log(`== ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
