'use strict';
// Small Sequential CNN for Fashion-MNIST (28x28 grayscale, 10 classes).
const tfl = require('@tensorflow/tfjs-layers');

function buildFashionCnn() {
  const L = tfl.layers;
  const m = tfl.sequential({name: 'fashion_cnn'});
  m.add(L.conv2d({inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv1'}));
  m.add(L.batchNormalization({name: 'bn1'}));
  m.add(L.activation({activation: 'relu', name: 'relu1'}));
  m.add(L.maxPooling2d({poolSize: 2, strides: 2, name: 'pool1'}));
  m.add(L.conv2d({filters: 16, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2'}));
  m.add(L.batchNormalization({name: 'bn2'}));
  m.add(L.activation({activation: 'relu', name: 'relu2'}));
  m.add(L.maxPooling2d({poolSize: 2, strides: 2, name: 'pool2'}));
  m.add(L.flatten({name: 'flatten'}));
  m.add(L.dense({units: 64, activation: 'relu', name: 'fc1'}));
  m.add(L.dropout({rate: 0.25, name: 'dropout'}));
  m.add(L.dense({units: 10, activation: 'softmax', name: 'fc2'}));
  return m;
}

module.exports = {buildFashionCnn};
