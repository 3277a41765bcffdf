'use strict';
// fashion_cnn: a small CNN trained on Fashion-MNIST (Debian dataset-fashion-mnist). Weights
// trained by train_fashion_torch.py on the 60,000 training images; the model is assembled,
// evaluated on all 10,000 test images, saved and referenced by TF.js. Also written, for the
// accuracy test of the default run (tests/e2e/fashion_accuracy_test.cpp):
//   calib/        500 training images (seeded choice): the calibration set
//   test_subset/  the first 300 test images, one folder per class (ImageFolder, folder names
//                 = labels.txt lines), with TF.js's top-1 for each in reference.json
// Calibration (training split) and evaluation (test split) never overlap.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const {spawnSync} = require('child_process');
const tf = require('@tensorflow/tfjs-core');
const {buildFashionCnn} = require('../models/fashion_cnn');
const {loadTrainedWeights} = require('../lib/trained_weights');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {writePngGray, readPngGray} = require('../lib/png');
const {writeReferences, preprocess} = require('../lib/reference');
const {compareModels} = require('../lib/checks');
const {Rng} = require('../lib/rng');

const kName = 'fashion_cnn';
const kDataDir = process.env.FASHION_MNIST_DIR || '/usr/share/datasets/fashion-mnist';
const kTrainedPrefix = path.join(__dirname, '..', 'trained', 'fashion_cnn_weights');
// labels.txt lines; also the dataset folder names (no '/', so "T-shirt/top" is t-shirt_top).
const kClasses = ['t-shirt_top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag',
  'ankle_boot'];
const kCalibCount = 500;
const kSubsetCount = 300;
const kPreprocessing = {
  formula: 'x = pixel / 255',
  divisor: 255,
  offset: 0,
  channel_order: 'gray',
  range: [0, 1],
  note: '28x28 grayscale PNG, no resizing.',
};

function readIdx(file) {
  const data = zlib.gunzipSync(fs.readFileSync(file));
  const ndim = data[3];
  const dims = [];
  for (let i = 0; i < ndim; ++i) dims.push(data.readUInt32BE(4 + 4 * i));
  return {dims, data: new Uint8Array(data.buffer, data.byteOffset + 4 + 4 * ndim, dims.reduce((a, b) => a * b, 1))};
}

function loadSplit(split) {
  const x = readIdx(path.join(kDataDir, `${split}-images-idx3-ubyte.gz`));
  const y = readIdx(path.join(kDataDir, `${split}-labels-idx1-ubyte.gz`));
  if (x.dims[0] !== y.dims[0] || x.dims[1] !== 28 || x.dims[2] !== 28) throw new Error(`bad ${split} idx files`);
  return {n: y.dims[0], image: (i) => x.data.subarray(i * 784, (i + 1) * 784), labels: y.data};
}

async function accuracy(model, set, batch = 500) {
  let correct = 0;
  for (let i = 0; i < set.n; i += batch) {
    const n = Math.min(batch, set.n - i);
    const buf = new Float32Array(n * 784);
    for (let j = 0; j < n; ++j) buf.set(preprocess(set.image(i + j), 255, 0), j * 784);
    const x = tf.tensor4d(buf, [n, 28, 28, 1]);
    const y = model.predict(x);
    const am = tf.argMax(y, -1);
    const pred = await am.data();
    for (let j = 0; j < n; ++j) if (pred[j] === set.labels[i + j]) ++correct;
    tf.dispose([x, y, am]);
  }
  return correct;
}

function train() {
  fs.mkdirSync(path.dirname(kTrainedPrefix), {recursive: true});
  console.log('  training with train_fashion_torch.py (python3-torch, one thread) ...');
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, '..', 'train_fashion_torch.py'), kDataDir, kTrainedPrefix],
      {stdio: 'inherit', env: {...process.env, OMP_NUM_THREADS: '1'}});
  if (r.status !== 0) throw new Error(`train_fashion_torch.py failed (status ${r.status}); needs python3-torch`);
}

function resetDir(d) {
  if (fs.existsSync(d)) fs.rmSync(d, {recursive: true});
  fs.mkdirSync(d, {recursive: true});
}

