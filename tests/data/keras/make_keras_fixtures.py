#!/usr/bin/python3
"""Writes the Keras .h5 / .keras test fixtures in this folder from the TF.js samples.

Run with Debian's python3 (python3-h5py, python3-numpy):  /usr/bin/python3 make_keras_fixtures.py

No Keras is involved: each file is laid out with h5py / zipfile exactly as the Keras version named
below writes it, and its weights are the TF.js sample's weights (samples/models/<name>), so the
test can compare the import with the model.json import of the same sample:

  shapes_cnn_k2.h5         Keras 2 model.save(): root attrs model_config / keras_version /
                           backend as FIXED-length strings, model_weights/<layer> groups with
                           `weight_names`, dataset paths with `_1` suffixes as Keras writes for a
                           model built twice (model_weights/conv1/conv1_1/kernel:0), float32
  tiny_dense_k3legacy.h5   Keras 3 legacy .h5: VARIABLE-length strings, weight_names are variable
                           paths without ':0' (model_weights/dense_1/tiny_dense/dense_1/kernel),
                           FLOAT16 datasets (the sample's weights are float16 already: exact)
  tiny_dense_f64.h5        Keras 2 layout with FLOAT64 datasets (float32 values widened: exact)
  teachable_nested_k2.h5   Keras 2 model.save() of a Sequential of two nested Sequentials: one
                           model_weights group per nested model, whose weight_names are the inner
                           layers' own weight names ('Conv1/kernel:0', ...), as Keras 2 writes them
  shapes_cnn_k3.keras      Keras 3 .keras: config.json (Keras 3 serialization), metadata.json,
                           model.weights.h5 with layers/<snake_class>[_N]/vars/<i>; the config's
                           layer names are SWAPPED against the class order (the first Conv2D is
                           named 'conv2d_1', the second 'conv2d'), so matching by name would swap
                           them: Keras (and EMC) match by order. config.json deflated, the rest
                           stored.
  shapes_cnn_k213.keras    Keras 2.13 .keras: weights under _layer_checkpoint_dependencies/, every
                           layer with weights listed twice (layer_with_weights-k, layer-i) and the
                           skipped second listing consuming a number (conv2d, conv2d_2, ...);
                           same swapped names; all members deflated.
  tiny_dense_k213.keras    Keras 2.13 layout whose second listing does not consume a number
                           (dense, dense_1), the other numbering found in 2.13-era saving_lib.
  normalization_k2.h5      Keras 2.13 model.save() of Sequential [Normalization (axis -1, adapted:
                           mean [1, 8, 5], variance [4, 0.25, 1], count 4), Normalization (axis
                           None, invert, adapted: mean 2, variance 9)]: weights mean:0, variance:0
                           and an INT64 count:0; axis as Keras writes its tuple ([-1], [])
  normalization_k3.keras   the same model as Keras 3 saves it (vars/0..2, int64 vars/2)
  shapes_cnn_norm_k2.h5    shapes_cnn_k2.h5 with a Normalization first, adapted as on raw pixels
                           whose statistics are mean 0, variance 255^2 per channel: (p - 0) / 255
                           is the sample's own input p / 255, so on raw pixels it computes what
                           the sample computes
  shapes_cnn_norm_rgb_k2.h5  the same with mean [123, 116, 104], variance [58^2, 57^2, 56^2]: the
                           sample fed (p - mean_c) / std_c, what --input-range
                           mean=123,116,104:std=58,57,56 feeds it
  shapes_cnn_rescale_norm_k2.h5  the sample behind Rescaling(1/255) and a Normalization with mean
                           0.5, variance 0.25: (p / 255 - 0.5) / 0.5 = p / 127.5 - 1, what
                           --input-range -1,1 feeds it
  shapes_cnn_deep_btree_k2.h5  shapes_cnn_k2.h5 written with group node K values of 1 (at most 2
                           children per B-tree node, 2 entries per symbol table node), so that
                           /model_weights has a B-tree of 5 levels
Malformed (each test expects an error naming the file and the object):
  bad_missing_group.h5     layer_names lists dense_2, whose group is absent
  bad_missing_dataset.h5   weight_names of dense_2 lists bias:0, which is absent
  bad_wrong_shape.h5       dense_1 kernel stored [32, 48] instead of [48, 32]
  bad_truncated.h5         the first 3000 bytes of tiny_dense_f64.h5
  bad_not_hdf5.h5          a text file
  weights_only.h5          model.save_weights() layout: no model_config
  bad_zip_bomb.keras       model.weights.h5 declares 2 GB inflated from 1 KiB (impossible ratio)
  bad_zip_overflow.keras   model.weights.h5 declares 100 bytes but inflates to 1 MiB of zeros
  bad_dotdot.keras         a member named '../config.json'
  bad_member_names.keras   members model.json / weights.h5 instead of config.json /
                           model.weights.h5
  bad_truncated.keras      the first half of shapes_cnn_k3.keras
  bad_orphan_group.keras   an extra weight group layers/dense_7 that no layer claims
  bad_float_bits.h5        tiny_dense in float32 whose first dataset's datatype declares a
                           precision of 64 bits in 4-byte elements
  bad_superblock_extension.h5  a version-3 superblock (libver 'latest', persistent free-space
                           manager) whose extension's first message is made a driver info
                           message (type 0x14) declaring 65535 bytes of data in its 125-byte
                           message, the chunk's checksum recomputed; libhdf5 1.10 would copy
                           that many bytes from past the message while it opens the file
  bad_btree_sibling_loop.h5  shapes_cnn_deep_btree_k2.h5 whose /model_weights B-tree has a
                           leaf-level node that names itself as its right sibling
  bad_symbol_node_overfull.h5  shapes_cnn_deep_btree_k2.h5 whose first /model_weights symbol
                           table node claims 3 entries where K = 1 leaves room for 2
Not written by this script: fuzz_hang_global_heap.h5, fuzz_attr_overflow.h5,
fuzz_huge_header_chunk.h5, fuzz_heap_object_overflow.h5, fuzz_huge_driver_info.h5,
fuzz_compact_without_data.h5, fuzz_local_heap_free_list_loop.h5 and
fuzz_btree_undefined_address.h5,
fuzz_keras_h5 inputs that hang, overrun or over-allocate in libhdf5 (see fuzz/README.md); bad_vlen_length.h5, written by patch_keras_fixtures.py.
"""
import ctypes
import io
import json
import os
import struct
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "..", "samples", "models")


