#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_model_json into this folder's model_json/.

Each seed is model.json text, then for each shard the separator b"\\0--shard--\\0" and the shard
bytes (the layout fuzz/fuzz_model_json.cpp reads). They mirror the forms the importer accepts
(Sequential / functional, Keras 2 list and Keras 3 dict inbound nodes, TensorLayer spellings,
float32 / int32 / uint8 / uint16 / float16 weights, a weight spanning two shards). Values are
arbitrary small numbers: seeds only need to be accepted, not to compute anything meaningful.
Re-run after editing: python3 fuzz/seeds/make_model_json_seeds.py
"""
import json
import os
import struct

SEP = b"\0--shard--\0"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_json")


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def inp(name, shape, key="batch_input_shape"):
    return {"class_name": "InputLayer", "name": name,
            "config": {key: [None] + shape, "dtype": "float32", "name": name},
            "inbound_nodes": []}


def layer(cls, name, cfg, inbound=None, keras3=False):
    cfg = dict(cfg, name=name)
    l = {"class_name": cls, "name": name, "config": cfg}
    if inbound is not None:
        if keras3:
            l["inbound_nodes"] = [{"args": [[kt(i) for i in inbound]] if len(inbound) > 1
                                   else [kt(inbound[0])], "kwargs": {}}]
        else:
            l["inbound_nodes"] = [[[i, 0, 0, {}] for i in inbound]]
    return l


def kt(name):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, 2], "dtype": "float32", "keras_history": [name, 0, 0]}}


def w(name, shape, dtype="float32", q=None):
    d = {"name": name, "shape": shape, "dtype": dtype}
    if q:
        d["quantization"] = q
    return d


def write(fname, root, shards):
    data = json.dumps(root).encode()
    for s in shards:
        data += SEP + s
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)


def sequential(layers, manifest, config_is_list=False, version="tfjs-layers 4.22.0"):
    cfg = layers if config_is_list else {"name": "s", "layers": layers}
    root = {"format": "layers-model",
            "modelTopology": {"class_name": "Sequential", "keras_version": version,
                              "config": cfg}}
    if manifest:
        root["weightsManifest"] = manifest
    return root


os.makedirs(OUT, exist_ok=True)

# Dense with a uint16 kernel, a float16 bias and softmax; a Dropout and an Activation.
write("quant_uint16_f16_dense.seed", sequential(
    [inp("x", [2]),
     layer("Dense", "d", {"units": 2, "activation": "relu"}),
     layer("Dropout", "dr", {"rate": 0.5}),
     layer("Dense", "e", {"units": 2, "activation": "softmax", "use_bias": False}),
     layer("Activation", "a", {"activation": "tanh"})],
    [{"paths": ["w.bin"],
      "weights": [w("d/kernel", [2, 2], q={"dtype": "uint16", "scale": 0.001, "min": -1.0}),
                  w("d/bias", [2], q={"dtype": "float16"}),
                  w("e/kernel", [2, 2], q={"dtype": "uint8", "scale": 0.01, "min": -1.0})]}]),
    [struct.pack("<4H", 1000, 2000, 3000, 65535) + struct.pack("<2H", 0x3C00, 0xC000) +
     bytes([0, 100, 200, 255])])

# Conv2D + BatchNormalization + ReLU(6) + MaxPooling2D 'same' + Flatten + Dense; uint8 weights
# in two groups, the kernel spanning two shards.
write("conv_bn_pool_uint8_two_shards.seed", sequential(
    [inp("x", [4, 4, 2]),
     layer("Conv2D", "c", {"filters": 2, "kernel_size": [3, 3], "strides": [1, 1],
                           "padding": "same", "use_bias": True, "activation": "linear"}),
     layer("BatchNormalization", "bn", {"axis": -1, "epsilon": 0.001, "center": True,
                                        "scale": True}),
     layer("ReLU", "r", {"max_value": 6.0}),
     layer("MaxPooling2D", "p", {"pool_size": [2, 2], "strides": [2, 2], "padding": "same"}),
     layer("Flatten", "f", {}),
     layer("Dense", "d", {"units": 3})],
    [{"paths": ["g1-1.bin", "g1-2.bin"],
      "weights": [w("c/kernel", [3, 3, 2, 2], q={"dtype": "uint8", "scale": 0.02, "min": -1}),
                  w("c/bias", [2])]},
     {"paths": ["g2.bin"],
      "weights": [w("bn/gamma", [2]), w("bn/beta", [2]), w("bn/moving_mean", [2]),
                  w("bn/moving_variance", [2]),
                  w("d/kernel", [8, 3], q={"dtype": "uint8", "scale": 0.01, "min": -0.5}),
                  w("d/bias", [3], "int32")]}]),
    [bytes(range(0, 200, 10)), bytes(range(20, 36)) + f32(0.1, -0.1),
     f32(1, 2, 0, 1, 0.5, -0.5, 1, 2) + bytes(range(24)) + struct.pack("<3i", 1, -2, 3)])

# Functional, Keras 3 dict nodes, "<layer>/<index>" weight names, Add and Concatenate.
layers = [inp("in", [2], key="batch_shape"),
          layer("Dense", "d", {"units": 2}, ["in"], keras3=True),
          layer("Add", "add", {}, ["d", "in"], keras3=True),
          layer("Concatenate", "cat", {"axis": -1}, ["add", "d"], keras3=True),
          layer("LeakyReLU", "lr", {"negative_slope": 0.1}, ["cat"], keras3=True)]
write("functional_keras3.seed",
      {"modelTopology": {"class_name": "Functional", "keras_version": "3.3.3",
                         "config": {"name": "f", "layers": layers,
                                    "input_layers": ["in", 0, 0],
                                    "output_layers": [["lr", 0, 0]]}},
       "weightsManifest": [{"paths": ["w.bin"],
                            "weights": [w("d/0", [2, 2]), w("d/1", [2], q={"dtype": "float16"})]}]},
      [f32(1, 2, 3, 4) + struct.pack("<2H", 0x3C00, 0x7BFF)])

# TensorLayer spellings: Conv2d, DepthwiseConv2d, BatchNorm, MeanPool2d, GlobalMaxPool2d,
# Dense(n_units), Reshape(shape with batch), SoftMax; "modelTopology.model_config" nesting.
tl = [inp("x", [4, 4, 1]),
      layer("Conv2d", "c", {"n_filter": 2, "filter_size": [1, 1], "strides": [1, 1], "act": "relu",
                            "padding": "SAME", "data_format": "channels_last"}, ["x"]),
      layer("DepthwiseConv2d", "dw", {"filter_size": [3, 3], "strides": [2, 2], "act": "relu6",
                                      "padding": "SAME", "depth_multiplier": 1}, ["c"]),
      layer("BatchNorm", "bn", {"decay": 0.9, "epsilon": 1e-5, "is_train": False}, ["dw"]),
      layer("ZeroPad2d", "zp", {"padding": [[1, 0], [0, 1]]}, ["bn"]),
      layer("MeanPool2d", "mp", {"filter_size": [2, 2], "strides": [1, 1]}, ["zp"]),
      layer("GlobalMaxPool2d", "gp", {}, ["mp"]),
      layer("Dense", "d", {"n_units": 4, "act": "sigmoid"}, ["gp"]),
      layer("Reshape", "rs", {"shape": [-1, 2, 2]}, ["d"]),
      layer("Flatten", "fl", {}, ["rs"]),
      layer("SoftMax", "sm", {"axis": -1}, ["fl"])]
write("tensorlayer.seed",
      {"format": "layers-model",
       "modelTopology": {"model_config": {
           "class_name": "Model",
           "config": {"name": "tl", "layers": tl, "input_layers": [["x", 0, 0]],
                      "output_layers": [["sm", 0, 0]]}}},
       "weightsManifest": [{"paths": ["a.bin"],
                            "weights": [w("c/filters", [1, 1, 1, 2]), w("c/biases", [2]),
                                        w("dw/filters", [3, 3, 2, 1]),
                                        w("bn/beta", [2]), w("bn/gamma", [2]),
                                        w("bn/moving_mean", [2]), w("bn/moving_var", [2]),
                                        w("d/weights", [2, 4]), w("d/biases", [4])]}]},
      [f32(*([0.5] * (2 + 2 + 18 + 8 + 8 + 4)))])

# Old Keras Sequential (config is the layer list, no InputLayer: batch_input_shape on the first
# layer), AveragePooling2D 'valid', GlobalAveragePooling2D keepdims, ZeroPadding2D, Softmax.
write("old_sequential_list.seed", sequential(
    [dict(layer("ZeroPadding2D", "zp", {"padding": 1}), config={
        "name": "zp", "padding": [1, 1], "batch_input_shape": [None, 3, 3, 1]}),
     layer("AveragePooling2D", "ap", {"pool_size": 2, "padding": "valid"}),
     layer("GlobalAveragePooling2D", "gap", {"keepdims": True}),
     layer("Reshape", "r", {"target_shape": [1]}),
     layer("Softmax", "s", {"axis": -1})], None, config_is_list=True, version="2.2.4"), [])

# Shard paths the directory reader's rules reject (the replayed corpus of the first campaign never
# reached them), plus ":0" weight-name suffixes and an int32 weight.
for fname, path in [("path_dotdot.seed", "sub/../../w.bin"), ("path_absolute.seed", "/w.bin"),
                    ("path_backslash.seed", "sub\\w.bin"), ("path_empty.seed", "")]:
    write(fname, sequential(
        [inp("x", [2]), layer("Dense", "d", {"units": 1})],
        [{"paths": ["ok.bin", path],
          "weights": [w("d/kernel:0", [2, 1]), w("d/bias:0", [1], "int32")]}]),
        [f32(1, 2), struct.pack("<i", 3)])