// Seeded choice of `count` distinct training indices.
function calibIndices(n, count) {
  const rng = new Rng(20240103);
  const all = Array.from({length: n}, (_, i) => i);
  for (let i = 0; i < count; ++i) {
    const j = rng.int(i, n - 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count).sort((a, b) => a - b);
}

async function run(modelsDir, _imagesDir, opts = {}) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const trainSet = loadSplit('train');
  const testSet = loadSplit('t10k');
  if (opts.retrain || !fs.existsSync(kTrainedPrefix + '.bin')) train();
  const model = buildFashionCnn();
  const meta = loadTrainedWeights(model, kTrainedPrefix);
  await saveFloatModel(model, dir);
  fs.writeFileSync(path.join(dir, 'labels.txt'), kClasses.join('\n') + '\n');
  const reloaded = await loadModel(dir);
  const correct = await accuracy(reloaded, testSet);
  console.log(`  TF.js test accuracy ${(100 * correct / testSet.n).toFixed(2)} % on ${testSet.n} images` +
      ` (torch reported ${(meta.torch_test_accuracy * 100).toFixed(2)} %)`);

  // Calibration images (training split) and the test subset (test split), as PNG.
  const calibDir = path.join(dir, 'calib');
  resetDir(calibDir);
  const calib = calibIndices(trainSet.n, kCalibCount);
  for (const i of calib) {
    writePngGray(path.join(calibDir, `train_${String(i).padStart(5, '0')}.png`), 28, 28, trainSet.image(i));
  }
  const subsetDir = path.join(dir, 'test_subset');
  resetDir(subsetDir);
  for (const c of kClasses) fs.mkdirSync(path.join(subsetDir, c));
  const subset = [];
  for (let i = 0; i < kSubsetCount; ++i) {
    const rel = path.join('test_subset', kClasses[testSet.labels[i]], `t10k_${String(i).padStart(5, '0')}.png`);
    writePngGray(path.join(dir, rel), 28, 28, testSet.image(i));
    subset.push({file: rel, label: testSet.labels[i]});
  }
  // TF.js's top-1 on the subset, from the PNGs as written (decoded back, as a user would).
  const batch = new Float32Array(kSubsetCount * 784);
  subset.forEach((s, j) => batch.set(preprocess(readPngGray(path.join(dir, s.file)).gray, 255, 0), j * 784));
  const xs = tf.tensor4d(batch, [kSubsetCount, 28, 28, 1]);
  const ys = reloaded.predict(xs);
  const am = tf.argMax(ys, -1);
  const pred = Array.from(await am.data());
  tf.dispose([xs, ys, am]);
  subset.forEach((s, j) => { s.tfjs_top1 = pred[j]; });
  const subsetCorrect = subset.filter((s) => s.tfjs_top1 === s.label).length;
  console.log(`  test subset: TF.js ${subsetCorrect}/${kSubsetCount} correct`);

  // Reference cases: the first test image of each class, all layers for two of them.
  const cases = [];
  for (let c = 0; c < kClasses.length; ++c) {
    const s = subset.find((e) => e.label === c);
    const img = readPngGray(path.join(dir, s.file));
    cases.push({name: `${kClasses[c]}_0`, image: s.file, label: c, tensor: preprocess(img.gray, 255, 0),
      layers: c === 0 || c === 9});
  }
  const caseXs = cases.map((c) => tf.tensor(c.tensor, [1, 28, 28, 1]));
  await compareModels(model, reloaded, caseXs, 0);
  tf.dispose(caseXs);
  const ref = await writeReferences(reloaded, dir, cases, kPreprocessing, {
    trained: true,
    labels: 'labels.txt',
    dataset: {name: 'Fashion-MNIST', source: `Debian dataset-fashion-mnist (${kDataDir})`,
      test_size: testSet.n, test_correct_tfjs: correct, test_accuracy_tfjs: correct / testSet.n,
      note: 'accuracy of this reloaded model (TF.js cpu) on all 10,000 test images, x = pixel / 255'},
    calibration: {dir: 'calib', split: 'train', count: kCalibCount, seed: 20240103,
      note: 'training images chosen with lib/rng.js; file names carry the training index'},
    test_subset: {dir: 'test_subset', split: 't10k', count: kSubsetCount, correct_tfjs: subsetCorrect,
      note: 'the first 300 test images; tfjs_top1 = TF.js arg-max on the PNG as written', images: subset},
    training: {trainer: meta.trainer, torch: meta.torch, seed: meta.seed, epochs: meta.epochs, batch: meta.batch,
      optimizer: meta.optimizer, train_size: meta.train_size, torch_test_accuracy: meta.torch_test_accuracy},
  });
  return {model: reloaded, accuracy: correct / testSet.n, ref};
}

module.exports = {run, kClasses};