def load_sample(name):
    d = os.path.join(SAMPLES, name)
    m = json.load(open(os.path.join(d, "model.json")))
    blob = open(os.path.join(d, m["weightsManifest"][0]["paths"][0]), "rb").read()
    weights, off = {}, 0
    for w in m["weightsManifest"][0]["weights"]:
        n = int(np.prod(w["shape"])) if w["shape"] else 1
        q = w.get("quantization")
        if q and q["dtype"] == "float16":
            a = np.frombuffer(blob, "<f2", n, off).astype(np.float32)
            off += 2 * n
        else:
            a = np.frombuffer(blob, "<f4", n, off)
            off += 4 * n
        weights[w["name"]] = a.reshape(w["shape"])
    return m["modelTopology"], weights


ORDER = {"Conv2D": ["kernel", "bias"], "Dense": ["kernel", "bias"],
         "DepthwiseConv2D": ["depthwise_kernel", "bias"],
         "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
         "Normalization": ["mean", "variance", "count"]}


def layer_weights(layer, weights):
    """The layer's weights in Keras order (role, array)."""
    name = layer["config"]["name"]
    return [(r, weights[name + "/" + r]) for r in ORDER.get(layer["class_name"], [])
            if name + "/" + r in weights]


def fixed(s):
    return np.bytes_(s.encode())


def vlen_attr(obj, key, value):
    obj.attrs.create(key, value, dtype=h5py.string_dtype())


def fixed_list(items):
    return np.array([s.encode() for s in items], dtype="S%d" % max(1, max(len(s) for s in items)))


