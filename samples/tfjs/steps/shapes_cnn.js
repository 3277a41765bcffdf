'use strict';
// (a) shapes_cnn: 8-class 32x32 synthetic shapes CNN. Data rendered here
// (seeded), weights trained by train_shapes_torch.py (TF.js cpu is too slow
// to train), model assembled, evaluated, saved and referenced by TF.js.
const fs = require('fs');
const path = require('path');
const {spawnSync} = require('child_process');
const tf = require('@tensorflow/tfjs-core');
const {buildShapesCnn} = require('../models/shapes_cnn');
const {shapesData, kClasses} = require('../lib/shapes_data');
const {shapesAccuracy} = require('../lib/shapes_eval');
const {loadTrainedWeights} = require('../lib/trained_weights');
const {saveFloatModel, loadModel} = require('../lib/model_io');
const {writePngRgb, readPngRgb} = require('../lib/png');
const {writeReferences, preprocess} = require('../lib/reference');
const {compareModels} = require('../lib/checks');

const kName = 'shapes_cnn';
const kTrainedPrefix = path.join(__dirname, '..', 'trained', 'shapes_cnn_weights');
const kCacheDir = path.join(__dirname, '..', '.cache', 'shapes');
const kLayersFor = new Set(['circle_0', 'star_0']);
const kPreprocessing = {
  formula: 'x = pixel / 255',
  divisor: 255,
  offset: 0,
  channel_order: 'RGB',
  range: [0, 1],
  note: 'PNG is already 32x32, no resizing.',
};

function writeDataForTrainer(data) {
  fs.mkdirSync(kCacheDir, {recursive: true});
  for (const [split, set] of [['train', data.train], ['test', data.test]]) {
    const x = Buffer.alloc(set.images.length * 32 * 32 * 3);
    set.images.forEach((img, i) => x.set(img, i * img.length));
    fs.writeFileSync(path.join(kCacheDir, `${split}_x.u8`), x);
    fs.writeFileSync(path.join(kCacheDir, `${split}_y.u8`), Buffer.from(set.labels));
  }
}

function train(data) {
  writeDataForTrainer(data);
  fs.mkdirSync(path.dirname(kTrainedPrefix), {recursive: true});
  console.log('  training with train_shapes_torch.py (python3-torch) ...');
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, '..', 'train_shapes_torch.py'), kCacheDir, kTrainedPrefix],
      {stdio: 'inherit'});
  if (r.status !== 0) throw new Error(`train_shapes_torch.py failed (status ${r.status}); needs apt-get install python3-torch`);
}

function writeImageFolders(dir, data) {
  const imgDir = path.join(dir, 'images');
  const calibDir = path.join(dir, 'calib');
  for (const d of [imgDir, calibDir]) {
    if (fs.existsSync(d)) fs.rmSync(d, {recursive: true});
    fs.mkdirSync(d, {recursive: true});
  }
  for (const ex of data.examples) writePngRgb(path.join(imgDir, `${ex.name}.png`), 32, 32, ex.rgb);
  data.calib.images.forEach((rgb, i) => {
    writePngRgb(path.join(calibDir, `calib_${String(i).padStart(3, '0')}_${kClasses[data.calib.labels[i]]}.png`), 32, 32, rgb);
  });
}

// Test cases: every example PNG (decoded back from disk, as a user would).
function exampleCases(dir, data) {
  return data.examples.map((ex) => {
    const file = path.join(dir, 'images', `${ex.name}.png`);
    const img = readPngRgb(file);
    return {name: ex.name, image: path.relative(dir, file), label: ex.label, tensor: preprocess(img.rgb, 255, 0),
      layers: kLayersFor.has(ex.name)};
  });
}

async function run(modelsDir, _imagesDir, opts = {}) {
  const dir = path.join(modelsDir, kName);
  fs.mkdirSync(dir, {recursive: true});
  const data = shapesData();
  if (opts.retrain || !fs.existsSync(kTrainedPrefix + '.bin')) train(data);
  const model = buildShapesCnn(kClasses.length);
  const meta = loadTrainedWeights(model, kTrainedPrefix);
  const acc = await shapesAccuracy(model, data.test);
  console.log(`  TF.js test accuracy ${(acc * 100).toFixed(2)} % on ${data.test.images.length} images` +
      ` (torch reported ${(meta.torch_test_accuracy * 100).toFixed(2)} %)`);
  await saveFloatModel(model, dir);
  fs.writeFileSync(path.join(dir, 'labels.txt'), kClasses.join('\n') + '\n');
  writeImageFolders(dir, data);

  const reloaded = await loadModel(dir);
  const cases = exampleCases(dir, data);
  const xs = cases.map((c) => tf.tensor(c.tensor, [1, 32, 32, 3]));
  await compareModels(model, reloaded, xs, 0);
  tf.dispose(xs);
  const reloadedAcc = await shapesAccuracy(reloaded, data.test);
  const ref = await writeReferences(reloaded, dir, cases, kPreprocessing, {
    trained: true,
    labels: 'labels.txt',
    test_set: {size: data.test.images.length, seed: 202, accuracy_tfjs: reloadedAcc,
      note: 'accuracy of this reloaded model (TF.js cpu) on the seeded rendered test set'},
    training: {trainer: meta.trainer, torch: meta.torch, seed: meta.seed, epochs: meta.epochs, batch: meta.batch,
      optimizer: meta.optimizer, train_size: meta.train_size, torch_test_accuracy: meta.torch_test_accuracy},
  });
  let right = 0;
  for (const c of ref.cases) {
    c.correct = c.top5[0].index === c.label;
    if (c.correct) ++right;
  }
  console.log(`  examples: ${right}/${ref.cases.length} correct`);
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
  return {model: reloaded, data, accuracy: reloadedAcc};
}

module.exports = {run, exampleCases, kPreprocessing};
