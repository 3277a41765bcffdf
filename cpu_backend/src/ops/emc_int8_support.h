// Prepare-time plumbing shared by the EMC int8 kernels other than the convolutions: the parser's
// own semantic checks (format::validate_layer) on the in-memory layer, then the footprint's
// ranges checked against this run's main memory.
#pragma once

#include <vector>

#include "emc/cpu_backend/emc_arithmetic.h"
#include "kernel_support.h"

namespace emc::cpu_backend::detail {

struct Int8Io {
  std::vector<ByteRange> reads;  // in footprint order (the body's input fields)
  ByteRange out;
};

// Validates the layer as the parser does (fields, ranges inside main memory) and returns its
// read ranges and output range, named by their body fields in errors.
Result<Int8Io> check_int8_layer(const LayerChecker& c);

}  // namespace emc::cpu_backend::detail