def write_keras2_h5(path, topo, weights, *, vlen=False, dtype=np.float32, suffix="",
                    keras3_paths=False, model_name="model", mutate=None, sym_k=None):
    cfg = {k: topo[k] for k in ("class_name", "config")}
    if sym_k:  # (internal, leaf) node K of symbol-table groups: small values make deep B-trees
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        # h5py has no binding for H5Pset_sym_k: call the libhdf5 it has loaded.
        hdf5 = ctypes.CDLL("libhdf5_serial.so.103")
        hdf5.H5Pset_sym_k.argtypes = [ctypes.c_int64, ctypes.c_uint, ctypes.c_uint]
        assert hdf5.H5Pset_sym_k(fcpl.id, *sym_k) >= 0
        h5file = h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl))
    else:
        h5file = h5py.File(path, "w")
    with h5file as f:
        put = (lambda o, k, v: vlen_attr(o, k, v)) if vlen else (lambda o, k, v: o.attrs.create(k, fixed(v)))
        put(f, "model_config", json.dumps(cfg))
        put(f, "keras_version", "3.3.3" if keras3_paths else "2.13.1")
        put(f, "backend", "tensorflow")
        mw = f.create_group("model_weights")
        layers = cfg["config"]["layers"]
        names = [l.get("name") or l["config"]["name"] for l in layers]
        mw.attrs.create("layer_names", fixed_list(names))
        for l, name in zip(layers, names):
            g = mw.create_group(name)
            ws = layer_weights(l, weights)
            wn = [(model_name + "/" + name + "/" + r) if keras3_paths else (name + suffix + "/" + r + ":0")
                  for r, _ in ws]
            if vlen and wn:
                g.attrs.create("weight_names", wn, dtype=h5py.string_dtype())
            else:
                g.attrs.create("weight_names", fixed_list(wn) if wn else np.zeros((0,), np.float64))
            for n, (_, a) in zip(wn, ws):
                g.create_dataset(n, data=a if a.dtype.kind in "iu" else a.astype(dtype))
        if mutate:
            mutate(f)


SNAKE3 = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization",
          "Activation": "activation", "MaxPooling2D": "max_pooling2d", "ReLU": "re_lu",
          "AveragePooling2D": "average_pooling2d", "Flatten": "flatten", "Dense": "dense",
          "Dropout": "dropout", "InputLayer": "input_layer"}


def keras3_config(topo, rename):
    """The TF.js Sequential topology as Keras 3 serializes it (module/registered_name, an
    InputLayer with batch_shape, dtype policies), layer names changed by `rename`."""
    layers = []
    first = topo["config"]["layers"][0]["config"]
    layers.append({"module": "keras.layers", "class_name": "InputLayer",
                   "config": {"batch_shape": first["batch_input_shape"], "dtype": "float32",
                              "sparse": False, "name": "input_layer"}, "registered_name": None})
    for l in topo["config"]["layers"]:
        c = dict(l["config"])
        c.pop("batch_input_shape", None)
        c["name"] = rename.get(c["name"], c["name"])
        c["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                      "registered_name": None}
        layers.append({"module": "keras.layers", "class_name": l["class_name"], "config": c,
                       "registered_name": None, "build_config": {"input_shape": None}})
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "sequential", "trainable": True, "dtype": "float32",
                       "layers": layers}, "registered_name": None, "build_config": {}}


def keras_weights_h5(topo, weights, container, dup_consumes, extra=None):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("vars")
        used = {}
        g = f.create_group(container)
        for l in topo["config"]["layers"]:
            if l["class_name"] == "InputLayer":
                continue
            s = SNAKE3[l["class_name"]]
            if s in used:
                used[s] += 1
                name = "%s_%d" % (s, used[s])
            else:
                used[s] = 0
                name = s
            vg = g.create_group(name).create_group("vars")
            ws = layer_weights(l, weights)
            for i, (_, a) in enumerate(ws):
                vg.create_dataset(str(i), data=a)
            if ws and dup_consumes:
                used[s] += 1
        if extra:
            extra(f)
        f.create_group("optimizer").create_group("vars")
    return buf.getvalue()


