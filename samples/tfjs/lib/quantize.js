'use strict';
// Weight quantization in the format that tfjs-core's io_utils.decodeWeights
// reads (the format tensorflowjs_converter writes with --quantize_uint8 /
// --quantize_float16):
//   uint8:   manifest entry gets "quantization": {"dtype": "uint8", "min": m,
//            "scale": s, "original_dtype": "float32"}; one byte q per value;
//            the loader computes value = q * s + m (in double, stored as float32).
//   float16: "quantization": {"dtype": "float16", "original_dtype": "float32"};
//            IEEE binary16 little-endian per value.
// The uint8 scheme follows the converter's documented affine quantization:
// scale = (max - min) / 255; if min <= 0 <= max the range is nudged so that 0
// is exactly representable (zero point rounded, min = -zero_point * scale);
// q = round_half_even((clip(x, min, max') - min) / scale). A constant tensor
// is stored as all-zero bytes with scale 1 and min = the constant.

function roundHalfEven(x) {
  const r = Math.round(x);
  // Math.round rounds .5 up; numpy's round (used by the converter) rounds to even.
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

function quantizeUint8(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const bytes = new Uint8Array(values.length);
  if (lo === hi) return {bytes, meta: {dtype: 'uint8', min: lo, scale: 1, original_dtype: 'float32'}};
  const scale = (hi - lo) / 255;
  let min = lo;
  let max = hi;
  if (lo <= 0 && hi >= 0) {
    const zeroPoint = roundHalfEven(-lo / scale);
    min = -zeroPoint * scale;
    max = 255 * scale + min;
  }
  for (let i = 0; i < values.length; ++i) {
    const v = Math.min(max, Math.max(min, values[i]));
    bytes[i] = Math.min(255, Math.max(0, roundHalfEven((v - min) / scale)));
  }
  return {bytes, meta: {dtype: 'uint8', min, scale, original_dtype: 'float32'}};
}

// What tfjs-core's decoder yields for a uint8-quantized tensor.
function dequantizeUint8(bytes, meta) {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; ++i) out[i] = bytes[i] * meta.scale + meta.min;
  return out;
}

// float32 -> IEEE 754 binary16 bits, round to nearest even; overflow -> inf,
// NaN kept (quiet), subnormals handled.
function toFloat16Bits(value) {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);  // inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;                            // overflow
  if (e <= 0) {                                                    // subnormal or zero
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half += 1;  // may carry into exponent: correct
  return sign | half;
}

function fromFloat16Bits(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * Math.pow(2, -24);
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * Math.pow(2, e - 15);
}

function quantizeFloat16(values) {
  const halfs = new Uint16Array(values.length);
  for (let i = 0; i < values.length; ++i) halfs[i] = toFloat16Bits(values[i]);
  const bytes = new Uint8Array(halfs.buffer);  // little-endian on x86/ARM hosts
  return {bytes, meta: {dtype: 'float16', original_dtype: 'float32'}};
}

module.exports = {quantizeUint8, dequantizeUint8, quantizeFloat16, toFloat16Bits, fromFloat16Bits, roundHalfEven};
