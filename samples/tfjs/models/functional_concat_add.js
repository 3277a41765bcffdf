'use strict';
// A small functional (multi-branch) model: two branches joined by Concatenate,
// a residual Add with a 1x1 projection of the trunk, DepthwiseConv2D with
// depth_multiplier 2 and LeakyReLU.
const tfl = require('@tensorflow/tfjs-layers');

function buildFunctionalConcatAdd() {
  const L = tfl.layers;
  const input = tfl.input({shape: [32, 32, 3], name: 'input'});
  const stem = L.conv2d({filters: 16, kernelSize: 3, padding: 'same', name: 'stem_conv'}).apply(input);
  const trunk = L.leakyReLU({alpha: 0.1, name: 'stem_lrelu'}).apply(stem);

  const a = L.conv2d({filters: 8, kernelSize: 1, padding: 'same', activation: 'relu', name: 'branch_a_conv'})
      .apply(trunk);

  let b = L.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'branch_b_dw'}).apply(trunk);
  b = L.conv2d({filters: 8, kernelSize: 3, padding: 'same', name: 'branch_b_conv'}).apply(b);

  const cat = L.concatenate({axis: -1, name: 'concat'}).apply([a, b]);
  const merged = L.conv2d({filters: 16, kernelSize: 1, padding: 'same', name: 'merge_conv'}).apply(cat);
  const proj = L.conv2d({filters: 16, kernelSize: 1, padding: 'same', useBias: false, name: 'proj_conv'})
      .apply(trunk);
  let x = L.add({name: 'residual_add'}).apply([merged, proj]);
  x = L.activation({activation: 'relu', name: 'add_relu'}).apply(x);
  x = L.globalAveragePooling2d({name: 'gap'}).apply(x);
  x = L.dense({units: 10, name: 'logits'}).apply(x);
  x = L.softmax({name: 'softmax'}).apply(x);
  return tfl.model({inputs: input, outputs: x, name: 'functional_concat_add'});
}

module.exports = {buildFunctionalConcatAdd};