def write_zip(path, members, compress=None):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members:
            method = zipfile.ZIP_DEFLATED if (compress is None or name in compress) else zipfile.ZIP_STORED
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=method)


def main():
    os.chdir(HERE)
    shapes, shapes_w = load_sample("shapes_cnn")
    tiny, tiny_w = load_sample("tiny_dense")

    write_keras2_h5("shapes_cnn_k2.h5", shapes, shapes_w, suffix="_1")
    write_keras2_h5("tiny_dense_k3legacy.h5", tiny, tiny_w, vlen=True, dtype=np.float16,
                    keras3_paths=True, model_name="tiny_dense")
    write_keras2_h5("tiny_dense_f64.h5", tiny, tiny_w, dtype=np.float64)
    write_keras2_h5("shapes_cnn_deep_btree_k2.h5", shapes, shapes_w, suffix="_1", sym_k=(1, 1))

    write_nested_h5("teachable_nested_k2.h5", *load_sample("teachable_nested"))
    write_normalization_fixtures()
    write_shapes_behind_normalization("shapes_cnn_norm_k2.h5", shapes, shapes_w, [0, 0, 0],
                                      [255.0 ** 2] * 3)
    write_shapes_behind_normalization("shapes_cnn_norm_rgb_k2.h5", shapes, shapes_w,
                                      [123, 116, 104], [58.0 ** 2, 57.0 ** 2, 56.0 ** 2])
    write_shapes_behind_normalization("shapes_cnn_rescale_norm_k2.h5", shapes, shapes_w,
                                      [0.5] * 3, [0.25] * 3, rescale=1.0 / 255)

    # names swapped against the class order: the first Conv2D is 'conv2d_1', the second 'conv2d'
    rename = {"conv1": "conv2d_1", "conv2": "conv2d", "bn1": "bn_b", "bn2": "bn_a"}
    shapes_renamed = {"conv2d_1/" + k.split("/")[1] if k.startswith("conv1/") else
                      "conv2d/" + k.split("/")[1] if k.startswith("conv2/") else
                      "bn_b/" + k.split("/")[1] if k.startswith("bn1/") else
                      "bn_a/" + k.split("/")[1] if k.startswith("bn2/") else k: v
                      for k, v in shapes_w.items()}
    k3 = keras3_config(shapes, rename)
    k3_topo = {"config": {"layers": k3["config"]["layers"]}}
    meta3 = json.dumps({"keras_version": "3.3.3", "date_saved": "2024-01-01@00:00:00"})
    w3 = keras_weights_h5(k3_topo, shapes_renamed, "layers", False)
    write_zip("shapes_cnn_k3.keras", [("metadata.json", meta3), ("config.json", json.dumps(k3)),
                                      ("model.weights.h5", w3)], compress={"config.json"})
    k213 = dict(k3)
    meta213 = json.dumps({"keras_version": "2.13.1", "date_saved": "2023-07-01@00:00:00"})
    w213 = keras_weights_h5(k3_topo, shapes_renamed, "_layer_checkpoint_dependencies", True)
    write_zip("shapes_cnn_k213.keras", [("metadata.json", meta213),
                                        ("config.json", json.dumps(k213)),
                                        ("model.weights.h5", w213)])
    tiny_cfg = {"module": "keras", "class_name": "Functional",
                "config": tiny["config"], "registered_name": None}
    wt = keras_weights_h5(tiny, tiny_w, "_layer_checkpoint_dependencies", False)
    write_zip("tiny_dense_k213.keras", [("metadata.json", meta213),
                                        ("config.json", json.dumps(tiny_cfg)),
                                        ("model.weights.h5", wt)])

    # --- malformed ---
    write_keras2_h5("bad_missing_group.h5", tiny, tiny_w,
                    mutate=lambda f: f["model_weights"].__delitem__("dense_2"))
    write_keras2_h5("bad_missing_dataset.h5", tiny, tiny_w,
                    mutate=lambda f: f["model_weights/dense_2/dense_2"].__delitem__("bias:0"))

    def wrong_shape(f):
        del f["model_weights/dense_1/dense_1/kernel:0"]
        f["model_weights/dense_1/dense_1"].create_dataset(
            "kernel:0", data=tiny_w["dense_1/kernel"].T.copy())
    write_keras2_h5("bad_wrong_shape.h5", tiny, tiny_w, mutate=wrong_shape)
    open("bad_truncated.h5", "wb").write(open("tiny_dense_f64.h5", "rb").read()[:3000])
    open("bad_not_hdf5.h5", "w").write("this is not an HDF5 file\n")
    with h5py.File("weights_only.h5", "w") as f:
        f.attrs.create("layer_names", fixed_list(["dense_1", "dense_2"]))
        f.attrs.create("backend", fixed("tensorflow"))
        f.attrs.create("keras_version", fixed("2.13.1"))
        for n in ("dense_1", "dense_2"):
            g = f.create_group(n)
            g.attrs.create("weight_names", fixed_list([n + "/kernel:0", n + "/bias:0"]))
            g.create_dataset(n + "/kernel:0", data=tiny_w[n + "/kernel"])
            g.create_dataset(n + "/bias:0", data=tiny_w[n + "/bias"])

    cfg = json.dumps(tiny_cfg)
    # Declared 3 GB from 1 KiB of deflate data: patch the sizes of a real member.
    write_zip("bad_zip_bomb.keras", [("config.json", cfg), ("metadata.json", meta213),
                                     ("model.weights.h5", bytes(1 << 20))])
    patch_member_size("bad_zip_bomb.keras", "model.weights.h5", 2_000_000_000)
    write_zip("bad_zip_overflow.keras", [("config.json", cfg), ("metadata.json", meta213),
                                         ("model.weights.h5", bytes(1 << 20))])
    patch_member_size("bad_zip_overflow.keras", "model.weights.h5", 100)
    write_zip("bad_dotdot.keras", [("../config.json", cfg), ("metadata.json", meta213),
                                   ("model.weights.h5", wt)])
    write_zip("bad_member_names.keras", [("model.json", cfg), ("metadata.json", meta213),
                                         ("weights.h5", wt)])
    write_superblock_extension_fixture()
    write_bad_float_bits()
    write_bad_btree_fixtures()
    full = open("shapes_cnn_k3.keras", "rb").read()
    open("bad_truncated.keras", "wb").write(full[:len(full) // 2])

    def orphan(f):
        f["layers"].create_group("dense_7").create_group("vars").create_dataset(
            "0", data=np.zeros((2,), np.float32))
    wo = keras_weights_h5(tiny, tiny_w, "layers", False, extra=orphan)
    write_zip("bad_orphan_group.keras", [("config.json", json.dumps(tiny_cfg)),
                                         ("metadata.json", meta3), ("model.weights.h5", wo)])


NORM_LAYERS = [  # name, axis, invert, mean, variance (hand-checked outputs in the tests)
    ("normalization", [-1], False, [1.0, 8.0, 5.0], [4.0, 0.25, 1.0]),
    ("normalization_1", [], True, 2.0, 9.0),
]


def write_normalization_fixtures():
    def norm_cfg(name, axis, invert, keras3):
        c = {"name": name, "trainable": True, "axis": axis, "invert": invert, "mean": None,
             "variance": None}
        c["dtype"] = ({"module": "keras", "class_name": "DTypePolicy",
                       "config": {"name": "float32"}, "registered_name": None}
                      if keras3 else "float32")
        return c

    def stats(mean, var):
        return (np.array(mean, np.float32), np.array(var, np.float32), np.array(4, np.int64))

    k2 = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "input_1"}}] + [
        {"class_name": "Normalization", "config": norm_cfg(n, a, i, False)}
        for n, a, i, _, _ in NORM_LAYERS]}}
    with h5py.File("normalization_k2.h5", "w") as f:
        f.attrs.create("model_config", fixed(json.dumps(k2)))
        f.attrs.create("keras_version", fixed("2.13.1"))
        f.attrs.create("backend", fixed("tensorflow"))
        mw = f.create_group("model_weights")
        mw.attrs.create("layer_names", fixed_list(["input_1"] + [l[0] for l in NORM_LAYERS]))
        mw.create_group("input_1").attrs.create("weight_names", np.zeros((0,), np.float64))
        for n, _, _, mean, var in NORM_LAYERS:
            g = mw.create_group(n)
            roles = ["mean", "variance", "count"]
            g.attrs.create("weight_names", fixed_list([n + "/" + r + ":0" for r in roles]))
            for r, a in zip(roles, stats(mean, var)):
                g.create_dataset(n + "/" + r + ":0", data=a)

    k3 = {"module": "keras", "class_name": "Sequential", "config": {
        "name": "sequential", "trainable": True, "dtype": "float32", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [None, 3], "dtype": "float32", "sparse": False,
                        "name": "input_layer"}, "registered_name": None}] + [
            {"module": "keras.layers", "class_name": "Normalization",
             "config": norm_cfg(n, a, i, True), "registered_name": None,
             "build_config": {"input_shape": [None, 3]}} for n, a, i, _, _ in NORM_LAYERS]},
        "registered_name": None, "build_config": {"input_shape": [None, 3]}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("vars")
        g = f.create_group("layers")
        for n, _, _, mean, var in NORM_LAYERS:
            vg = g.create_group(n).create_group("vars")
            for i, a in enumerate(stats(mean, var)):
                vg.create_dataset(str(i), data=a)
        f.create_group("optimizer").create_group("vars")
    meta = json.dumps({"keras_version": "3.3.3", "date_saved": "2024-01-01@00:00:00"})
    write_zip("normalization_k3.keras", [("metadata.json", meta), ("config.json", json.dumps(k3)),
                                         ("model.weights.h5", buf.getvalue())])


