'use strict';
// Sanity checks shared by the steps.
const tf = require('@tensorflow/tfjs-core');

function entropy(p) {
  let h = 0;
  for (const v of p) if (v > 0) h -= v * Math.log(v);
  return h;
}

// The reloaded model must reproduce the in-memory model bit for bit on `x`
// (for float32 weights) or within `tol` (quantized weights are not expected to).
async function compareModels(a, b, xs, tol = 0) {
  let worst = 0;
  for (const x of xs) {
    // A model with several outputs predicts a list: every output is compared.
    const ya = [a.predict(x)].flat();
    const yb = [b.predict(x)].flat();
    if (ya.length !== yb.length) throw new Error(`reloaded model has ${yb.length} outputs, the saved one ${ya.length}`);
    for (let o = 0; o < ya.length; ++o) {
      const da = await ya[o].data();
      const db = await yb[o].data();
      for (let i = 0; i < da.length; ++i) worst = Math.max(worst, Math.abs(da[i] - db[i]));
    }
    tf.dispose([...ya, ...yb]);
  }
  if (worst > tol) throw new Error(`reloaded model differs from the saved one by ${worst} (> ${tol})`);
  return worst;
}

module.exports = {entropy, compareModels};
