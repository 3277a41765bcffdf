#!/usr/bin/python3
"""Independent check of the sample files: re-implements the layers used by
the sample models in numpy (float64), runs the graph from model.json
(inbound_nodes, or layer order for Sequential), decodes the
weights from model.json + shards by the documented rules (shards concatenated,
manifest order, uint8: q * scale + min, float16: IEEE half) and compares every
stored layer output and final output with reference.json (tolerance 1e-4).

    /usr/bin/python3 samples/tfjs/check_refs_numpy.py    (needs python3-numpy)
"""
import json
import os
import sys

import numpy as np

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'models')


def load_weights(d):
    mj = json.load(open(os.path.join(d, 'model.json')))
    blob = b''.join(open(os.path.join(d, p), 'rb').read() for g in mj['weightsManifest'] for p in g['paths'])
    out, off = {}, 0
    for g in mj['weightsManifest']:
        for w in g['weights']:
            n = int(np.prod(w['shape']))
            q = w.get('quantization')
            if q is None:
                v = np.frombuffer(blob, '<f4', n, off).astype(np.float64); off += 4 * n
            elif q['dtype'] == 'uint8':
                raw = np.frombuffer(blob, np.uint8, n, off); off += n
                v = (raw * q['scale'] + q['min']).astype(np.float32).astype(np.float64)
            elif q['dtype'] == 'float16':
                v = np.frombuffer(blob, '<f2', n, off).astype(np.float64); off += 2 * n
            else:
                raise ValueError(q)
            out[w['name']] = v.reshape(w['shape'])
    assert off == len(blob), (off, len(blob))
    topo = mj['modelTopology'].get('model_config', mj['modelTopology'])
    return topo, out


def pad_for(x, k, cfg):
    """Pads for 'same' (TF rule: extra pixel at bottom/right) and returns output size."""
    kh, kw = k.shape[:2]
    sh, sw = cfg['strides']
    h, w, _ = x.shape
    if cfg['padding'] == 'valid':
        return x, (h - kh) // sh + 1, (w - kw) // sw + 1
    oh, ow = -(-h // sh), -(-w // sw)
    ph = max((oh - 1) * sh + kh - h, 0)
    pw = max((ow - 1) * sw + kw - w, 0)
    return np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))), oh, ow


def conv(x, k, b, cfg, depthwise=False):
    kh, kw, ci, co = k.shape
    sh, sw = cfg['strides']
    xp, oh, ow = pad_for(x, k, cfg)
    y = np.zeros((oh, ow, ci * co if depthwise else co))
    for i in range(kh):
        for j in range(kw):
            patch = xp[i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :]
            if depthwise:  # output channel c * multiplier + m
                y += (patch[:, :, :, None] * k[i, j][None, None]).reshape(oh, ow, ci * co)
            else:
                y += patch @ k[i, j]
    return y + (b if b is not None else 0)


def pool(x, op):
    h, w, c = x.shape
    r = x[:h // 2 * 2, :w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c)
    return r.max(axis=(1, 3)) if op == 'max' else r.mean(axis=(1, 3))


def act(x, name):
    if name == 'relu':
        return np.maximum(x, 0)
    if name == 'softmax':
        e = np.exp(x - x.max())
        return e / e.sum()
    assert name == 'linear', name
    return x


def run_layer(layer, xs, w):
    cls, cfg, n = layer['class_name'], layer['config'], layer['config']['name']
    if cls == 'Concatenate':
        return np.concatenate(xs, axis=-1)
    if cls == 'Add':
        return sum(xs)
    x = xs[0]
    if cls == 'InputLayer':
        return x
    if cls == 'Conv2D':
        assert cfg['dilation_rate'] == [1, 1]
        return act(conv(x, w[n + '/kernel'], w.get(n + '/bias'), cfg), cfg['activation'])
    if cls == 'DepthwiseConv2D':
        return act(conv(x, w[n + '/depthwise_kernel'], w.get(n + '/bias'), cfg, True), cfg['activation'])
    if cls == 'ZeroPadding2D':
        (t, b), (l, r) = cfg['padding']
        return np.pad(x, ((t, b), (l, r), (0, 0)))
    if cls == 'LeakyReLU':
        return np.where(x > 0, x, x * cfg['alpha'])
    if cls == 'GlobalAveragePooling2D':
        return x.mean(axis=(0, 1))
    if cls == 'Reshape':
        return x.reshape(cfg['target_shape'])
    if cls == 'Softmax':
        return act(x, 'softmax')
    if cls == 'BatchNormalization':
        return (x - w[n + '/moving_mean']) / np.sqrt(w[n + '/moving_variance'] + cfg['epsilon']) * w[n + '/gamma'] + w[n + '/beta']
    if cls == 'Activation':
        return act(x, cfg['activation'])
    if cls == 'ReLU':
        y = np.maximum(x, 0)
        return y if cfg.get('max_value') is None else np.minimum(y, cfg['max_value'])
    if cls == 'MaxPooling2D':
        return pool(x, 'max')
    if cls == 'AveragePooling2D':
        return pool(x, 'avg')
    if cls == 'Flatten':
        return x.reshape(-1)
    if cls == 'Dense':
        return act(x @ w[n + '/kernel'] + w[n + '/bias'], cfg['activation'])
    if cls == 'Dropout':
        return x
    raise ValueError(cls)


def check(name):
    d = os.path.join(MODELS, name)
    topo, w = load_weights(d)
    ref = json.load(open(os.path.join(d, 'reference.json')))
    worst = 0.0
    for case in ref['cases']:
        x = np.fromfile(os.path.join(d, case['input_tensor']), '<f4').astype(np.float64)
        x = x.reshape(ref['input']['shape'][1:])
        layer_refs = {l['name']: l for l in case.get('layers', [])}
        values = {}
        prev = None
        for layer in topo['config']['layers']:
            lname = layer['config']['name']
            if topo['class_name'] == 'Sequential':
                inputs = [x if prev is None else values[prev]]
            elif layer['class_name'] == 'InputLayer':
                inputs = [x]
            else:
                assert len(layer['inbound_nodes']) == 1, lname
                inputs = [values[src[0]] for src in layer['inbound_nodes'][0]]
            values[lname] = run_layer(layer, inputs, w)
            prev = lname
            lr = layer_refs.get(lname)
            if lr:
                want = np.fromfile(os.path.join(d, lr['file']), '<f4').reshape(lr['shape'][1:])
                worst = max(worst, float(np.abs(want - values[lname]).max()))
        out = values[ref['output_layer']]
        worst = max(worst, float(np.abs(np.array(case['output']) - out.reshape(-1)).max()))
        for o in case.get('outputs', []):  # a model with several outputs: each of them
            worst = max(worst, float(np.abs(np.array(o['output']) - values[o['name']].reshape(-1)).max()))
    ok = worst <= ref['tolerance']
    print(f'{name}: {len(ref["cases"])} cases, max |numpy - tfjs| = {worst:.3g} -> {"OK" if ok else "FAIL"}')
    return ok


def main():
    names = sys.argv[1:] or ['shapes_cnn', 'shapes_cnn_uint8', 'tiny_dense', 'functional_concat_add',
                             'mobilenet_v1_025', 'two_heads']
    results = [check(n) for n in names]
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