def lookup3(data, initval=0):
    """Bob Jenkins's lookup3 hashlittle, the checksum of HDF5's version-2 metadata."""
    def rot(x, k):
        return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF

    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & 0xFFFFFFFF
    i = 0
    while n - i > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & 0xFFFFFFFF
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & 0xFFFFFFFF
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & 0xFFFFFFFF
        a = (a - c) & 0xFFFFFFFF; a ^= rot(c, 4); c = (c + b) & 0xFFFFFFFF
        b = (b - a) & 0xFFFFFFFF; b ^= rot(a, 6); a = (a + c) & 0xFFFFFFFF
        c = (c - b) & 0xFFFFFFFF; c ^= rot(b, 8); b = (b + a) & 0xFFFFFFFF
        a = (a - c) & 0xFFFFFFFF; a ^= rot(c, 16); c = (c + b) & 0xFFFFFFFF
        b = (b - a) & 0xFFFFFFFF; b ^= rot(a, 19); a = (a + c) & 0xFFFFFFFF
        c = (c - b) & 0xFFFFFFFF; c ^= rot(b, 4); b = (b + a) & 0xFFFFFFFF
        i += 12
    if n - i == 0:
        return c
    tail = bytes(data[i:]) + bytes(12 - (n - i))
    a = (a + int.from_bytes(tail[0:4], "little")) & 0xFFFFFFFF
    b = (b + int.from_bytes(tail[4:8], "little")) & 0xFFFFFFFF
    c = (c + int.from_bytes(tail[8:12], "little")) & 0xFFFFFFFF
    c ^= b; c = (c - rot(b, 14)) & 0xFFFFFFFF
    a ^= c; a = (a - rot(c, 11)) & 0xFFFFFFFF
    b ^= a; b = (b - rot(a, 25)) & 0xFFFFFFFF
    c ^= b; c = (c - rot(b, 16)) & 0xFFFFFFFF
    a ^= c; a = (a - rot(c, 4)) & 0xFFFFFFFF
    b ^= a; b = (b - rot(a, 14)) & 0xFFFFFFFF
    c ^= b; c = (c - rot(b, 24)) & 0xFFFFFFFF
    return c


