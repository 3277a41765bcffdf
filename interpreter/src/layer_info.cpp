#include "emc/format/kpu_layout.h"
#include "emc/interpreter/backend.h"

namespace emc::interpreter {

std::size_t kpu_ram_bytes(const format::Kmodel& model) {
  for (const format::Layer& layer : model.layers) {
    if (format::is_k210_type(layer.type)) return format::kKpuRamBytes;
  }
  return 0;
}

LayerInfo layer_info(const format::Kmodel& model, std::size_t index) {
  return layer_info(model, index, kpu_ram_bytes(model));
}

LayerInfo layer_info(const format::Kmodel& model, std::size_t index, std::size_t kpu_mem_bytes) {
  LayerInfo info;
  info.index = index;
  info.layer = &model.layers.at(index);
  info.model = &model;
  info.main_mem_bytes = model.header.main_mem_usage;
  info.kpu_mem_bytes = kpu_mem_bytes;
  return info;
}

}  // namespace emc::interpreter
