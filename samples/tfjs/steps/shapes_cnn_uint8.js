'use strict';
// (d) shapes_cnn_uint8: the trained shapes_cnn with uint8-quantized weights in
// the tensorflowjs_converter --quantize_uint8 format, written as 3 shards of
// 16384 bytes (tensors span shard boundaries) with the manifest in a shuffled
// (non-layer) order and the converter-style topology wrapper
// {keras_version, backend, model_config}. References come from the model
// tfjs reloads (and dequantizes) from these files.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const {Rng} = require('../lib/rng');
const {quantizeUint8, dequantizeUint8} = require('../lib/quantize');
const {captureArtifacts, loadModel, removeOldShards, writeShards} = require('../lib/model_io');
const {shapesData} = require('../lib/shapes_data');
const {shapesAccuracy} = require('../lib/shapes_eval');
const {writeReferences, preprocess} = require('../lib/reference');
const {readPngRgb} = require('../lib/png');

const kName = 'shapes_cnn_uint8';
const kSource = 'shapes_cnn';
const kShardBytes = 16384;
const kLayersFor = new Set(['circle_0', 'star_0']);

function decodeFloatSpecs(artifacts) {
  const out = [];
  let offset = 0;
  for (const spec of artifacts.weightSpecs) {
    if (spec.dtype !== 'float32' || spec.quantization) throw new Error(`${spec.name}: expected plain float32`);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = artifacts.weightData.slice(offset, offset + n * 4);
    out.push({spec, values: new Float32Array(bytes.buffer, bytes.byteOffset, n)});
    offset += n * 4;
  }
  return out;
}

async function run(modelsDir) {
  const srcDir = path.join(modelsDir, kSource);
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const floatModel = await loadModel(srcDir);
  const artifacts = await captureArtifacts(floatModel);
  const weights = decodeFloatSpecs(artifacts);

  // Manifest order: a seeded shuffle, required to differ from the layer order.
  const order = new Rng(505).shuffle(weights.map((_, i) => i));
  if (order.every((v, i) => v === i)) throw new Error('shuffled order equals layer order');
  const entries = [];
  const chunks = [];
  const expected = new Map();
  let offset = 0;
  const spans = [];
  for (const i of order) {
    const {spec, values} = weights[i];
    const q = quantizeUint8(values);
    entries.push({name: spec.name, shape: spec.shape, dtype: 'float32', quantization: q.meta});
    chunks.push(q.bytes);
    expected.set(spec.name, dequantizeUint8(q.bytes, q.meta));
    spans.push([spec.name, offset, offset + q.bytes.length]);
    offset += q.bytes.length;
  }
  const all = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) { all.set(c, o); o += c.length; }
  const crossing = spans.filter(([, a, b]) => Math.floor(a / kShardBytes) !== Math.floor((b - 1) / kShardBytes));
  if (all.length <= kShardBytes || crossing.length === 0) throw new Error('no tensor spans a shard boundary');
  removeOldShards(dir);
  const paths = writeShards(dir, all, kShardBytes);
  const topo = artifacts.modelTopology;
  const modelJson = {
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: 'EMC samples/tfjs/make_samples.js: uint8 weight quantization in the tensorflowjs_converter --quantize_uint8 format',
    modelTopology: {
      keras_version: topo.keras_version,
      backend: topo.backend,
      model_config: {class_name: topo.class_name, config: topo.config},
    },
    weightsManifest: [{paths, weights: entries}],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson, null, 1) + '\n');
  fs.copyFileSync(path.join(srcDir, 'labels.txt'), path.join(dir, 'labels.txt'));
  console.log(`  ${entries.length} tensors, ${all.length} bytes in ${paths.length} shards; spanning a boundary: ` +
      crossing.map((c) => c[0]).join(', '));

  // Reload through tfjs: its dequantized weights must equal q * scale + min.
  const model = await loadModel(dir);
  for (const w of model.weights) {
    const want = expected.get(w.originalName);
    const got = await w.read().data();
    for (let i = 0; i < want.length; ++i) {
      if (got[i] !== want[i]) throw new Error(`${w.originalName}[${i}]: tfjs decoded ${got[i]}, expected ${want[i]}`);
    }
  }
  const data = shapesData();
  const acc = await shapesAccuracy(model, data.test);
  const floatAcc = await shapesAccuracy(floatModel, data.test);
  console.log(`  TF.js test accuracy uint8 ${(acc * 100).toFixed(2)} % (float ${(floatAcc * 100).toFixed(2)} %)`);

  const cases = data.examples.map((ex) => {
    const file = path.join(srcDir, 'images', `${ex.name}.png`);
    const img = readPngRgb(file);
    return {name: ex.name, image: path.relative(dir, file), label: ex.label, tensor: preprocess(img.rgb, 255, 0),
      layers: kLayersFor.has(ex.name)};
  });
  let maxDiff = 0;
  for (const c of cases) {
    const x = tf.tensor(c.tensor, [1, 32, 32, 3]);
    const a = floatModel.predict(x);
    const b = model.predict(x);
    const da = await a.data();
    const db = await b.data();
    for (let i = 0; i < da.length; ++i) maxDiff = Math.max(maxDiff, Math.abs(da[i] - db[i]));
    tf.dispose([x, a, b]);
  }
  const ref = await writeReferences(model, dir, cases, {
    formula: 'x = pixel / 255', divisor: 255, offset: 0, channel_order: 'RGB', range: [0, 1],
    note: 'Same preprocessing and images as shapes_cnn (PNG already 32x32).',
  }, {
    trained: true,
    labels: 'labels.txt',
    quantization: {
      scheme: 'per-tensor affine uint8 (tensorflowjs_converter --quantize_uint8): value = q * scale + min; ' +
        'range nudged so 0.0 is exact when min <= 0 <= max',
      shard_bytes: kShardBytes,
      manifest_order: entries.map((e) => e.name),
      tensors_spanning_shards: crossing.map(([name, a, b]) => ({name, byte_begin: a, byte_end: b})),
    },
    test_set: {size: data.test.images.length, seed: 202, accuracy_tfjs: acc, float_model_accuracy_tfjs: floatAcc},
    max_abs_diff_vs_float_model_on_examples: maxDiff,
  });
  let right = 0;
  for (const c of ref.cases) {
    c.correct = c.top5[0].index === c.label;
    if (c.correct) ++right;
  }
  console.log(`  examples: ${right}/${ref.cases.length} correct; max |uint8 - float| output diff ${maxDiff.toExponential(2)}`);
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
}

module.exports = {run};
