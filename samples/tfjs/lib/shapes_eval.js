'use strict';
// Accuracy of a tfjs model on a rendered shapes data set (x = pixel / 255).
const tf = require('@tensorflow/tfjs-core');

async function shapesAccuracy(model, set, batch = 250) {
  let correct = 0;
  for (let i = 0; i < set.images.length; i += batch) {
    const n = Math.min(batch, set.images.length - i);
    const buf = new Float32Array(n * 32 * 32 * 3);
    for (let j = 0; j < n; ++j) {
      const img = set.images[i + j];
      for (let p = 0; p < img.length; ++p) buf[j * img.length + p] = img[p] / 255;
    }
    const x = tf.tensor4d(buf, [n, 32, 32, 3]);
    const y = model.predict(x);
    const am = tf.argMax(y, -1);
    const pred = await am.data();
    am.dispose();
    for (let j = 0; j < n; ++j) if (pred[j] === set.labels[i + j]) ++correct;
    tf.dispose([x, y]);
  }
  return correct / set.images.length;
}

module.exports = {shapesAccuracy};