def write_shapes_behind_normalization(path, shapes, shapes_w, mean, variance, rescale=None):
    topo = json.loads(json.dumps(shapes))
    layers = topo["config"]["layers"]
    first = layers[0]["config"]
    layers.insert(0, {"class_name": "Normalization", "config": {
        "name": "normalization", "trainable": True, "dtype": "float32",
        "batch_input_shape": first.pop("batch_input_shape"), "axis": [-1], "invert": False,
        "mean": None, "variance": None}})
    if rescale is not None:  # a Rescaling first
        layers.insert(0, {"class_name": "Rescaling", "config": {
            "name": "rescaling", "trainable": True, "dtype": "float32",
            "batch_input_shape": layers[0]["config"].pop("batch_input_shape"),
            "scale": rescale, "offset": 0.0}})
    w = dict(shapes_w)
    w.update({"normalization/mean": np.array(mean, np.float32),
              "normalization/variance": np.array(variance, np.float32),
              "normalization/count": np.array(2000, np.int64)})
    write_keras2_h5(path, topo, w, suffix="_1")


def write_bad_float_bits():
    # tiny_dense_f64.h5's layout in float32 with the first dataset's datatype declaring a
    # precision of 64 bits in its 4-byte elements (class 1 version 1, little-endian IEEE
    # single: offset 0, precision 32, exponent at 23 of 8 bits, mantissa at 0 of 23 bits).
    tiny, tiny_w = load_sample("tiny_dense")
    write_keras2_h5("bad_float_bits.h5", tiny, tiny_w)
    b = bytearray(open("bad_float_bits.h5", "rb").read())
    single = bytes([0x11, 0x20, 0x1F, 0x00, 4, 0, 0, 0, 0, 0, 32, 0, 23, 8, 0, 23, 127, 0, 0, 0])
    at = b.find(single)
    assert at > 0
    b[at + 10] = 64
    open("bad_float_bits.h5", "wb").write(b)


