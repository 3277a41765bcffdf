'use strict';
// Deterministic pseudo-random numbers (mulberry32 + Box-Muller). Every random
// value used by make_samples.js comes from here, so a rerun reproduces the same
// images, weights and training run.

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  constructor(seed) {
    this.next_ = mulberry32(seed);
    this.spare_ = null;
  }
  // Uniform in [0, 1).
  random() { return this.next_(); }
  uniform(lo, hi) { return lo + (hi - lo) * this.next_(); }
  // Integer in [lo, hi] inclusive.
  int(lo, hi) { return lo + Math.floor(this.next_() * (hi - lo + 1)); }
  normal(mean = 0, std = 1) {
    if (this.spare_ !== null) {
      const v = this.spare_;
      this.spare_ = null;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.next_();
    const v = this.next_();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare_ = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }
  shuffle(array) {
    for (let i = array.length - 1; i > 0; --i) {
      const j = Math.floor(this.next_() * (i + 1));
      [array[i], array[j]] = [array[j], array[i]];
    }
    return array;
  }
  // Float32Array of `n` values drawn by `fn(rng)`.
  fill(n, fn) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; ++i) out[i] = fn(this);
    return out;
  }
}

// Replace Math.random (used by tfjs for unseeded initializers, dropout masks and
// shuffling) with a seeded generator. Must run before any tfjs randomness.
function seedMathRandom(seed) {
  const gen = mulberry32(seed);
  Math.random = gen;
}

module.exports = {Rng, seedMathRandom};
