'use strict';
// (f) teachable_nested: Teachable Machine's image-model shape, made small:
//   Sequential[Sequential[Model(MobileNetV2-like block), GlobalAveragePooling2D],
//              Sequential[Dense(relu), Dense(softmax, no bias)]]
// Seeded weights, 16x16x3 input. TF.js writes the {name, layers} Sequential form (model.json);
// model_list_form.json is the same model with every Sequential config in the Keras 2.1 list form,
// checked here to load in TF.js and give identical outputs.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
const {Rng} = require('../lib/rng');
const {setAllWeights} = require('../lib/leaf_weights');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {writeReferences} = require('../lib/reference');
const {writeF32} = require('../lib/model_io');
const {compareModels} = require('../lib/checks');

const kName = 'teachable_nested';

function build() {
  const inp = tfl.input({shape: [16, 16, 3], name: 'input_1'});
  let x = tfl.layers.conv2d({filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1'}).apply(inp);
  x = tfl.layers.batchNormalization({name: 'bn_Conv1'}).apply(x);
  x = tfl.layers.reLU({maxValue: 6, name: 'Conv1_relu'}).apply(x);
  x = tfl.layers.depthwiseConv2d({kernelSize: 3, padding: 'same', useBias: false, name: 'expanded_conv_depthwise'}).apply(x);
  x = tfl.layers.batchNormalization({name: 'expanded_conv_depthwise_BN'}).apply(x);
  x = tfl.layers.reLU({maxValue: 6, name: 'expanded_conv_depthwise_relu'}).apply(x);
  x = tfl.layers.conv2d({filters: 12, kernelSize: 1, useBias: false, name: 'expanded_conv_project'}).apply(x);
  x = tfl.layers.batchNormalization({name: 'expanded_conv_project_BN'}).apply(x);
  x = tfl.layers.reLU({maxValue: 6, name: 'out_relu'}).apply(x);
  const base = tfl.model({inputs: inp, outputs: x, name: 'model1'});
  const features = tfl.sequential({name: 'sequential_1', layers: [base, tfl.layers.globalAveragePooling2d({name: 'global_average_pooling2d_GlobalAveragePooling2D1'})]});
  const head = tfl.sequential({name: 'sequential_2', layers: [
    tfl.layers.dense({inputShape: [12], units: 16, activation: 'relu', name: 'dense_Dense1'}),
    tfl.layers.dense({units: 3, activation: 'softmax', useBias: false, name: 'dense_Dense2'}),
  ]});
  return tfl.sequential({name: 'sequential_3', layers: [features, head]});
}

// Rewrites every Sequential config {name, layers} into the Keras 2.1 list form.
function toListForm(node) {
  if (Array.isArray(node)) return node.map(toListForm);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = toListForm(v);
  if (out.class_name === 'Sequential' && out.config && !Array.isArray(out.config)) out.config = out.config.layers;
  return out;
}

async function run(modelsDir) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const model = build();
  setAllWeights(model, new Rng(1101));
  await saveFloatModel(model, dir);
  fs.writeFileSync(path.join(dir, 'labels.txt'), 'class_a\nclass_b\nclass_c\n');
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const listJson = {...json, modelTopology: toListForm(json.modelTopology)};
  fs.writeFileSync(path.join(dir, 'model_list_form.json'), JSON.stringify(listJson, null, 1) + '\n');

  const inRng = new Rng(1102);
  const cases = [0, 1, 2].map((i) => ({
    name: `random_${i}`, image: null, tensor: inRng.fill(16 * 16 * 3, (r) => r.uniform(-1, 1)), layers: true,
  }));
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 16, 16, 3]));
  const reloaded = await loadModel(dir);
  await compareModels(model, reloaded, xs, 0);
  const listModel = await tfl.loadLayersModel(tf.io.fromMemory({
    modelTopology: listJson.modelTopology, weightSpecs: json.weightsManifest[0].weights,
    weightData: fs.readFileSync(path.join(dir, json.weightsManifest[0].paths[0])).buffer.slice(0)}), {strict: true});
  await compareModels(model, listModel, xs, 0);
  tf.dispose(xs);
  const ref = await writeReferences(reloaded, dir, cases, {
    formula: 'none: the input tensor is inputs/<case>.f32 (seeded uniform values in [-1, 1))',
  }, {trained: false, labels: 'labels.txt', also_loads: 'model_list_form.json (Keras 2.1 list form, same outputs in TF.js)'});
  // Per-layer references inside the nested models, under the scoped names EMC gives them
  // (<outer>/<inner>/<layer>), for the first case.
  const seq1 = reloaded.layers[0];
  const seq2 = reloaded.layers[1];
  const base = seq1.layers[0];
  const c0 = ref.cases[0];
  const x0 = tf.tensor(cases[0].tensor, [1, 16, 16, 3]);
  const inner = base.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const baseProbe = tfl.model({inputs: base.inputs, outputs: inner.map((l) => l.output)});
  const outs = baseProbe.predict(x0);
  const extra = [];
  for (let i = 0; i < inner.length; ++i) extra.push([`${seq1.name}/${base.name}/${inner[i].name}`, inner[i], outs[i]]);
  const feat = seq1.predict(x0);
  const d1 = tfl.model({inputs: seq2.inputs, outputs: seq2.layers[0].output}).predict(feat);
  extra.push([`${seq2.name}/${seq2.layers[0].name}`, seq2.layers[0], d1]);
  for (const [name, layer, t] of extra) {
    const file = `refs/${c0.name}/${name}.f32`;
    writeF32(path.join(dir, file), await t.data());
    c0.layers.push({name, class_name: layer.getClassName(), shape: t.shape, file});
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
  for (const c of ref.cases) console.log(`  ${c.name}: top1 ${c.top5[0].index} p=${c.top5[0].value.toFixed(4)}`);
}

module.exports = {run};
