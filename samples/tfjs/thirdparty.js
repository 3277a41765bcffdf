#!/usr/bin/env node
'use strict';
// Extracts the real trained third-party models bundled in the npm package nsfwjs (MIT; pinned in
// package.json / package-lock.json) and writes TF.js reference outputs for them:
//   cd samples/tfjs && npm ci && node thirdparty.js OUT_DIR [--force]
// OUT_DIR/<model>/ gets model.json + the weight shards under the file names of the manifest
// (`group1-shard1of6`, no extension), labels.txt, reference.json, inputs/<case>.f32 and
// refs/<case>/<layer>.f32 — the layout of samples/models/<name>/ (see samples/README.md).
// Nothing downloaded here is committed; scripts/thirdparty_models.sh runs this into build/.
//
// nsfwjs ships each model as browserify modules: require('dist/models/<m>/model.min.js') returns
// the model.json object and require('<shard>.min.js') the shard's bytes as a base64 string.
//
// Cache: OUT_DIR/stamp.json records the nsfwjs version and a sha256 over this script, the lib/
// files it uses and the input photos; with a matching stamp (and --force absent) nothing is redone.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');
const {loadModel, writeF32} = require('./lib/model_io');
const {preprocess, versions} = require('./lib/reference');
const {readPngRgb, writePngRgb} = require('./lib/png');

const kPackage = 'nsfwjs';
const kPackageDir = path.join(__dirname, 'node_modules', kPackage);
const kImagesDir = path.resolve(__dirname, '..', 'images');
const kPhotos = ['astronaut', 'chelsea', 'coffee', 'rocket'];       // samples/images/<name>_224.png
// More test photos: real photos already preprocessed as 224x224x3 RGB float32 NHWC, x = pixel / 255
// (the nsfwjs models' own preprocessing), from ../shared/models/ml5_darknet_tiny/inputs (ml5-library
// demo photos, MIT, and darknet's dog.jpg; see shared/models/SOURCES.md). EMC_SHARED_DIR overrides
// the location of shared/ (default: beside the repository, as for the C++ tests).
const kSharedDir = process.env.EMC_SHARED_DIR || path.resolve(__dirname, '..', '..', '..', 'shared');
const kTensorPhotosDir = path.join(kSharedDir, 'models', 'ml5_darknet_tiny', 'inputs');
const kTensorPhotos = ['darknet_dog', 'ml5lib_bird', 'ml5lib_cat', 'ml5lib_kitten', 'ml5lib_turtle',
  'onlab_muggcomp'];
// The calibration photos: real photos from Debian packages, none of them a test photo (darknet's
// dog.jpg is darknet_dog above, skimage's chelsea/coffee/astronaut/rocket are samples/images), copied
// as they are (any size; emc-convert resizes) to OUT_DIR/<model>/calib/<package>_<file>. A missing
// package is an error naming it (scripts/deps.sh installs them).
const kCalibPhotos = [
  ['darknet', '/usr/share/darknet/data', ['eagle.jpg', 'giraffe.jpg', 'horses.jpg', 'kite.jpg', 'person.jpg', 'scream.jpg']],
  ['python-matplotlib-data', '/usr/share/matplotlib/mpl-data/sample_data', ['grace_hopper.jpg']],
  ['python3-skimage', '/usr/lib/python3/dist-packages/skimage/data',
    ['motorcycle_left.png', 'hubble_deep_field.jpg', 'ihc.png', 'retina.jpg']],
];
const kCalibPrefix = {'darknet': 'darknet', 'python-matplotlib-data': 'mpl', 'python3-skimage': 'skimage'};
// The two photos whose per-layer outputs are recorded for mobilenet_v2.
const kLayerPhotos = ['chelsea', 'coffee'];
const kLayerStride = 10;  // record every 10th layer (model.layers index 10, 20, ...)
// InceptionV3 takes 299x299: chelsea_224.png, edge-replicate padded (see edgePad).
const kInceptionPad = {before: 37, after: 38};  // 37 + 224 + 38 = 299

// Files whose content decides the outputs (hashed into the stamp).
const kHashedFiles = [
  __filename,
  path.join(__dirname, 'lib', 'model_io.js'),
  path.join(__dirname, 'lib', 'reference.js'),
  path.join(__dirname, 'lib', 'png.js'),
  ...kPhotos.map((p) => path.join(kImagesDir, `${p}_224.png`)),
  ...kTensorPhotos.map((p) => path.join(kTensorPhotosDir, `${p}.f32`)),
  ...kCalibPhotos.flatMap(([, dir, files]) => files.map((f) => path.join(dir, f))),
];

