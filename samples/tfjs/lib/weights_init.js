'use strict';
// Deterministic weight values for the untrained sample models: He-normal
// kernels and non-trivial BatchNormalization statistics.
const tf = require('@tensorflow/tfjs-core');

function fanIn(shape, kind) {
  if (kind === 'depthwise_kernel') return shape[0] * shape[1];  // [kh, kw, cin, mult]
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);         // conv [kh,kw,cin,cout], dense [in,out]
}

// Default value generators by weight kind. `opts.kernelGain[layerName]`
// multiplies the He std of that layer's kernel.
function valuesFor(rng, kind, shape, layerName, opts) {
  const n = shape.reduce((a, b) => a * b, 1);
  switch (kind) {
    case 'kernel':
    case 'depthwise_kernel': {
      const gain = (opts.kernelGain && opts.kernelGain[layerName]) || opts.defaultGain || 1;
      const std = gain * Math.sqrt(2 / fanIn(shape, kind));
      return rng.fill(n, (r) => r.normal(0, std));
    }
    case 'bias': return rng.fill(n, (r) => r.normal(0, opts.biasStd === undefined ? 0.05 : opts.biasStd));
    case 'gamma': return rng.fill(n, (r) => r.uniform(0.5, 1.5));
    case 'beta': return rng.fill(n, (r) => r.normal(0, 0.1));
    case 'moving_mean': return rng.fill(n, (r) => r.normal(0, 0.2));
    case 'moving_variance': return rng.fill(n, (r) => r.uniform(0.5, 2));
    default: throw new Error(`no initializer for weight kind ${kind} of ${layerName}`);
  }
}

// Sets every weight of every layer, in layer order, from `rng`.
function initWeights(model, rng, opts = {}) {
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (ws.length === 0) continue;
    const values = ws.map((w) => {
      const kind = w.originalName.split('/').pop();
      return tf.tensor(valuesFor(rng, kind, w.shape, layer.name, opts), w.shape, 'float32');
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}


// Data-dependent re-initialisation of an untrained classifier (Dense or 1x1
// Conv2D with bias) so its logits depend on the image rather than on the
// constant part of the features: bias := -W * mean_feature (+ small noise)
// and W rescaled so the centred logits have standard deviation `targetStd`.
// `featureLayer` is the layer whose output feeds the classifier.
async function centreClassifier(model, featureLayer, classifierLayer, xs, targetStd, rng) {
  const tfl = require('@tensorflow/tfjs-layers');
  const sub = tfl.model({inputs: model.inputs, outputs: model.getLayer(featureLayer).output});
  const feats = [];
  for (const x of xs) {
    const f = sub.predict(x);
    feats.push(Array.from(await f.data()));
    f.dispose();
  }
  const layer = model.getLayer(classifierLayer);
  const [kernelT, biasT] = layer.getWeights();
  const w = Array.from(await kernelT.data());
  const k = kernelT.shape[kernelT.shape.length - 1];
  const c = w.length / k;
  if (feats[0].length !== c) throw new Error(`${classifierLayer}: ${c} inputs but ${featureLayer} has ${feats[0].length}`);
  const mean = new Float64Array(c);
  for (const f of feats) for (let i = 0; i < c; ++i) mean[i] += f[i] / feats.length;
  let s2 = 0;
  let n = 0;
  for (const f of feats) {
    for (let j = 0; j < k; ++j) {
      let z = 0;
      for (let i = 0; i < c; ++i) z += w[i * k + j] * (f[i] - mean[i]);
      s2 += z * z;
      ++n;
    }
  }
  const scale = targetStd / Math.sqrt(s2 / n);
  const newW = new Float32Array(w.length);
  for (let i = 0; i < w.length; ++i) newW[i] = w[i] * scale;
  const newB = new Float32Array(k);
  for (let j = 0; j < k; ++j) {
    let m = 0;
    for (let i = 0; i < c; ++i) m += newW[i * k + j] * mean[i];
    newB[j] = -m + rng.normal(0, 0.05);
  }
  const values = [tf.tensor(newW, kernelT.shape), tf.tensor(newB, biasT.shape)];
  layer.setWeights(values);
  tf.dispose(values);
  return scale;
}

module.exports = {initWeights, centreClassifier};
