#include "dispatch.h"

#include <string>

#include "model_checks.h"

namespace emc::interpreter::detail {

Result<std::vector<Binding>> bind_layers(const format::Kmodel& model, const Registry& registry,
                                         const DispatchPolicy& policy) {
  std::vector<Backend*> candidates;
  if (policy.order.empty()) {
    for (const auto& b : registry.backends()) candidates.push_back(b.get());
  } else {
    for (const std::string& name : policy.order) {
      Backend* b = registry.find(name);
      if (!b) {
        return Error(Errc::kInvalidArgument,
                     "dispatch order names backend '" + name +
                         "', which is not registered; registered: " + registry.names());
      }
      candidates.push_back(b);
    }
  }
  for (const auto& [index, name] : policy.by_index) {
    if (index >= model.layers.size()) {
      return Error(Errc::kInvalidArgument, "dispatch override for layer " + std::to_string(index) +
                                               " -> '" + name + "': the model has only " +
                                               std::to_string(model.layers.size()) + " layers");
    }
  }

  std::vector<Binding> out;
  out.reserve(model.layers.size());
  const std::size_t kpu_bytes = kpu_ram_bytes(model);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const format::Layer& layer = model.layers[i];
    const LayerInfo info = layer_info(model, i, kpu_bytes);
    const std::string* forced = nullptr;
    if (auto it = policy.by_index.find(i); it != policy.by_index.end()) {
      forced = &it->second;
    } else if (auto jt = policy.by_type.find(layer.type); jt != policy.by_type.end()) {
      forced = &jt->second;
    }
    if (forced) {
      Backend* b = registry.find(*forced);
      if (!b) {
        return Error(Errc::kInvalidArgument,
                     "dispatch override names backend '" + *forced +
                         "', which is not registered; registered: " + registry.names())
            .with_layer(layer_ref(model, i));
      }
      if (!b->supports(info)) {
        return Error(Errc::kInvalidArgument,
                     "dispatch override names backend '" + *forced + "', which does not support it")
            .with_layer(layer_ref(model, i));
      }
      out.push_back({b, true});
      continue;
    }
    Backend* chosen = nullptr;
    for (Backend* b : candidates) {
      if (b->supports(info)) {
        chosen = b;
        break;
      }
    }
    if (!chosen) {
      return Error(Errc::kNoBackend,
                   "no registered backend supports it; registered: " + registry.names())
          .with_layer(layer_ref(model, i));
    }
    out.push_back({chosen, false});
  }
  return out;
}

}  // namespace emc::interpreter::detail
