'use strict';
// Seeded values for every weight of a model, nested models included (model.weights lists the
// leaf variables; the kind is the last part of the TF.js weight name).
const tf = require('@tensorflow/tfjs-core');

function fanIn(shape, kind) {
  if (kind === 'depthwise_kernel') return shape[0] * shape[1];
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

function setAllWeights(model, rng) {
  for (const w of model.weights) {
    const kind = w.originalName.split('/').pop();
    const n = w.shape.reduce((a, b) => a * b, 1);
    let v;
    switch (kind) {
      case 'kernel': case 'depthwise_kernel': case 'pointwise_kernel': {
        const std = Math.sqrt(2 / fanIn(w.shape, kind));
        v = rng.fill(n, (r) => r.normal(0, std));
        break;
      }
      case 'bias': v = rng.fill(n, (r) => r.normal(0, 0.1)); break;
      case 'alpha': v = rng.fill(n, (r) => r.uniform(0.05, 0.5)); break;
      case 'gamma': v = rng.fill(n, (r) => r.uniform(0.5, 1.5)); break;
      case 'beta': v = rng.fill(n, (r) => r.normal(0, 0.1)); break;
      case 'moving_mean': v = rng.fill(n, (r) => r.normal(0, 0.2)); break;
      case 'moving_variance': v = rng.fill(n, (r) => r.uniform(0.5, 2)); break;
      default: throw new Error(`no initializer for ${w.originalName}`);
    }
    w.write(tf.tensor(v, w.shape, 'float32'));
  }
}

module.exports = {setAllWeights};
