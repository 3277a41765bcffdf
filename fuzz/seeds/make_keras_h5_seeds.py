#!/usr/bin/python3
"""Writes the small fuzz_keras_h5 / fuzz_keras_zip seeds in fuzz/seeds/keras_h5/ and
fuzz/seeds/keras_zip/ (Debian python3-h5py, numpy).

  /usr/bin/python3 fuzz/seeds/make_keras_h5_seeds.py

Each file is a minimal Keras .h5 laid out as Keras writes it (root attributes model_config /
keras_version / backend, model_weights with layer_names, one group per layer with weight_names,
datasets at the weight_names paths), but tiny: a few layers of a few units, written with
libver='latest' (compact object headers, no symbol-table B-trees; one seed with the default
'earliest' layout Keras writes), so
each seed is 1-4 KB instead of the 20-190 KB of the test fixtures and libhdf5 opens it in a
fraction of the time. The forms mirror make_keras_fixtures.py (tests/data/keras): Keras 2 fixed-
length strings, Keras 3 legacy variable-length strings and paths without ':0', `_1` path
suffixes, float16 / float32 / float64 datasets, a Conv2D + BatchNormalization + pool chain, a
nested Sequential, a list split into weight_names0 / weight_names1, and the weights-only layout.
The .keras seeds hold the same conv model in the Keras 3 layout (config.json in Keras 3
serialization, metadata.json, model.weights.h5 with layers/<snake class>[_N]/vars/<i>) and the
dense model in the Keras 2.13 layout (_layer_checkpoint_dependencies/...), one stored, one deflated.
The values are arbitrary (seeds are not tests).
"""
import io
import json
import os
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras_h5")
OUT_ZIP = os.path.join(HERE, "keras_zip")
RNG = np.random.default_rng(7)


def fixed(s):
    return np.bytes_(s.encode())


def fixed_list(items):
    return np.array([s.encode() for s in items], dtype="S%d" % max(1, max(len(s) for s in items)))


def inp(name, shape):
    return {"name": name, "class_name": "InputLayer", "inbound_nodes": [],
            "config": {"batch_input_shape": [None] + shape, "dtype": "float32", "name": name}}


def layer(cls, name, prev, **cfg):
    cfg["name"] = name
    return {"name": name, "class_name": cls, "config": cfg,
            "inbound_nodes": [[[prev, 0, 0, {}]]] if prev else []}


def functional(name, layers):
    return {"class_name": "Model", "config": {
        "name": name, "layers": layers, "input_layers": [[layers[0]["name"], 0, 0]],
        "output_layers": [[layers[-1]["name"], 0, 0]]}}


def new_file(path, libver="latest"):
    """path: a file name or a BytesIO."""
    # libver='latest': version-2 object headers and compact link storage (no B-trees / heaps);
    # 'earliest' (h5py's and Keras's default): symbol tables, B-trees, local heaps.
    return h5py.File(path, "w", libver=libver)


def write(path, config, weights, *, vlen=False, dtype=np.float32, suffix="", k3paths=False,
          split_names=False, with_config=True, libver="latest"):
    """weights: list of (layer name, [(role, array), ...]) in layer order."""
    with new_file(os.path.join(OUT, path), libver) as f:
        if vlen:
            put = lambda o, k, v: o.attrs.create(k, v, dtype=h5py.string_dtype())
        else:
            put = lambda o, k, v: o.attrs.create(k, fixed(v))
        if with_config:
            put(f, "model_config", json.dumps(config))
        put(f, "keras_version", "3.3.3" if k3paths else "2.13.1")
        put(f, "backend", "tensorflow")
        mw = f if not with_config else f.create_group("model_weights")
        names = [n for n, _ in weights]
        mw.attrs.create("layer_names", fixed_list(names))
        for name, ws in weights:
            g = mw.create_group(name)
            wn = [("m/" + name + "/" + r) if k3paths else (name + suffix + "/" + r + ":0")
                  for r, _ in ws]
            if not wn:
                g.attrs.create("weight_names", np.zeros((0,), np.float64))
            elif split_names and len(wn) > 1:
                g.attrs.create("weight_names0", fixed_list(wn[:1]))
                g.attrs.create("weight_names1", fixed_list(wn[1:]))
            elif vlen:
                g.attrs.create("weight_names", wn, dtype=h5py.string_dtype())
            else:
                g.attrs.create("weight_names", fixed_list(wn))
            for n, (_, a) in zip(wn, ws):
                g.create_dataset(n, data=a.astype(dtype))


def w(*shape):
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def dense_model():
    layers = [inp("in", [3]), layer("Dense", "d1", "in", units=2, activation="relu"),
              layer("Dense", "d2", "d1", units=2, activation="softmax", use_bias=False)]
    weights = [("in", []), ("d1", [("kernel", w(3, 2)), ("bias", w(2))]),
               ("d2", [("kernel", w(2, 2))])]
    return functional("tiny", layers), weights


