// onnxruntime-node per-inference CPU time (process.cpuUsage, user + system, all threads) and wall
// time, medians: the peer side of bench/compare_peers.sh's CPU-time table. Same session options
// and input as ../shared/perf/bench_ort.js.
// Usage: node bench_ort_cpu.js MODEL.onnx THREADS [RUNS=30] [WARMUP=10]
// Prints one line: ort MODEL threads=N median=.. ms cpu_median=.. ms (runs=..)
'use strict';
const ort = require('onnxruntime-node');
const path = require('path');

function median(ts) {
  const s = [...ts].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  const [model, threadsArg, runsArg, warmArg] = process.argv.slice(2);
  const threads = parseInt(threadsArg || '1', 10);
  const runs = parseInt(runsArg || '30', 10);
  const warm = parseInt(warmArg || '10', 10);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const meta = sess.inputMetadata ? sess.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape : [1, 3, 224, 224];
  const type = meta && meta.type ? meta.type : 'float32';
  const n = dims.reduce((a, b) => a * b, 1);
  let data;
  if (type === 'uint8') {
    data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = (i * 131) & 255;
  } else {
    data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 2;
  }
  const feeds = { [sess.inputNames[0]]: new ort.Tensor(type, data, dims) };
  for (let i = 0; i < warm; i++) await sess.run(feeds);
  const wall = [], cpu = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
  }
  console.log(`ort ${path.basename(model)} threads=${threads} median=${median(wall).toFixed(3)} ms ` +
              `cpu_median=${median(cpu).toFixed(3)} ms (runs=${runs})`);
}
main().catch((e) => { console.error('ERROR', e.message || e); process.exit(1); });
