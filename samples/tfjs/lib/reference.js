'use strict';
// Runs a (reloaded) LayersModel on fixed inputs and writes reference.json,
// inputs/<case>.f32 and refs/<case>/<layer>.f32 (float32 little-endian, NHWC).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
const {writeF32} = require('./model_io');

function versions() {
  return {
    'tfjs-core': tf.version_core,
    'tfjs-layers': tfl.version_layers,
    'tfjs-backend-cpu': require('@tensorflow/tfjs-backend-cpu/package.json').version,
    backend: tf.getBackend(),
    node: process.version,
  };
}

// Layers whose output is recorded: every non-input layer with a single output.
function probeLayers(model) {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer');
}

function rmrf(p) {
  if (fs.existsSync(p)) fs.rmSync(p, {recursive: true, force: true});
}

// cases: [{name, image (path relative to the model dir), tensor: Float32Array,
//          layers: false | true (write every layer's output) | filter(layer) -> bool,
//          label?}]
// preprocessing: {formula, scale, offset, channel_order, input_dtype}
async function writeReferences(model, dir, cases, preprocessing, extra = {}) {
  rmrf(path.join(dir, 'inputs'));
  rmrf(path.join(dir, 'refs'));
  const inputShape = model.inputs[0].shape.slice(1);
  const probes = probeLayers(model);
  // A nested model has its own node 0 before the call in this model: probe the last call.
  const outputOf = (l) => (l.inboundNodes.length > 1 ? l.getOutputAt(l.inboundNodes.length - 1) : l.output);
  const probeModel = tfl.model({inputs: model.inputs, outputs: probes.map(outputOf)});
  const outName = model.outputLayers[0].name;
  const results = [];
  for (const c of cases) {
    const expected = inputShape.reduce((a, b) => a * b, 1);
    if (c.tensor.length !== expected) throw new Error(`${c.name}: input has ${c.tensor.length} values, want ${expected}`);
    const inputFile = `inputs/${c.name}.f32`;
    writeF32(path.join(dir, inputFile), c.tensor);
    const x = tf.tensor(c.tensor, [1, ...inputShape], 'float32');
    // A model with several outputs predicts a list: output 0 is the case's output/top5 (as for
    // one output), and `outputs` has every output by its layer name.
    const ys = model.predict(x);
    const yList = Array.isArray(ys) ? ys : [ys];
    const y = yList[0];
    const output = Array.from(await y.data());
    const entry = {
      name: c.name,
      image: c.image,
      input_tensor: inputFile,
      output_shape: y.shape,
      output,
    };
    if (c.label !== undefined) entry.label = c.label;
    entry.top5 = top5Of(output);
    if (yList.length > 1) {
      entry.outputs = [];
      for (let o = 0; o < yList.length; ++o) {
        const values = Array.from(await yList[o].data());
        entry.outputs.push({name: model.outputLayers[o].name, shape: yList[o].shape, output: values, top5: top5Of(values)});
      }
    }
    if (c.layers) {
      const outs = probeModel.predict(x);
      const list = Array.isArray(outs) ? outs : [outs];
      entry.layers = [];
      const omitted = [];
      for (let i = 0; i < probes.length; ++i) {
        if (typeof c.layers === 'function' && !c.layers(probes[i])) {
          omitted.push(probes[i].name);
          continue;
        }
        const file = `refs/${c.name}/${probes[i].name}.f32`;
        const data = await list[i].data();
        writeF32(path.join(dir, file), data);
        entry.layers.push({name: probes[i].name, class_name: probes[i].getClassName(), shape: list[i].shape, file});
      }
      if (omitted.length > 0) entry.layers_omitted = omitted;
      // The probe model's last output must equal model.predict's output.
      const last = list[list.length - 1];
      const lastData = await last.data();
      let maxDiff = 0;
      for (let i = 0; i < lastData.length; ++i) maxDiff = Math.max(maxDiff, Math.abs(lastData[i] - output[i]));
      if (probes[probes.length - 1].name === outName && maxDiff !== 0) {
        throw new Error(`${c.name}: probe model output differs from predict by ${maxDiff}`);
      }
      // Several outputs: each output layer's probe must equal its predict output.
      if (entry.outputs) {
        for (const o of entry.outputs) {
          const k = probes.findIndex((l) => l.name === o.name);
          if (k < 0) throw new Error(`${c.name}: output ${o.name} is not a probed layer: its probe cannot be checked`);
          const probe = await list[k].data();
          for (let i = 0; i < probe.length; ++i) {
            if (probe[i] !== o.output[i]) throw new Error(`${c.name}: probe of output ${o.name} differs from predict`);
          }
        }
      }
      tf.dispose(list);
    }
    tf.dispose([x, ...yList]);
    results.push(entry);
  }
  const ref = {
    model: path.basename(dir),
    model_json: 'model.json',
    generated_by: versions(),
    note: 'Outputs of the model RELOADED from model.json + shards with tf.loadLayersModel, cpu backend. ' +
      'All .f32 files are raw float32 little-endian, row-major NHWC (batch 1), shapes below.',
    tolerance: 1e-4,
    input: {layer: model.inputLayers[0].name, shape: [1, ...inputShape], dtype: 'float32', layout: 'NHWC'},
    preprocessing,
    output_layer: outName,
    ...(model.outputLayers.length > 1 ? {output_layers: model.outputLayers.map((l) => l.name)} : {}),
    ...extra,
    cases: results,
  };
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
  return ref;
}

// The (up to) 5 largest values, largest first (ties: lower index first).
function top5Of(values) {
  const order = values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return order.slice(0, Math.min(5, values.length)).map(([v, i]) => ({index: i, value: v}));
}

// pixel (uint8 RGB) -> float32 via x = pixel / divisor + offset, computed in
// float64 and rounded once to float32.
function preprocess(rgb, divisor, offset) {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; ++i) out[i] = rgb[i] / divisor + offset;
  return out;
}

module.exports = {writeReferences, preprocess, versions};