// The class names in output order, from the package itself (dist/cjs/nsfw_classes.js).
function labels() {
  const classes = require(path.join(kPackageDir, 'dist', 'cjs', 'nsfw_classes.js')).NSFW_CLASSES;
  return Object.keys(classes).map(Number).sort((a, b) => a - b).map((i) => classes[i]);
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function packageVersion() {
  const want = require('./package.json').dependencies[kPackage];
  const pkgJson = path.join(kPackageDir, 'package.json');
  if (!fs.existsSync(pkgJson)) throw new Error(`${kPackageDir} is missing: run 'npm ci' in ${__dirname}`);
  const have = JSON.parse(fs.readFileSync(pkgJson, 'utf8')).version;
  if (have !== want) throw new Error(`${kPackage} ${have} is installed, package.json pins ${want}: run 'npm ci'`);
  return have;
}

function checkInputFiles() {
  for (const [pkg, dir, files] of kCalibPhotos) {
    for (const f of files) {
      const file = path.join(dir, f);
      if (!fs.existsSync(file)) throw new Error(`${file} is missing: install the Debian package ${pkg} (scripts/deps.sh)`);
    }
  }
  for (const p of kTensorPhotos) {
    const file = path.join(kTensorPhotosDir, `${p}.f32`);
    if (!fs.existsSync(file)) throw new Error(`${file} is missing (shared/ beside the repository, or EMC_SHARED_DIR)`);
  }
}

// Copies the calibration photos to dir/calib/. Returns their names there.
function copyCalibPhotos(dir) {
  const out = path.join(dir, 'calib');
  rmrf(out);
  fs.mkdirSync(out, {recursive: true});
  const names = [];
  for (const [pkg, src, files] of kCalibPhotos) {
    for (const f of files) {
      const name = `${kCalibPrefix[pkg]}_${f}`;
      fs.copyFileSync(path.join(src, f), path.join(out, name));
      names.push({file: `calib/${name}`, debian_package: pkg, source: path.join(src, f)});
    }
  }
  return names;
}

// A shared/ input tensor: 224x224x3 float32, every value in [0, 1].
function readTensorPhoto(name) {
  const file = path.join(kTensorPhotosDir, `${name}.f32`);
  const buf = fs.readFileSync(file);
  const n = 224 * 224 * 3;
  if (buf.length !== n * 4) throw new Error(`${file}: ${buf.length} bytes, want ${n * 4} (224x224x3 float32)`);
  const t = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    t[i] = buf.readFloatLE(i * 4);
    if (!(t[i] >= 0 && t[i] <= 1)) throw new Error(`${file}: value ${t[i]} at ${i} is outside [0, 1]`);
  }
  return t;
}

function stampFor(version) {
  const h = crypto.createHash('sha256');
  for (const f of kHashedFiles) h.update(path.relative(__dirname, f)).update('\0').update(fs.readFileSync(f));
  return {package: kPackage, version, inputs_sha256: h.digest('hex'), tfjs: tf.version_core, node: process.version};
}

function stampMatches(outDir, stamp) {
  const file = path.join(outDir, 'stamp.json');
  if (!fs.existsSync(file)) return false;
  try {
    const old = JSON.parse(fs.readFileSync(file, 'utf8'));
    return old.version === stamp.version && old.inputs_sha256 === stamp.inputs_sha256 &&
      old.tfjs === stamp.tfjs && Array.isArray(old.models) &&
      old.models.every((m) => fs.existsSync(path.join(outDir, m, 'reference.json')));
  } catch (e) {
    return false;
  }
}

