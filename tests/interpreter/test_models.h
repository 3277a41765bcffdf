// Small kmodels built from the format structs, for interpreter tests that need no real backend.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>

#include "emc/format/kmodel_v3.h"
#include "emc/format/kpu_regs.h"
#include "emc/interpreter/backend.h"

namespace emc::interpreter::testing {

inline format::Layer fc_layer(std::uint32_t in_addr, std::uint32_t out_addr, std::uint32_t in_ch,
                              std::uint32_t out_ch) {
  format::FullyConnectedBody b;
  b.main_mem_in_address = in_addr;
  b.main_mem_out_address = out_addr;
  b.in_channels = in_ch;
  b.out_channels = out_ch;
  b.weights.assign(std::size_t{in_ch} * out_ch, 0.5f);
  b.bias.assign(out_ch, 0.0f);
  return {format::LayerType::kFullyConnected, b};
}

inline format::Layer channels_layer(format::LayerType type, std::uint32_t in_addr,
                                    std::uint32_t out_addr, std::uint32_t channels) {
  format::ChannelsBody b;
  b.main_mem_in_address = in_addr;
  b.main_mem_out_address = out_addr;
  b.channels = channels;
  return {type, b};
}

inline format::Layer dequantize_layer(std::uint32_t in_addr, std::uint32_t out_addr,
                                      std::uint32_t count) {
  format::QuantizeBody b;
  b.main_mem_in_address = in_addr;
  b.main_mem_out_address = out_addr;
  b.count = count;
  return {format::LayerType::kDequantize, b};
}

// A K210_CONV of a W x H x C input to a W x H x OC output (1x1 kernel, no pooling), register
// values set the way the converters set them (kmodel_v3.md §5.2): for W <= 16 four channels per
// row, W <= 32 two, else one; channel_switch_addr = row_len * H.
inline format::Layer conv_layer(std::uint32_t w, std::uint32_t h, std::uint32_t c, std::uint32_t oc,
                                std::uint32_t src_row, std::uint32_t dst_row, bool dma_out = false,
                                std::uint32_t main_out = 0) {
  auto groups = [](std::uint32_t width) -> std::uint32_t {
    return width <= 16 ? 4 : width <= 32 ? 2 : 1;
  };
  auto row_len = [](std::uint32_t width) -> std::uint32_t {
    return width <= 32 ? 1 : (width + 63) / 64;
  };
  format::KpuLayerFields f;
  f.image_src_addr = src_row;
  f.image_dst_addr = dst_row;
  f.i_ch_num = c - 1;
  f.o_ch_num = oc - 1;
  f.o_ch_num_coef = oc - 1;
  f.i_row_wid = w - 1;
  f.i_col_high = h - 1;
  f.o_row_wid = w - 1;
  f.o_col_high = h - 1;
  f.kernel_type = 0;
  f.coef_group = groups(w);
  f.row_switch_addr = row_len(w);
  f.channel_switch_addr = row_len(w) * h;
  f.wb_group = groups(w);
  f.wb_row_switch_addr = row_len(w);
  f.wb_channel_switch_addr = row_len(w) * h;
  f.load_time = 0;
  f.dma_total_byte = std::int64_t{w} * h * oc - 1;
  f.send_data_out = dma_out ? 1 : 0;
  format::ConvBody b;
  b.flags = dma_out ? format::kLayerFlagMainMemOut : 0;
  b.main_mem_out_address = main_out;
  b.layer_words = format::pack_kpu_layer(f);
  b.weights.assign(std::size_t{c} * oc, 1);
  b.bn_words.assign(oc, 0);
  return {format::LayerType::kK210Conv, b};
}

inline format::Kmodel make_model(std::uint32_t main_mem, std::vector<format::Layer> layers,
                                 std::vector<format::OutputDesc> outputs) {
  format::Kmodel m;
  m.header.main_mem_usage = main_mem;
  m.header.layers_length = static_cast<std::uint32_t>(layers.size());
  m.header.output_count = static_cast<std::uint32_t>(outputs.size());
  m.layers = std::move(layers);
  m.outputs = std::move(outputs);
  return m;
}

// A PreparedLayer whose run() is a lambda.
class FakePrepared : public PreparedLayer {
 public:
  using RunFn = std::function<Status(ExecContext&)>;
  FakePrepared(RunFn fn, std::uint64_t cycles, format::MemRange out)
      : fn_(std::move(fn)), cycles_(cycles), out_(out) {}
  Status run(ExecContext& ctx) override { return fn_ ? fn_(ctx) : ok_status(); }
  std::uint64_t simulated_cycles() const override { return cycles_; }
  format::MemRange output_range() const override { return out_; }

 private:
  RunFn fn_;
  std::uint64_t cycles_;
  format::MemRange out_;
};

// A GoogleMock backend. By default it supports nothing and prepares a no-op layer.
class MockBackend : public Backend {
 public:
  explicit MockBackend(std::string name) : name_(std::move(name)) {
    ON_CALL(*this, supports).WillByDefault(::testing::Return(false));
    ON_CALL(*this, prepare).WillByDefault([](const LayerInfo&) {
      return Result<std::unique_ptr<PreparedLayer>>(
          std::make_unique<FakePrepared>(nullptr, 0, format::MemRange{}));
    });
  }
  std::string_view name() const override { return name_; }
  MOCK_METHOD(bool, supports, (const LayerInfo& info), (const, override));
  MOCK_METHOD((Result<std::unique_ptr<PreparedLayer>>), prepare, (const LayerInfo& info),
              (override));

  // supports() is true exactly for `types`.
  void support_types(std::vector<format::LayerType> types) {
    ON_CALL(*this, supports).WillByDefault([types](const LayerInfo& info) {
      return std::find(types.begin(), types.end(), info.layer->type) != types.end();
    });
  }
  void support_all() { ON_CALL(*this, supports).WillByDefault(::testing::Return(true)); }

 private:
  std::string name_;
};

using NiceMockBackend = ::testing::NiceMock<MockBackend>;

}  // namespace emc::interpreter::testing
