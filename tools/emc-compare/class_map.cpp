#include "class_map.h"

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace emc::compare {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool parse_index(const std::string& s, std::int64_t* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  *out = std::stoll(s);
  return true;
}

}  // namespace

Result<ClassMap> read_class_map(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::kIo, "cannot open the class map").in_file(path);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  ClassMap map;
  if (trim(text).rfind('{', 0) == 0) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Error(Errc::kJson, "class map: not a JSON object {\"NAME\": INDEX}").in_file(path);
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.value().is_number_unsigned()) {
        return Error(Errc::kInvalidArgument,
                     "class map: the index of '" + it.key() + "' is not a non-negative integer")
            .in_file(path);
      }
      map[it.key()] = it.value().get<std::int64_t>();
    }
  } else {
    std::istringstream lines(text);
    std::string line;
    for (std::size_t no = 1; std::getline(lines, line); ++no) {
      const std::string t = trim(line);
      if (t.empty() || t[0] == '#') continue;
      const std::size_t sep = t.find_last_of(" \t,");
      std::int64_t index = 0;
      if (sep == std::string::npos || !parse_index(trim(t.substr(sep + 1)), &index) ||
          trim(t.substr(0, sep)).empty()) {
        return Error(Errc::kInvalidArgument, "class map line " + std::to_string(no) +
                                                 ": expected 'NAME INDEX', got '" + t + "'")
            .in_file(path);
      }
      const std::string name = trim(t.substr(0, sep));
      if (!map.emplace(name, index).second) {
        return Error(Errc::kInvalidArgument,
                     "class map line " + std::to_string(no) + ": '" + name + "' given twice")
            .in_file(path);
      }
    }
  }
  if (map.empty()) return Error(Errc::kInvalidArgument, "class map is empty").in_file(path);
  return map;
}

}  // namespace emc::compare