// Writes dist/models/<name> of the package as OUT/<name>/model.json + shards. Returns the list of
// {file, bytes, sha256} written.
function extractModel(name, outDir) {
  const src = path.join(kPackageDir, 'dist', 'models', name);
  const modelJson = require(path.join(src, 'model.min.js'));
  if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology || !modelJson.weightsManifest) {
    throw new Error(`${src}/model.min.js: not a model.json object`);
  }
  fs.mkdirSync(outDir, {recursive: true});
  const files = [];
  const write = (file, bytes) => {
    fs.writeFileSync(path.join(outDir, file), bytes);
    files.push({file, bytes: bytes.length, sha256: sha256(bytes)});
  };
  write('model.json', Buffer.from(JSON.stringify(modelJson) + '\n'));
  let total = 0;
  let expected = 0;
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) {
      if (p.includes('/') || p.includes('..')) throw new Error(`${name}: unexpected shard path ${p}`);
      const shard = require(path.join(src, `${p}.min.js`));
      const bytes = typeof shard === 'string' ? Buffer.from(shard, 'base64') : Buffer.from(shard);
      write(p, bytes);
      total += bytes.length;
    }
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const dtype = w.quantization ? w.quantization.dtype : w.dtype;
      expected += n * {uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4}[dtype];
    }
  }
  if (total !== expected) throw new Error(`${name}: shards hold ${total} bytes, the manifest needs ${expected}`);
  fs.writeFileSync(path.join(outDir, 'labels.txt'), labels().join('\n') + '\n');
  return files;
}

// Pads a square RGB image by replicating its edge pixels: out(x, y) = in(clamp(x - before),
// clamp(y - before)). No resampling, so the result is exactly reproducible anywhere.
function edgePad(img, before, after) {
  const size = img.width + before + after;
  const rgb = new Uint8Array(size * size * 3);
  const clamp = (v, n) => Math.min(Math.max(v, 0), n - 1);
  for (let y = 0; y < size; ++y) {
    for (let x = 0; x < size; ++x) {
      const sy = clamp(y - before, img.height);
      const sx = clamp(x - before, img.width);
      for (let c = 0; c < 3; ++c) rgb[(y * size + x) * 3 + c] = img.rgb[(sy * img.width + sx) * 3 + c];
    }
  }
  return {width: size, height: size, rgb};
}

// edgePad for a float HWC tensor of `channels` channels.
function edgePadTensor(t, width, channels, before, after) {
  const size = width + before + after;
  const out = new Float32Array(size * size * channels);
  const clamp = (v) => Math.min(Math.max(v, 0), width - 1);
  for (let y = 0; y < size; ++y) {
    for (let x = 0; x < size; ++x) {
      const src = (clamp(y - before) * width + clamp(x - before)) * channels;
      for (let c = 0; c < channels; ++c) out[(y * size + x) * channels + c] = t[src + c];
    }
  }
  return out;
}

// The layers recorded per case: model.layers[i] for i = 10, 20, ... and the output layer.
function everyNth(model) {
  const keep = new Set(model.layers.filter((l, i) => i > 0 && i % kLayerStride === 0).map((l) => l.name));
  keep.add(model.outputLayers[0].name);
  return (layer) => keep.has(layer.name);
}

function rmrf(p) {
  fs.rmSync(p, {recursive: true, force: true});
}

