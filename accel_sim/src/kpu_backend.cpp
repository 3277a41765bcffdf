#include "emc/accel_sim/kpu_backend.h"

#include "conv_layer.h"
#include "transfer_layers.h"

namespace emc::accel_sim {
namespace {

using format::LayerType;

class KpuSimBackend final : public interpreter::Backend {
 public:
  explicit KpuSimBackend(const KpuSimOptions& options) : options_(options) {}

  std::string_view name() const override { return kKpuSimBackendName; }

  bool supports(const interpreter::LayerInfo& info) const override {
    const format::Layer& layer = *info.layer;
    switch (layer.type) {
      case LayerType::kK210Conv:
        return std::holds_alternative<format::ConvBody>(layer.body);
      case LayerType::kK210Upload:
        return std::holds_alternative<format::UploadBody>(layer.body);
      case LayerType::kK210AddPadding:
        return std::holds_alternative<format::AddPaddingBody>(layer.body);
      case LayerType::kK210RemovePadding:
        return std::holds_alternative<format::RemovePaddingBody>(layer.body);
      default:
        return false;
    }
  }

  Result<std::unique_ptr<interpreter::PreparedLayer>> prepare(
      const interpreter::LayerInfo& info) override {
    if (info.layer == nullptr) return Error(Errc::kInvalidArgument, "prepare without a layer");
    switch (info.layer->type) {
      case LayerType::kK210Conv:
        return detail::prepare_conv(info, options_, arenas_.for_model(info.model));
      case LayerType::kK210Upload:
        return detail::prepare_upload(info);
      case LayerType::kK210AddPadding:
        return detail::prepare_add_padding(info);
      case LayerType::kK210RemovePadding:
        return detail::prepare_remove_padding(info);
      default:
        return Error(Errc::kUnsupportedLayer, "kpu-sim does not run this layer type");
    }
  }

 private:
  KpuSimOptions options_;
  detail::ArenaPool arenas_;  // one conv scratch per model
};

}  // namespace

std::unique_ptr<interpreter::Backend> make_kpu_sim_backend(const KpuSimOptions& options) {
  return std::make_unique<KpuSimBackend>(options);
}

emc::Status register_kpu_sim_backend(interpreter::Registry& registry,
                                     const KpuSimOptions& options) {
  return registry.add(make_kpu_sim_backend(options));
}

}  // namespace emc::accel_sim
