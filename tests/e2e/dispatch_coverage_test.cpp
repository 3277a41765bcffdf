// Every kmodel V3 layer type the K210 runtimes implement is bound by the default policy with
// both real backends registered (design.md §3.3). The list of required types is kmodel_v3.md §2
// ("yes" in the SDK-C column, plus 21 which Maix-EMC files use), written out here by value so a
// backend dropping a type fails this test.
#include <set>

#include <gtest/gtest.h>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/registry.h"

namespace emc {
namespace {

using format::LayerType;

// A default-constructed body of the struct the type uses (kmodel_v3.md §3).
format::LayerBody body_for(LayerType t) {
  switch (t) {
    case LayerType::kK210Conv:
      return format::ConvBody{};
    case LayerType::kAdd:
      return format::AddBody{};
    case LayerType::kQuantizedAdd:
      return format::QuantizedAddBody{};
    case LayerType::kGlobalMaxPool2d:
    case LayerType::kQuantizedGlobalMaxPool2d:
    case LayerType::kGlobalAveragePool2d:
    case LayerType::kQuantizedGlobalAveragePool2d:
      return format::GlobalPoolBody{};
    case LayerType::kMaxPool2d:
    case LayerType::kQuantizedMaxPool2d:
    case LayerType::kAveragePool2d:
    case LayerType::kQuantizedAveragePool2d:
      return format::Pool2dBody{};
    case LayerType::kQuantize:
    case LayerType::kDequantize:
      return format::QuantizeBody{};
    case LayerType::kRequantize:
      return format::RequantizeBody{};
    case LayerType::kL2Normalization:
    case LayerType::kSoftmax:
    case LayerType::kLogistic:
      return format::ChannelsBody{};
    case LayerType::kConcat:
    case LayerType::kQuantizedConcat:
      return format::ConcatBody{};
    case LayerType::kFullyConnected:
    case LayerType::kQuantizedFullyConnected:
      return format::FullyConnectedBody{};
    case LayerType::kTensorflowFlatten:
    case LayerType::kQuantizedTensorflowFlatten:
      return format::FlattenBody{};
    case LayerType::kResizeNearestNeighbor:
    case LayerType::kQuantizedResizeNearestNeighbor:
      return format::ResizeNearestBody{};
    case LayerType::kChannelwiseDequantize:
      return format::ChannelwiseDequantizeBody{};
    case LayerType::kK210AddPadding:
      return format::AddPaddingBody{};
    case LayerType::kK210RemovePadding:
      return format::RemovePaddingBody{};
    case LayerType::kK210Upload:
      return format::UploadBody{};
    case LayerType::kEmcConv2d:
    case LayerType::kEmcDepthwiseConv2d:
      return format::EmcConv2dInt8Body{};
    case LayerType::kEmcConv2dF32:
    case LayerType::kEmcDepthwiseConv2dF32:
      return format::EmcConv2dF32Body{};
    case LayerType::kEmcQuantizeInt8:
    case LayerType::kEmcDequantizeInt8:
      return format::EmcQuantizeInt8Body{};
    case LayerType::kEmcMaxPool2dInt8:
    case LayerType::kEmcAveragePool2dInt8:
      return format::EmcPool2dInt8Body{};
    case LayerType::kEmcElementwiseInt8:
      return format::EmcElementwiseInt8Body{};
    case LayerType::kEmcConcatInt8:
      return format::EmcConcatInt8Body{};
    case LayerType::kEmcLutInt8:
      return format::EmcLutInt8Body{};
    case LayerType::kEmcPadCropInt8:
      return format::EmcPadCropInt8Body{};
    case LayerType::kEmcResizeNearestInt8:
      return format::EmcResizeNearestInt8Body{};
    case LayerType::kEmcPreluInt8:
      return format::EmcPreluInt8Body{};
    case LayerType::kInvalid:
      break;
  }
  return format::ChannelsBody{};
}

TEST(DispatchCoverage, EveryImplementedV3TypeIsBound) {
  interpreter::Registry registry;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(registry).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(registry).ok());
  // kmodel_v3.md §2: SDK-C implements these; 21 is implemented by EMC-KPU and used by Maix-EMC.
  const std::set<std::uint32_t> required = {1,  2,  5,  8,     9,     11,    12,   13,
                                            14, 15, 16, 17,    18,    20,    21,   22,
                                            23, 24, 25, 10240, 10241, 10242, 10243};
  // Types no K210 runtime implements: bound only if the cpu backend chose to support them.
  const std::set<std::uint32_t> optional = {3, 4, 6, 7, 10, 19};
  std::set<std::uint32_t> seen;
  for (LayerType t : format::all_layer_types()) {
    const auto value = static_cast<std::uint32_t>(t);
    seen.insert(value);
    format::Kmodel model;
    model.layers.push_back(format::Layer{t, body_for(t)});
    const interpreter::Backend* bound = nullptr;
    for (const auto& b : registry.backends()) {
      if (b->supports(interpreter::layer_info(model, 0))) {
        bound = b.get();
        break;
      }
    }
    SCOPED_TRACE(std::string(format::to_string(t)));
    if (t == LayerType::kInvalid) {
      EXPECT_EQ(bound, nullptr);
    } else if (format::is_emc_type(t)) {
      // EMC's own types (docs/cpu_target.md): the cpu backend runs every one.
      ASSERT_NE(bound, nullptr) << "no backend binds " << format::to_string(t);
      EXPECT_EQ(bound->name(), "cpu");
    } else if (required.count(value)) {
      ASSERT_NE(bound, nullptr) << "no backend binds " << format::to_string(t);
      EXPECT_EQ(bound->name(), format::is_k210_type(t) ? "kpu-sim" : "cpu");
    } else {
      EXPECT_TRUE(optional.count(value)) << "type " << value << " is new: decide who runs it";
      if (bound) {
        EXPECT_EQ(bound->name(), "cpu");
      }
    }
  }
  for (std::uint32_t v : required)
    EXPECT_TRUE(seen.count(v)) << v << " missing from layer_types.def";
}

}  // namespace
}  // namespace emc
