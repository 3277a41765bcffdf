#!/usr/bin/env python3
"""Writes fuzz/seeds/kmodel/*.kmodel: small valid kmodels that use EMC's layer types, laid out
by hand from docs/format.md (not by our encoder), so the kmodel fuzz target starts inside the
EMC body decoders and validators. tests/format/emc_layers_test.cpp parses every one."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kmodel")

EMC_CONV2D, EMC_DW, EMC_F32, EMC_DW_F32 = 0x454D0001, 0x454D0002, 0x454D0003, 0x454D0004
EMC_Q, EMC_DQ = 0x454D0010, 0x454D0011
EMC_MAXPOOL, EMC_AVGPOOL = 0x454D0020, 0x454D0021
EMC_ELTWISE, EMC_CONCAT, EMC_LUT, EMC_PADCROP, EMC_RESIZE = (0x454D0030, 0x454D0031, 0x454D0032,
                                                              0x454D0033, 0x454D0034)
EMC_PRELU = 0x454D0035


def u32(*v):
    return struct.pack("<%dI" % len(v), *v)


def i32(*v):
    return struct.pack("<%di" % len(v), *v)


def geometry(src, dst, iw, ih, ic, ow, oh, oc, kw, kh, sw, sh, dw, dh, pl, pr, pt, pb, m):
    return u32(0, src, dst, iw, ih, ic, ow, oh, oc, kw, kh, sw, sh, dw, dh, pl, pr, pt, pb, m)


def conv_int8(src, dst, g, oc, nweights, zp_in=-3, zp_out=4):
    w = bytes((i * 37) & 0xFF for i in range(nweights))
    w += b"\0" * ((-len(w)) % 4)
    return (g + i32(zp_in, zp_out, -128, 127) + w + i32(*[100 * o - 50 for o in range(oc)])
            + i32(*[(1 << 30) + o for o in range(oc)]) + i32(*[-8 - o for o in range(oc)]))


def kmodel(layers, outputs, main_mem):
    head = u32(3, 1, 0, len(layers), 0, main_mem, len(outputs))
    head += b"".join(u32(a, s) for a, s in outputs)
    bodies = []
    pos = len(head) + 8 * len(layers)
    for _, body in layers:
        pad = (-(pos + len(body))) % 8
        bodies.append(body + b"\0" * pad)
        pos += len(body) + pad
    head += b"".join(u32(t, len(b)) for (t, _), b in zip(layers, bodies))
    return head + b"".join(bodies)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    # float 6x5x3 at 0 -> int8 at 360 -> 3x3 conv stride 2 dilation 1, pads 1 -> 3x3x4 at 460
    # -> dequantize to float at 512.
    g = geometry(360, 460, 6, 5, 3, 3, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1)
    seeds["emc_quantize_conv_dequantize"] = kmodel(
        [(EMC_Q, u32(0, 0, 360, 90) + struct.pack("<f", 0.05) + i32(-10)),
         (EMC_CONV2D, conv_int8(360, 460, g, 4, 4 * 3 * 9)),
         (EMC_DQ, u32(0, 460, 512, 36) + struct.pack("<f", 0.1) + i32(4))],
        [(512, 144)], 656)
    # depthwise 7x1 kernel, multiplier 2, dilation 2 wide: 9x4x2 -> out (9+3+3-13)/1+1 = 3 wide.
    g = geometry(0, 72, 9, 4, 2, 3, 4, 4, 7, 1, 1, 1, 2, 1, 3, 3, 0, 0, 2)
    seeds["emc_depthwise_7x1_dilated"] = kmodel(
        [(EMC_DW, conv_int8(0, 72, g, 4, 4 * 7))], [(72, 48)], 120)
    # float 5x5 conv, 4x4x1 -> 4x4x2 with pads 2 each side, ReLU6 clamp.
    g = geometry(0, 64, 4, 4, 1, 4, 4, 2, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1)
    body = g + struct.pack("<2f", 0.0, 6.0) + struct.pack("<50f", *[0.01 * i for i in range(50)])
    body += struct.pack("<2f", 0.5, -0.5)
    seeds["emc_conv2d_f32_5x5"] = kmodel([(EMC_F32, body)], [(64, 128)], 192)
    g = geometry(0, 64, 4, 4, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    body = g + struct.pack("<2f", -1e30, 1e30) + struct.pack("<9f", *[0.1] * 9) + struct.pack("<f", 0)
    seeds["emc_depthwise_f32_3x3"] = kmodel([(EMC_DW_F32, body)], [(64, 64)], 128)
    # int8 chain: quantize 6x6x2 float at 0 -> int8 at 288; max pool 3x3 stride 2 pads r1 b1
    # (identity requantization) -> 3x3x2 at 360; average pool 2x2 stride 1 pads r1 b1 (M = 0.75)
    # -> 380; add of the max pool and a per-channel b (2 bytes at 400) -> 402; LUT -> 420; pad
    # left 1 / crop right 1 -> 440; half-pixel resize to 6x6x2 -> 460; concat of the max pool
    # (identity) and the LUT output (requantized) -> 4x3x3 at 540.
    pool_max = u32(0, 288, 360, 6, 6, 2, 3, 3, 3, 3, 2, 2, 0, 1, 0, 1) + i32(-4, -4, 1 << 30, 1, -128, 127)
    pool_avg = u32(0, 360, 380, 3, 3, 2, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1) + i32(-4, 3, 0x60000000, 0, -128, 127)
    add = (u32(0, 360, 400, 402, 0, 1, 2, 9) + i32(20, -4, 1 << 30, 0, 5, 1 << 30, -1, 0, 1 << 30, -18)
           + i32(-128, 127))
    lut = u32(0, 402, 420, 18) + bytes((127 - i) & 0xFF for i in range(256))
    padcrop = u32(0, 420, 440, 3, 3, 2, 3, 3) + i32(1, -1, 0, 0, -4)
    resize = u32(0, 440, 460, 3, 3, 2, 6, 6, 1)
    concat = (u32(0, 540, 9) + i32(-4) + u32(2) + u32(360, 2) + i32(-4, 1 << 30, 1)
              + u32(420, 2) + i32(7, 1431655765, 0))
    seeds["emc_int8_ops_chain"] = kmodel(
        [(EMC_Q, u32(0, 0, 288, 72) + struct.pack("<f", 0.05) + i32(-4)),
         (EMC_MAXPOOL, pool_max), (EMC_AVGPOOL, pool_avg), (EMC_ELTWISE, add), (EMC_LUT, lut),
         (EMC_PADCROP, padcrop), (EMC_RESIZE, resize), (EMC_CONCAT, concat)],
        [(540, 36), (460, 72)], 576)
    # PReLU: quantize 3x4x2 float at 0 -> int8 at 96; PReLU per channel (alpha 0.25 as 2^29 with
    # shift 0, alpha -0.5 as -2^30 with shift 0; positive side 2^30 with shift 1 = identity) ->
    # 120; a second one sharing one alpha over a plane of 24 (pos_shift -31..30 edges) -> 144;
    # dequantize -> float at 168.
    prelu = (u32(0, 96, 120, 2, 12) + i32(-4, 3, 1 << 30, 1)
             + i32(1 << 29, -(1 << 30)) + i32(0, 0))
    prelu_shared = (u32(0, 120, 144, 1, 24) + i32(3, -128, 0x7FFFFFFF, -31)
                    + i32(-0x7FFFFFFF) + i32(30))
    seeds["emc_prelu_chain"] = kmodel(
        [(EMC_Q, u32(0, 0, 96, 24) + struct.pack("<f", 0.05) + i32(-4)),
         (EMC_PRELU, prelu), (EMC_PRELU, prelu_shared),
         (EMC_DQ, u32(0, 144, 168, 24) + struct.pack("<f", 0.1) + i32(-128))],
        [(168, 96)], 264)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".kmodel"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
