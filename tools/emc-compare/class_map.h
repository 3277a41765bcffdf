// emc-compare --class-map: which model output a dataset subfolder stands for.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "emc/format/error.h"

namespace emc::compare {

// Subfolder name -> output index.
using ClassMap = std::map<std::string, std::int64_t>;

// Reads a class map: either a JSON object {"NAME": INDEX, ...} (torchvision's
// ImageFolder.class_to_idx dumped with json.dump) or text lines "NAME INDEX" / "NAME,INDEX" /
// "NAME<TAB>INDEX" (the name is everything before the last separator, so it may contain
// blanks; empty lines and lines starting with '#' are ignored). Indices are non-negative
// integers; a name given twice or a malformed line is kInvalidArgument naming the line.
Result<ClassMap> read_class_map(const std::string& path);

}  // namespace emc::compare