// Writes reference.json, inputs/<case>.f32 and refs/<case>/<layer>.f32 in the layout of
// lib/reference.js's writeReferences (samples/README.md), but with ONE forward pass per case (the
// models are big for TF.js's pure-JS cpu backend): a model whose outputs are the recorded layers
// and the model output. `cases[i].layers` is false or a filter(layer) -> bool. For a case with
// layers, when the model ends in Dense(softmax) the logits inside that layer are recorded too, as
// layer "<dense>/pre_softmax" (file <dense>.pre_softmax.f32): computed with TF.js exactly as
// tfjs-layers' Dense.call does for a non-fusable activation (matMul, then bias add) from the
// recorded input of the Dense, and checked to give the model output through tf.softmax bit for
// bit. With opts.checkPredict, each such case's output is also checked to equal model.predict's.
async function writeRefsOnePass(model, dir, cases, preprocessing, extra, opts) {
  rmrf(path.join(dir, 'inputs'));
  rmrf(path.join(dir, 'refs'));
  const inputShape = model.inputs[0].shape.slice(1);
  const outLayer = model.outputLayers[0];
  const dense = outLayer.getClassName() === 'Dense' && outLayer.getConfig().activation === 'softmax' ? outLayer : null;
  const denseInput = dense ? dense.inboundNodes[0].inboundLayers[0] : null;
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const results = [];
  for (const c of cases) {
    const expected = inputShape.reduce((a, b) => a * b, 1);
    if (c.tensor.length !== expected) throw new Error(`${c.name}: input has ${c.tensor.length} values, want ${expected}`);
    const inputFile = `inputs/${c.name}.f32`;
    writeF32(path.join(dir, inputFile), c.tensor);
    const x = tf.tensor(c.tensor, [1, ...inputShape], 'float32');
    const recorded = c.layers ? layers.filter((l) => c.layers(l)) : [];
    const probes = recorded.filter((l) => l !== outLayer);
    if (c.layers && denseInput && !probes.includes(denseInput)) probes.push(denseInput);
    let outs;
    if (probes.length > 0) {
      const probe = tfl.model({inputs: model.inputs, outputs: [...probes.map((l) => l.output), outLayer.output]});
      outs = probe.predict(x);
    } else {
      outs = [model.predict(x)];
    }
    const y = outs[outs.length - 1];
    const output = Array.from(await y.data());
    if (probes.length > 0 && opts.checkPredict) {
      const p = model.predict(x);
      const want = await p.data();
      for (let i = 0; i < want.length; ++i) {
        if (want[i] !== output[i]) throw new Error(`${c.name}: probe model output != predict at ${i}`);
      }
      tf.dispose(p);
    }
    const entry = {name: c.name, image: c.image, input_tensor: inputFile, output_shape: y.shape, output};
    const order = output.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    entry.top5 = order.slice(0, Math.min(5, output.length)).map(([v, i]) => ({index: i, value: v}));
    if (c.layers) {
      entry.layers = [];
      const write = async (name, className, t, fileName) => {
        const file = `refs/${c.name}/${fileName}.f32`;
        writeF32(path.join(dir, file), await t.data());
        entry.layers.push({name, class_name: className, shape: t.shape, file});
      };
      for (const l of recorded) {
        const t = l === outLayer ? y : outs[probes.indexOf(l)];
        await write(l.name, l.getClassName(), t, l.name);
      }
      if (dense) {
        const [kernel, bias] = dense.getWeights();
        const logits = tf.add(tf.matMul(outs[probes.indexOf(denseInput)], kernel), bias);
        const probs = await tf.softmax(logits).data();
        for (let i = 0; i < probs.length; ++i) {
          if (probs[i] !== output[i]) throw new Error(`${c.name}: softmax(logits) != model output at ${i}`);
        }
        await write(`${dense.name}/pre_softmax`, 'Dense (logits, before its softmax)', logits,
          `${dense.name}.pre_softmax`);
        tf.dispose(logits);
      }
      entry.layers_omitted = layers.filter((l) => !recorded.includes(l)).map((l) => l.name);
    }
    tf.dispose([x, ...outs]);
    results.push(entry);
  }
  const ref = {
    model: path.basename(dir),
    model_json: 'model.json',
    generated_by: versions(),
    note: 'Outputs of the model loaded from model.json + shards with tf.loadLayersModel, cpu backend. ' +
      'All .f32 files are raw float32 little-endian, row-major NHWC (batch 1), shapes below.',
    tolerance: 1e-4,
    input: {layer: model.inputLayers[0].name, shape: [1, ...inputShape], dtype: 'float32', layout: 'NHWC'},
    preprocessing,
    output_layer: outLayer.name,
    ...extra,
    cases: results,
  };
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref, null, 1) + '\n');
  return ref;
}

async function makeMobilenetV2(outDir, source) {
  const dir = path.join(outDir, 'mobilenet_v2');
  const files = extractModel('mobilenet_v2', dir);
  const model = await loadModel(dir);
  const filter = everyNth(model);
  // The photos are copied next to the model (images/), so the folder is self-contained and
  // images/ can serve as a calibration set.
  fs.mkdirSync(path.join(dir, 'images'), {recursive: true});
  const cases = kPhotos.map((p) => {
    const file = `${p}_224.png`;
    fs.copyFileSync(path.join(kImagesDir, file), path.join(dir, 'images', file));
    const img = readPngRgb(path.join(dir, 'images', file));
    return {name: p, image: `images/${file}`, tensor: preprocess(img.rgb, 255, 0),
      layers: kLayerPhotos.includes(p) ? filter : false};
  });
  for (const p of kTensorPhotos) {
    cases.push({name: p, image: `shared/models/ml5_darknet_tiny/inputs/${p}.f32`, tensor: readTensorPhoto(p), layers: false});
  }
  const calib = copyCalibPhotos(dir);
  return writeRefsOnePass(model, dir, cases,
    {formula: 'x = pixel / 255', divisor: 255, offset: 0, channel_order: 'RGB', input_dtype: 'float32'},
    {source: {...source, path: 'dist/models/mobilenet_v2', files}, labels: labels(), calibration: calib,
      calibration_note: 'calib/ holds real photos from Debian packages, none of them a case below: calibrate on it, evaluate on the cases',
      layer_selection: `every ${kLayerStride}th entry of model.layers, the output layer, and the logits`},
    {checkPredict: true});
}

