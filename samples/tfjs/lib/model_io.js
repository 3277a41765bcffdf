'use strict';
// Writing a tfjs LayersModel to model.json + .bin shards, and loading it back
// through tfjs's own HTTP loader (tf.io.http) with a fetch that reads files, so
// shard concatenation and weight decoding are exactly what a browser would do.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');

const kDefaultShardBytes = 4 * 1024 * 1024;  // tensorflowjs_converter's default

// Splits `bytes` (Uint8Array) into shard files named like the converter does
// ("group1-shard1of2.bin", ...). `shardBytes` may be a number or an explicit
// list of shard sizes. Returns the list of file names.
function writeShards(dir, bytes, shardBytes) {
  const sizes = [];
  if (Array.isArray(shardBytes)) {
    let total = 0;
    for (const s of shardBytes) { sizes.push(s); total += s; }
    if (total !== bytes.length) throw new Error(`shard sizes sum ${total} != ${bytes.length}`);
  } else {
    for (let off = 0; off < bytes.length; off += shardBytes) {
      sizes.push(Math.min(shardBytes, bytes.length - off));
    }
  }
  const names = [];
  let off = 0;
  sizes.forEach((size, i) => {
    const name = `group1-shard${i + 1}of${sizes.length}.bin`;
    fs.writeFileSync(path.join(dir, name), bytes.subarray(off, off + size));
    names.push(name);
    off += size;
  });
  return names;
}

// Removes old shard files so a rerun with a different shard count leaves no stale files.
function removeOldShards(dir) {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    if (/^group\d+-shard\d+of\d+\.bin$/.test(f)) fs.unlinkSync(path.join(dir, f));
  }
}

function writeModelJson(dir, artifacts, weightsManifest) {
  const modelJson = {
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    modelTopology: artifacts.modelTopology,
    weightsManifest,
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson, null, 1) + '\n');
}

// Captures the artifacts that model.save() produces (topology, weight specs,
// weight bytes) without writing anything.
async function captureArtifacts(model) {
  let captured = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    captured = artifacts;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  captured.weightData = new Uint8Array(tf.io.CompositeArrayBuffer.join(captured.weightData));
  return captured;
}

// Saves a float32 model as produced by model.save() (one weight group).
async function saveFloatModel(model, dir, shardBytes = kDefaultShardBytes) {
  fs.mkdirSync(dir, {recursive: true});
  const artifacts = await captureArtifacts(model);
  removeOldShards(dir);
  const paths = writeShards(dir, artifacts.weightData, shardBytes);
  writeModelJson(dir, artifacts, [{paths, weights: artifacts.weightSpecs}]);
  return artifacts;
}

async function fileFetch(url) {
  const data = fs.readFileSync(url);
  return new Response(data, {status: 200});
}

// Loads dir/model.json (and its shards) with tfjs's loader.
async function loadModel(dir) {
  const url = path.resolve(dir, 'model.json');
  return tfl.loadLayersModel(tf.io.http(url, {fetchFunc: fileFetch}), {strict: true});
}

function writeF32(file, data) {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(file, Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
}

module.exports = {
  captureArtifacts, saveFloatModel, writeShards, removeOldShards, writeModelJson, loadModel,
  writeF32, kDefaultShardBytes,
};