def group_btree(b, header):
    """(root B-tree address, {level: [node addresses, left to right]}, [leaf addresses]) of the
    symbol-table group whose version-1 object header is at `header` (8-byte addresses)."""
    chunks, stab = [(header + 16, struct.unpack_from("<I", b, header + 8)[0])], None
    while chunks:
        p, n = chunks.pop()
        end = p + n
        while p + 8 <= end:
            mtype, size = struct.unpack_from("<HH", b, p)
            if mtype == 0x10:
                chunks.append(struct.unpack_from("<QQ", b, p + 8))
            elif mtype == 0x11:
                stab = struct.unpack_from("<Q", b, p + 8)[0]
            p += 8 + size
    levels, leaves = {}, []

    def walk(addr):
        assert b[addr:addr + 4] == b"TREE"
        level, n = b[addr + 5], struct.unpack_from("<H", b, addr + 6)[0]
        levels.setdefault(level, []).append(addr)
        for i in range(n):
            child = struct.unpack_from("<Q", b, addr + 24 + 8 + 16 * i)[0]
            walk(child) if level else leaves.append(child)
    walk(stab)
    return stab, levels, leaves


def write_bad_btree_fixtures():
    # From shapes_cnn_deep_btree_k2.h5 (K = 1: B-tree nodes of 2 children, symbol table nodes of
    # 2 entries), patched in /model_weights' B-tree.
    with h5py.File("shapes_cnn_deep_btree_k2.h5", "r") as f:
        header = h5py.h5o.get_info(f["model_weights"].id).addr
    b = bytes(open("shapes_cnn_deep_btree_k2.h5", "rb").read())
    root, levels, leaves = group_btree(b, header)
    assert max(levels) >= 2 and len(levels[0]) >= 3, "expected a deep tree"
    # The second leaf-level node's right sibling made itself (a loop for a sibling walk).
    bad = bytearray(b)
    node = levels[0][1]
    struct.pack_into("<Q", bad, node + 16, node)
    open("bad_btree_sibling_loop.h5", "wb").write(bad)
    # The first symbol table node claims 3 entries, one more than it has room for.
    bad = bytearray(b)
    assert bad[leaves[0]:leaves[0] + 4] == b"SNOD"
    struct.pack_into("<H", bad, leaves[0] + 6, 3)
    open("bad_symbol_node_overfull.h5", "wb").write(bad)