def conv_model():
    layers = [inp("in", [4, 4, 1]),
              layer("Conv2D", "c", "in", filters=2, kernel_size=[3, 3], strides=[1, 1],
                    padding="same", activation="linear", use_bias=True),
              layer("BatchNormalization", "bn", "c", axis=-1, epsilon=0.001, center=True,
                    scale=True),
              layer("ReLU", "r", "bn", max_value=6),
              layer("DepthwiseConv2D", "dw", "r", kernel_size=[3, 3], strides=[2, 2],
                    padding="valid", depth_multiplier=1, use_bias=False, activation="linear"),
              layer("GlobalAveragePooling2D", "gap", "dw"),
              layer("Dense", "fc", "gap", units=2, activation="softmax")]
    weights = [("in", []), ("c", [("kernel", w(3, 3, 1, 2)), ("bias", w(2))]),
               ("bn", [("gamma", w(2)), ("beta", w(2)), ("moving_mean", w(2)),
                       ("moving_variance", np.abs(w(2)) + 0.5)]),
               ("r", []), ("dw", [("depthwise_kernel", w(3, 3, 2, 1))]), ("gap", []),
               ("fc", [("kernel", w(2, 2)), ("bias", w(2))])]
    return functional("tinyconv", layers), weights


def nested_model():
    inner = {"class_name": "Sequential", "config": {"name": "inner", "layers": [
        {"class_name": "Dense", "config": {"name": "a", "units": 2, "activation": "relu",
                                           "batch_input_shape": [None, 3]}},
        {"class_name": "Dense", "config": {"name": "b", "units": 2, "activation": "linear"}}]}}
    outer = {"class_name": "Sequential", "config": {"name": "outer", "layers": [inner]}}
    with new_file(os.path.join(OUT, "nested_k2.h5")) as f:
        f.attrs.create("model_config", fixed(json.dumps(outer)))
        f.attrs.create("keras_version", fixed("2.13.1"))
        mw = f.create_group("model_weights")
        mw.attrs.create("layer_names", fixed_list(["inner"]))
        g = mw.create_group("inner")
        wn = ["a/kernel:0", "a/bias:0", "b/kernel:0", "b/bias:0"]
        g.attrs.create("weight_names", fixed_list(wn))
        for n, a in zip(wn, [w(3, 2), w(2), w(2, 2), w(2)]):
            g.create_dataset(n, data=a)


SNAKE = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization", "ReLU": "re_lu",
         "DepthwiseConv2D": "depthwise_conv2d", "GlobalAveragePooling2D": "global_average_pooling2d",
         "Dense": "dense"}


def keras3_config(cfg):
    layers = []
    for l in cfg["config"]["layers"]:
        c = dict(l["config"])
        if l["class_name"] == "InputLayer":
            c = {"batch_shape": c.pop("batch_input_shape"), "dtype": "float32", "name": c["name"]}
        else:
            c["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                          "config": {"name": "float32"}, "registered_name": None}
        layers.append({"module": "keras.layers", "class_name": l["class_name"], "config": c,
                       "registered_name": None})
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "sequential", "layers": layers}, "registered_name": None}


def weights_h5(cfg, weights, container, keras2):
    buf = io.BytesIO()
    with new_file(buf) as f:
        g = f.create_group(container)
        used = {}
        by_name = dict(weights)
        for l in cfg["config"]["layers"]:
            if l["class_name"] == "InputLayer":
                continue
            s = SNAKE[l["class_name"]]
            used[s] = used.get(s, -1) + 1
            vg = g.create_group(s if used[s] == 0 else "%s_%d" % (s, used[s])).create_group("vars")
            for i, (_, a) in enumerate(by_name[l["name"]]):
                vg.create_dataset(str(i), data=a)
            if keras2 and by_name[l["name"]]:
                used[s] += 1  # Keras 2.13 lists a weighted layer twice; the second takes a number
    return buf.getvalue()


def write_keras(path, members, deflate):
    with zipfile.ZipFile(os.path.join(OUT_ZIP, path), "w") as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(OUT_ZIP, exist_ok=True)
    cfg, ws = dense_model()
    write("dense_k2.h5", cfg, ws)
    write("dense_k2_earliest.h5", cfg, ws, libver="earliest")
    write("dense_k2_suffix.h5", cfg, ws, suffix="_1")
    write("dense_k3legacy_f16.h5", cfg, ws, vlen=True, dtype=np.float16, k3paths=True)
    write("dense_f64.h5", cfg, ws, dtype=np.float64)
    write("dense_split_names.h5", cfg, ws, split_names=True)
    write("weights_only.h5", cfg, ws, with_config=False)
    cfg, ws = conv_model()
    write("conv_bn_k2.h5", cfg, ws)
    meta3 = json.dumps({"keras_version": "3.3.3"})
    write_keras("conv_k3.keras", [("metadata.json", meta3),
                                  ("config.json", json.dumps(keras3_config(cfg))),
                                  ("model.weights.h5", weights_h5(cfg, ws, "layers", False))],
                deflate=False)
    nested_model()
    cfg, ws = dense_model()
    meta213 = json.dumps({"keras_version": "2.13.1"})
    write_keras("dense_k213.keras",
                [("metadata.json", meta213),
                 ("config.json", json.dumps(dict(cfg, class_name="Functional"))),
                 ("model.weights.h5",
                  weights_h5(cfg, ws, "_layer_checkpoint_dependencies", True))], deflate=True)
    for d in (OUT, OUT_ZIP):
        for name in sorted(os.listdir(d)):
            print(name, os.path.getsize(os.path.join(d, name)))


if __name__ == "__main__":
    main()
