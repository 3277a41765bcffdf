// emc-compare reads the converter's sidecar map through the shared reader (sidecar_map.h).
#pragma once

#include "emc/converter/sidecar_map.h"

namespace emc::compare {

using Sidecar = converter::KmodelMap;
using SidecarLayer = converter::MapLayer;

}  // namespace emc::compare
