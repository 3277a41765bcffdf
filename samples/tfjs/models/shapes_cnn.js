'use strict';
// Small Sequential CNN for the 8-class 32x32 shapes task.
const tfl = require('@tensorflow/tfjs-layers');

function buildShapesCnn(numClasses) {
  const L = tfl.layers;
  const m = tfl.sequential({name: 'shapes_cnn'});
  m.add(L.conv2d({inputShape: [32, 32, 3], filters: 16, kernelSize: 3, padding: 'same', useBias: true, name: 'conv1'}));
  m.add(L.batchNormalization({name: 'bn1'}));
  m.add(L.activation({activation: 'relu', name: 'relu1'}));
  m.add(L.maxPooling2d({poolSize: 2, strides: 2, name: 'pool1'}));
  m.add(L.conv2d({filters: 32, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2'}));
  m.add(L.batchNormalization({name: 'bn2'}));
  m.add(L.reLU({name: 'relu2'}));
  m.add(L.maxPooling2d({poolSize: 2, strides: 2, name: 'pool2'}));
  m.add(L.averagePooling2d({poolSize: 2, strides: 2, name: 'avgpool'}));
  m.add(L.flatten({name: 'flatten'}));
  m.add(L.dense({units: 64, activation: 'relu', name: 'fc1'}));
  m.add(L.dropout({rate: 0.25, name: 'dropout'}));
  m.add(L.dense({units: numClasses, activation: 'softmax', name: 'fc2'}));
  return m;
}

module.exports = {buildShapesCnn};
