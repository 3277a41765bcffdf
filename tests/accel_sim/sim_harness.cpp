#include "sim_harness.h"

#include "conv_case.h"
#include "emc/interpreter/backend.h"

namespace emc::test {

format::KpuLayerFields conv_fields(std::uint32_t w, std::uint32_t h, std::uint32_t ic,
                                   std::uint32_t oc, std::uint32_t k, int pool,
                                   std::uint32_t src_row, std::uint32_t dst_row) {
  return spec_conv_fields(w, h, ic, oc, k, pool, src_row, dst_row);
}

format::KpuActivationTable simple_act(std::int64_t start, std::int32_t mul, std::uint32_t shift,
                                      std::uint8_t bias, std::uint8_t seg0_bias) {
  format::KpuActivationTable t{};
  t[0].x_start = -(std::int64_t{1} << 35);
  t[0].result_bias = seg0_bias;
  t[1].x_start = start;
  t[1].y_mul = mul;
  t[1].shift_number = shift;
  t[1].result_bias = bias;
  for (std::size_t i = 2; i < 16; ++i) t[i].x_start = (std::int64_t{1} << 35) - 1;
  return t;
}

format::Kmodel one_layer_model(format::Layer layer, std::uint32_t main_bytes, bool eight_bit) {
  format::Kmodel m;
  m.header.flags = eight_bit ? format::kHeaderFlag8BitWeights : 0;
  m.header.layers_length = 1;
  m.header.main_mem_usage = main_bytes;
  m.layers.push_back(std::move(layer));
  return m;
}

format::Layer conv_layer(const format::KpuLayerFields& f, std::vector<std::uint8_t> weights,
                         std::vector<format::KpuBatchNorm> bn,
                         const format::KpuActivationTable& act, bool main_out,
                         std::uint32_t main_addr) {
  format::ConvBody body;
  body.flags = main_out ? 1 : 0;
  body.main_mem_out_address = main_addr;
  body.layer_words = format::pack_kpu_layer(f);
  body.weights = std::move(weights);
  for (const auto& b : bn) body.bn_words.push_back(format::pack_kpu_batchnorm(b));
  body.act_words = format::pack_kpu_activation(act);
  format::Layer layer;
  layer.type = format::LayerType::kK210Conv;
  layer.body = std::move(body);
  return layer;
}

Status run_one(const format::Kmodel& model, std::vector<std::uint8_t>& kpu,
               std::vector<std::uint8_t>& main, const accel_sim::KpuSimOptions& options) {
  auto backend = accel_sim::make_kpu_sim_backend(options);
  if (!backend->supports(interpreter::layer_info(model, 0)))
    return Error(Errc::kNoBackend, "not supported");
  interpreter::LayerInfo info;
  info.layer = &model.layers[0];
  info.model = &model;
  info.main_mem_bytes = main.size();
  info.kpu_mem_bytes = kpu.size();
  auto prepared = backend->prepare(info);
  if (!prepared.ok()) return std::move(prepared).error();
  interpreter::ExecContext ctx{interpreter::MemoryRegion("main", main),
                               interpreter::MemoryRegion("kpu", kpu)};
  return (*prepared)->run(ctx);
}

Status prepare_one(const format::Kmodel& model, std::size_t main_bytes, std::size_t kpu_bytes) {
  auto backend = accel_sim::make_kpu_sim_backend();
  interpreter::LayerInfo info;
  info.layer = &model.layers[0];
  info.model = &model;
  info.main_mem_bytes = main_bytes;
  info.kpu_mem_bytes = kpu_bytes;
  auto prepared = backend->prepare(info);
  if (!prepared.ok()) return std::move(prepared).error();
  return ok_status();
}

}  // namespace emc::test
