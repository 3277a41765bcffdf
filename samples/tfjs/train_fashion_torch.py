#!/usr/bin/python3
"""Trains the fashion_cnn weights with PyTorch (Debian python3-torch, CPU, one thread).

Same split of work as train_shapes_torch.py: only the optimisation runs here;
steps/fashion_cnn.js builds the model in TF.js, loads these weights with
setWeights, measures the test accuracy with TF.js and saves the model and its
references with TF.js.

Usage (make_samples.js fashion_cnn calls it with --retrain or when the weights are missing):
    /usr/bin/python3 train_fashion_torch.py DATA_DIR OUT_PREFIX
DATA_DIR holds Fashion-MNIST as Debian's dataset-fashion-mnist installs it
(/usr/share/datasets/fashion-mnist: train-images-idx3-ubyte.gz, ...). Trains on
the 60,000 training images only (x = pixel / 255, NHWC 28x28x1), reports the
accuracy on the 10,000 test images. Writes OUT_PREFIX.bin (float32 little-endian,
Keras layouts) and OUT_PREFIX.json (name, shape, byte offset per weight; torch
test accuracy). Deterministic: fixed seed, one thread, deterministic algorithms.
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
from torch import nn

SEED = 20240102
EPOCHS = 3
BATCH = 64
LR = 3e-3
NUM_CLASSES = 10


class FashionCnn(nn.Module):
    """Same computation as models/fashion_cnn.js (Keras semantics)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        # Keras BatchNormalization defaults: epsilon 1e-3, momentum 0.99.
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3, momentum=0.01)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16, eps=1e-3, momentum=0.01)
        self.fc1 = nn.Linear(7 * 7 * 16, 64)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(64, NUM_CLASSES)

    def forward(self, x):  # x: N,1,28,28
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        # Keras Flatten on NHWC: order (h, w, c).
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        x = self.drop(torch.relu(self.fc1(x)))
        return self.fc2(x)  # softmax is in the loss


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], 'big')
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(magic & 0xff)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f'{split}-images-idx3-ubyte.gz')).astype(np.float32) / 255.0
    y = read_idx(os.path.join(data_dir, f'{split}-labels-idx1-ubyte.gz')).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1).contiguous(), torch.from_numpy(y)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def bn_weights(name, bn, t):
    return [(f'{name}/gamma', t(bn.weight)), (f'{name}/beta', t(bn.bias)),
            (f'{name}/moving_mean', t(bn.running_mean)), (f'{name}/moving_variance', t(bn.running_var))]


def keras_weights(model):
    """(name, array) in Keras layouts, names as tfjs-layers saves them."""
    t = lambda p: p.detach().numpy().astype(np.float32)
    hwio = lambda conv: t(conv.weight).transpose(2, 3, 1, 0)  # OIHW -> HWIO
    out = [('conv1/kernel', hwio(model.conv1))]
    out += bn_weights('bn1', model.bn1, t)
    out += [('conv2/kernel', hwio(model.conv2))]
    out += bn_weights('bn2', model.bn2, t)
    out += [('fc1/kernel', t(model.fc1.weight).T), ('fc1/bias', t(model.fc1.bias))]  # (out,in) -> (in,out)
    out += [('fc2/kernel', t(model.fc2.weight).T), ('fc2/bias', t(model.fc2.bias))]
    return out


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    data_dir, out_prefix = argv[1], argv[2]
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    xtr, ytr = load(data_dir, 'train')
    xte, yte = load(data_dir, 't10k')
    model = FashionCnn()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps_per_epoch = (len(xtr) + BATCH - 1) // BATCH
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * steps_per_epoch)
    gen = torch.Generator().manual_seed(SEED)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        print(f'epoch {epoch + 1}/{EPOCHS} loss {total / len(xtr):.4f} test acc {accuracy(model, xte, yte):.4f}',
              flush=True)
    acc = accuracy(model, xte, yte)
    entries, blobs, offset = [], [], 0
    for name, arr in keras_weights(model):
        arr = np.ascontiguousarray(arr, dtype='<f4')
        entries.append({'name': name, 'shape': list(arr.shape), 'offset': offset})
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    with open(out_prefix + '.bin', 'wb') as f:
        f.write(b''.join(blobs))
    meta = {'trainer': 'train_fashion_torch.py', 'torch': torch.__version__, 'seed': SEED, 'epochs': EPOCHS,
            'batch': BATCH, 'optimizer': f'Adam, OneCycle max lr {LR}', 'train_size': len(ytr),
            'test_size': len(yte), 'torch_test_accuracy': acc, 'weights': entries}
    with open(out_prefix + '.json', 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    print(f'final torch test accuracy {acc:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
