'use strict';
// The fixed shapes data sets (all rendered from fixed seeds): training and test
// sets for training/evaluation, the committed example images and the
// calibration set. Rendered once per process and cached in memory.
const {Rng} = require('./rng');
const {kClasses, renderShape, makeDataset} = require('./shapes');

const kTrainSize = 12000;
const kTestSize = 2000;
const kExamplesPerClass = 3;
const kCalibSize = 64;

let cache = null;

function shapesData() {
  if (cache) return cache;
  const t0 = Date.now();
  const train = makeDataset(kTrainSize, new Rng(101));
  const test = makeDataset(kTestSize, new Rng(202));
  const exRng = new Rng(303);
  const examples = [];
  for (let k = 0; k < kExamplesPerClass; ++k) {
    kClasses.forEach((cls, label) => {
      examples.push({name: `${cls}_${k}`, label, rgb: renderShape(label, exRng)});
    });
  }
  const calib = makeDataset(kCalibSize, new Rng(404));
  console.log(`  rendered shapes data in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  cache = {train, test, examples, calib};
  return cache;
}

module.exports = {shapesData, kClasses, kTrainSize, kTestSize};
