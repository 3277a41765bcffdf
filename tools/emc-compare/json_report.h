// Machine-readable output of emc-compare (--json). Every metric is a JSON number; a value that
// is not finite (SQNR of identical tensors = +inf, NaN from a broken model) is written as null
// with a sibling "<name>_note" string ("identical", "nan", "-inf").
#pragma once

#include <nlohmann/json.hpp>

#include "compare_result.h"

namespace emc::compare {

nlohmann::json to_json(const CompareResult& result);

}  // namespace emc::compare
