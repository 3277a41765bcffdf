#!/usr/bin/env python3
"""Writes fixtures that are a valid Keras .h5 with a few bytes changed (no h5py needed).

  bad_vlen_length.h5  tiny_dense_k3legacy.h5 (written by make_keras_fixtures.py) whose
                      variable-length weight_names value 'tiny_dense/dense_1/bias' (23 bytes
                      in global heap object 4) declares a length of 20. libhdf5 1.10 copies an
                      object's own size into a conversion buffer sized from the declared length
                      (at least 4 KiB, so this small one does not overflow it; a larger object
                      would); EMC refuses any mismatch.

Layouts from the HDF5 File Format Specification 3.0: a global heap collection ("GCOL", IV.B)
and a variable-length value stored as length(4), collection address(8), object index(4).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def heap_objects(b, at):
    """(index, size) of each object of the collection at `at` (8-byte lengths)."""
    size = struct.unpack_from("<Q", b, at + 8)[0]
    p, end, out = at + 16, at + size, []
    while end - p >= 16:
        idx = struct.unpack_from("<H", b, p)[0]
        n = struct.unpack_from("<Q", b, p + 8)[0]
        if idx == 0:
            break
        out.append((idx, n, b[p + 16:p + 16 + n]))
        p += 16 + ((n + 7) & ~7)
    return out


def main():
    b = bytearray(open(os.path.join(HERE, "tiny_dense_k3legacy.h5"), "rb").read())
    gcol = b.find(b"GCOL")
    idx, n = next((i, n) for i, n, d in heap_objects(b, gcol) if d == b"tiny_dense/dense_1/bias")
    ref = struct.pack("<IQI", n, gcol, idx)  # the superblock is at 0: address = offset
    at = b.find(ref)
    assert at > 0 and b.find(ref, at + 1) < 0, "expected exactly one reference"
    struct.pack_into("<I", b, at, n - 3)
    open(os.path.join(HERE, "bad_vlen_length.h5"), "wb").write(b)


if __name__ == "__main__":
    main()