async function makeInceptionV3(outDir, source) {
  const dir = path.join(outDir, 'inception_v3');
  const files = extractModel('inception_v3', dir);
  const model = await loadModel(dir);
  fs.mkdirSync(path.join(dir, 'images'), {recursive: true});
  // Every test photo at 299x299: the 224x224 photo padded by replicating its edge pixels. Per-layer
  // outputs for chelsea only (each case is one InceptionV3 pass of TF.js's pure-JS backend).
  const cases = kPhotos.map((p) => {
    const img = edgePad(readPngRgb(path.join(kImagesDir, `${p}_224.png`)), kInceptionPad.before, kInceptionPad.after);
    writePngRgb(path.join(dir, 'images', `${p}_299.png`), img.width, img.height, img.rgb);
    return {name: `${p}_299`, image: `images/${p}_299.png`, tensor: preprocess(img.rgb, 255, 0),
      layers: p === 'chelsea' ? everyNth(model) : false};
  });
  for (const p of kTensorPhotos) {
    cases.push({name: `${p}_299`, image: `shared/models/ml5_darknet_tiny/inputs/${p}.f32, edge-padded`,
      tensor: edgePadTensor(readTensorPhoto(p), 224, 3, kInceptionPad.before, kInceptionPad.after), layers: false});
  }
  const calib = copyCalibPhotos(dir);
  return writeRefsOnePass(model, dir, cases,
    {formula: 'x = pixel / 255', divisor: 255, offset: 0, channel_order: 'RGB', input_dtype: 'float32'},
    {source: {...source, path: 'dist/models/inception_v3', files}, labels: labels(), calibration: calib,
      calibration_note: 'calib/ holds real photos from Debian packages, none of them a case below: calibrate on it, evaluate on the cases',
      image_note: `every case = a 224x224 test photo (samples/images/<name>_224.png or a shared/ input tensor) ` +
        `padded by replicating edge pixels (${kInceptionPad.before} before, ${kInceptionPad.after} after, both axes); no resampling`,
      layer_selection: `every ${kLayerStride}th entry of model.layers, the output layer, and the logits`},
    {checkPredict: false});  // a second InceptionV3 pass would double the TF.js time
}

async function main() {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length !== 1) {
    console.error('usage: node thirdparty.js OUT_DIR [--force]');
    process.exit(2);
  }
  const outDir = path.resolve(positional[0]);
  await tf.setBackend('cpu');
  await tf.ready();
  if (tf.getBackend() !== 'cpu') throw new Error(`backend is ${tf.getBackend()}, want cpu`);
  const version = packageVersion();
  checkInputFiles();
  const stamp = stampFor(version);
  if (!force && stampMatches(outDir, stamp)) {
    console.log(`thirdparty: ${outDir} is up to date (${kPackage} ${version})`);
    return;
  }
  fs.mkdirSync(outDir, {recursive: true});
  fs.rmSync(path.join(outDir, 'stamp.json'), {force: true});
  const source = {package: kPackage, version, license: 'MIT', registry: 'https://registry.npmjs.org/'};
  const steps = {mobilenet_v2: makeMobilenetV2, inception_v3: makeInceptionV3};
  for (const [name, step] of Object.entries(steps)) {
    fs.rmSync(path.join(outDir, name), {recursive: true, force: true});
    const t0 = Date.now();
    const ref = await step(outDir, source);
    const tops = ref.cases.map((c) => `${c.name}: ${labels()[c.top5[0].index]} ${c.top5[0].value.toFixed(5)}`);
    console.log(`thirdparty: ${name} in ${((Date.now() - t0) / 1000).toFixed(1)} s; top-1 ${tops.join(', ')}`);
  }
  stamp.models = Object.keys(steps);
  stamp.generated_by = versions();
  fs.writeFileSync(path.join(outDir, 'stamp.json'), JSON.stringify(stamp, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
