'use strict';
// Deterministic renderer for the synthetic "shapes" classification task:
// 32x32 RGB images, one anti-aliased shape (4x4 supersampling) with random
// colour, size, position and rotation on a random gradient background with
// pixel noise.

const kClasses = ['circle', 'square', 'triangle', 'plus', 'ring', 'diamond', 'x_cross', 'star'];
const kSize = 32;
const kSub = 4;  // supersampling per axis

function polygonContains(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function regularPolygon(n, radius, phase) {
  const pts = [];
  for (let k = 0; k < n; ++k) {
    const a = phase + (2 * Math.PI * k) / n;
    pts.push([radius * Math.cos(a), radius * Math.sin(a)]);
  }
  return pts;
}

function starPolygon(inner) {
  const pts = [];
  for (let k = 0; k < 10; ++k) {
    const a = -Math.PI / 2 + (Math.PI * k) / 5;
    const r = k % 2 === 0 ? 1 : inner;
    pts.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return pts;
}

const kDeg = Math.PI / 180;

// Returns {inside(u, v) in unit shape coordinates, rotation (rad)}.
function shapeSpec(cls, rng) {
  switch (cls) {
    case 'circle':
      return {rot: 0, inside: (u, v) => u * u + v * v <= 1};
    case 'ring': {
      const t = rng.uniform(0.3, 0.45);
      const r2 = (1 - t) * (1 - t);
      return {rot: 0, inside: (u, v) => { const d = u * u + v * v; return d <= 1 && d >= r2; }};
    }
    case 'square':
      return {rot: rng.uniform(-15, 15) * kDeg, inside: (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8};
    case 'diamond':
      return {rot: (45 + rng.uniform(-15, 15)) * kDeg, inside: (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8};
    case 'triangle': {
      const poly = regularPolygon(3, 1, -Math.PI / 2);
      return {rot: rng.uniform(0, 360) * kDeg, inside: (u, v) => polygonContains(poly, u, v)};
    }
    case 'star': {
      const poly = starPolygon(rng.uniform(0.38, 0.5));
      return {rot: rng.uniform(0, 360) * kDeg, inside: (u, v) => polygonContains(poly, u, v)};
    }
    case 'plus':
    case 'x_cross': {
      const w = rng.uniform(0.22, 0.34);
      const base = cls === 'plus' ? 0 : 45;
      return {
        rot: (base + rng.uniform(-15, 15)) * kDeg,
        inside: (u, v) => (Math.abs(u) <= w && Math.abs(v) <= 1) || (Math.abs(v) <= w && Math.abs(u) <= 1),
      };
    }
    default:
      throw new Error(`unknown class ${cls}`);
  }
}

function randomColour(rng) {
  return [rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)];
}

function colourDistance(a, b) {
  return Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
}

// Renders one image of class index `label`. Returns Uint8Array(32*32*3) RGB.
function renderShape(label, rng) {
  const cls = kClasses[label];
  const bg0 = randomColour(rng);
  const bg1 = bg0.map((c) => Math.min(255, Math.max(0, c + rng.uniform(-60, 60))));
  let fg = randomColour(rng);
  for (let tries = 0; tries < 100 && colourDistance(fg, bg0) < 150; ++tries) fg = randomColour(rng);
  const gradAngle = rng.uniform(0, 2 * Math.PI);
  const gx = Math.cos(gradAngle);
  const gy = Math.sin(gradAngle);
  const radius = rng.uniform(6, 13);
  const margin = radius * 0.85;
  const cx = rng.uniform(margin, kSize - margin);
  const cy = rng.uniform(margin, kSize - margin);
  const noise = rng.uniform(0, 14);
  const spec = shapeSpec(cls, rng);
  const cr = Math.cos(spec.rot);
  const sr = Math.sin(spec.rot);
  const out = new Uint8Array(kSize * kSize * 3);
  // Every shape lies inside the circle of radius 1.15 (unit coordinates);
  // pixels whose centre is farther than that plus a pixel diagonal are empty.
  const reach = radius * 1.15 + 0.75;
  for (let y = 0; y < kSize; ++y) {
    for (let x = 0; x < kSize; ++x) {
      let hit = 0;
      const far = Math.hypot(x + 0.5 - cx, y + 0.5 - cy) > reach;
      for (let sy = 0; sy < kSub && !far; ++sy) {
        for (let sx = 0; sx < kSub; ++sx) {
          const dx = (x + (sx + 0.5) / kSub - cx) / radius;
          const dy = (y + (sy + 0.5) / kSub - cy) / radius;
          // Rotate the sample point by -rot into shape coordinates.
          const u = cr * dx + sr * dy;
          const v = -sr * dx + cr * dy;
          if (spec.inside(u, v)) ++hit;
        }
      }
      const alpha = hit / (kSub * kSub);
      const t = 0.5 + 0.5 * (((x - 15.5) * gx + (y - 15.5) * gy) / 22);
      for (let c = 0; c < 3; ++c) {
        const bg = bg0[c] * (1 - t) + bg1[c] * t;
        const v = bg * (1 - alpha) + fg[c] * alpha + rng.normal(0, noise);
        out[(y * kSize + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return out;
}

// n images with labels cycling through the classes in a shuffled order.
function makeDataset(n, rng) {
  const labels = [];
  for (let i = 0; i < n; ++i) labels.push(i % kClasses.length);
  rng.shuffle(labels);
  const images = labels.map((l) => renderShape(l, rng));
  return {images, labels};
}

module.exports = {kClasses, kSize, renderShape, makeDataset};