def write_superblock_extension_fixture():
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="latest", fs_strategy="fsm", fs_persist=True) as f:
        f.attrs.create("model_config", fixed("{}"))
    b = bytearray(buf.getvalue())
    assert b[8] == 3, "expected a version-3 superblock"
    ext = struct.unpack_from("<Q", b, 20)[0]  # base(8) at 12, extension address at 20
    assert b[ext:ext + 4] == b"OHDR"
    flags = b[ext + 5]
    p = ext + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 3)
    chunk = int.from_bytes(b[p:p + width], "little")
    p += width  # the first message follows the chunk size field
    end = p + chunk  # then the chunk's checksum
    assert lookup3(b[ext:end]) == struct.unpack_from("<I", b, end)[0], "checksum layout"
    msg_size = struct.unpack_from("<H", b, p + 1)[0]
    assert msg_size >= 11
    b[p] = 0x14  # driver info: version 0 (1 byte), driver id(8), data size(2), data
    b[p + 4] = 0
    struct.pack_into("<H", b, p + 4 + 9, 0xFFFF)
    struct.pack_into("<I", b, end, lookup3(b[ext:end]))  # a valid checksum: libhdf5 decodes it
    # Every version-2 object header stores its times: zeroed (checksums redone) for stable bytes.
    at = b.find(b"OHDR")
    while at >= 0:
        fl = b[at + 5]
        if fl & 0x20:
            q = at + 22 + (4 if fl & 0x10 else 0)
            w = 1 << (fl & 3)
            e = q + w + int.from_bytes(b[q:q + w], "little")
            b[at + 6:at + 22] = bytes(16)
            struct.pack_into("<I", b, e, lookup3(b[at:e]))
        at = b.find(b"OHDR", at + 4)
    open("bad_superblock_extension.h5", "wb").write(b)


def write_nested_h5(path, topo, weights):
    cfg = {k: topo[k] for k in ("class_name", "config")}
    with h5py.File(path, "w") as f:
        f.attrs.create("model_config", fixed(json.dumps(cfg)))
        f.attrs.create("keras_version", fixed("2.13.1"))
        f.attrs.create("backend", fixed("tensorflow"))
        mw = f.create_group("model_weights")
        outer = cfg["config"]["layers"] if isinstance(cfg["config"], dict) else cfg["config"]
        names = [l.get("name") or l["config"]["name"] for l in outer]
        mw.attrs.create("layer_names", fixed_list(names))
        for l, name in zip(outer, names):
            inner_names = set()

            def collect(layer):  # every layer inside, at any depth (nested models too)
                inner_names.add(layer.get("name") or layer["config"]["name"])
                c = layer["config"]
                if layer["class_name"] in ("Sequential", "Model", "Functional"):
                    for x in (c["layers"] if isinstance(c, dict) else c):
                        collect(x)
            collect(l)
            # Keras order for a model: trainable weights, then non-trainable ones.
            mine = [k for k in weights if k.split("/")[0] in inner_names]
            mine.sort(key=lambda k: ("moving_" in k))
            g = mw.create_group(name)
            g.attrs.create("weight_names", fixed_list([k + ":0" for k in mine]))
            for k in mine:
                g.create_dataset(k + ":0", data=weights[k])


def patch_member_size(path, member, size):
    """Overwrites the uncompressed size of `member` in its local and central headers."""
    b = bytearray(open(path, "rb").read())
    name = member.encode()
    pos = 0
    while True:
        pos = b.find(name, pos)
        if pos < 0:
            break
        if b[pos - 30:pos - 26] == b"PK\x03\x04":
            struct.pack_into("<I", b, pos - 30 + 22, size)
        elif b[pos - 46:pos - 42] == b"PK\x01\x02":
            struct.pack_into("<I", b, pos - 46 + 24, size)
        pos += 1
    open(path, "wb").write(bytes(b))


if __name__ == "__main__":
    main()
