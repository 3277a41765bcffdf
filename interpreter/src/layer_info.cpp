#include "emc/format/kpu_layout.h"
#include "emc/interpreter/backend.h"

namespace emc::interpreter {

LayerInfo layer_info(const format::Kmodel& model, std::size_t index) {
  LayerInfo info;
  info.index = index;
  info.layer = &model.layers.at(index);
  info.model = &model;
  info.main_mem_bytes = model.header.main_mem_usage;
  info.kpu_mem_bytes = format::kKpuRamBytes;
  return info;
}

}  // namespace emc::interpreter
