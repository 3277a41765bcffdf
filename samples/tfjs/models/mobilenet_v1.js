'use strict';
// Keras MobileNet v1 (keras_applications/mobilenet.py, channels_last,
// include_top=True) rebuilt with tfjs-layers using the same layer names.
const tfl = require('@tensorflow/tfjs-layers');

function convBlock(x, filters, alpha, strides) {
  const f = Math.floor(filters * alpha);
  x = tfl.layers.zeroPadding2d({padding: [[0, 1], [0, 1]], name: 'conv1_pad'}).apply(x);
  x = tfl.layers.conv2d({filters: f, kernelSize: [3, 3], padding: 'valid', useBias: false,
    strides, name: 'conv1'}).apply(x);
  x = tfl.layers.batchNormalization({axis: -1, name: 'conv1_bn'}).apply(x);
  return tfl.layers.reLU({maxValue: 6, name: 'conv1_relu'}).apply(x);
}

function depthwiseConvBlock(x, pwFilters, alpha, depthMultiplier, strides, id) {
  const f = Math.floor(pwFilters * alpha);
  const s1 = strides[0] === 1 && strides[1] === 1;
  if (!s1) x = tfl.layers.zeroPadding2d({padding: [[0, 1], [0, 1]], name: `conv_pad_${id}`}).apply(x);
  x = tfl.layers.depthwiseConv2d({kernelSize: [3, 3], padding: s1 ? 'same' : 'valid', depthMultiplier,
    strides, useBias: false, name: `conv_dw_${id}`}).apply(x);
  x = tfl.layers.batchNormalization({axis: -1, name: `conv_dw_${id}_bn`}).apply(x);
  x = tfl.layers.reLU({maxValue: 6, name: `conv_dw_${id}_relu`}).apply(x);
  x = tfl.layers.conv2d({filters: f, kernelSize: [1, 1], padding: 'same', useBias: false,
    strides: [1, 1], name: `conv_pw_${id}`}).apply(x);
  x = tfl.layers.batchNormalization({axis: -1, name: `conv_pw_${id}_bn`}).apply(x);
  return tfl.layers.reLU({maxValue: 6, name: `conv_pw_${id}_relu`}).apply(x);
}

function buildMobileNetV1({alpha = 0.25, rows = 224, classes = 1000, dropout = 1e-3} = {}) {
  const input = tfl.input({shape: [rows, rows, 3], name: 'input_1'});
  let x = convBlock(input, 32, alpha, [2, 2]);
  const plan = [
    [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2],
    [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1],
  ];
  plan.forEach(([filters, s], i) => {
    x = depthwiseConvBlock(x, filters, alpha, 1, [s, s], i + 1);
  });
  const channels = Math.floor(1024 * alpha);
  x = tfl.layers.globalAveragePooling2d({name: 'global_average_pooling2d'}).apply(x);
  x = tfl.layers.reshape({targetShape: [1, 1, channels], name: 'reshape_1'}).apply(x);
  x = tfl.layers.dropout({rate: dropout, name: 'dropout'}).apply(x);
  x = tfl.layers.conv2d({filters: classes, kernelSize: [1, 1], padding: 'same', name: 'conv_preds'}).apply(x);
  x = tfl.layers.reshape({targetShape: [classes], name: 'reshape_2'}).apply(x);
  x = tfl.layers.activation({activation: 'softmax', name: 'act_softmax'}).apply(x);
  return tfl.model({inputs: input, outputs: x, name: `mobilenet_${alpha.toFixed(2)}_${rows}`});
}

module.exports = {buildMobileNetV1};
