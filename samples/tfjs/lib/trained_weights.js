'use strict';
// Loads weights written by a train_*_torch.py script (PREFIX.json: name, shape, byte offset per
// weight; PREFIX.bin: float32 little-endian, Keras layouts) into a tfjs-layers model by weight
// name. Every model weight must be present with the same shape, and every stored weight used.
const fs = require('fs');
const tf = require('@tensorflow/tfjs-core');

function loadTrainedWeights(model, prefix) {
  const meta = JSON.parse(fs.readFileSync(prefix + '.json', 'utf8'));
  const bin = fs.readFileSync(prefix + '.bin');
  const byName = new Map(meta.weights.map((w) => [w.name, w]));
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const e = byName.get(w.originalName);
      if (!e) throw new Error(`trained weights lack ${w.originalName}`);
      if (e.shape.join(',') !== w.shape.join(',')) throw new Error(`${w.originalName}: shape ${e.shape} != ${w.shape}`);
      const n = e.shape.reduce((a, b) => a * b, 1);
      const arr = new Float32Array(bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + n * 4));
      byName.delete(w.originalName);
      return tf.tensor(arr, e.shape, 'float32');
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  if (byName.size > 0) throw new Error(`unused trained weights: ${[...byName.keys()]}`);
  return meta;
}

module.exports = {loadTrainedWeights};
