// The one model-loading entry: picks the reader by the file's content.
#include "emc/converter/model_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "hdf5_file.h"

namespace emc::converter {

ModelFileKind detect_model_file(const std::uint8_t* head, std::size_t size) {
  if (detail::looks_like_hdf5(head, size)) return ModelFileKind::kKerasH5;
  if (size >= 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
    return ModelFileKind::kKerasArchive;
  return ModelFileKind::kTfjsJson;
}

Result<Model> load_model(const std::string& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return Error(Errc::kIo, "is a directory, not a model file").in_file(path);
  const auto size = fs::file_size(path, ec);
  if (ec) return Error(Errc::kIo, "cannot read: " + ec.message()).in_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::kIo, "cannot open").in_file(path);
  std::uint8_t head[8] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  ModelFileKind kind = detect_model_file(head, got);
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (kind == ModelFileKind::kTfjsJson) {
    if (ext == ".h5" || ext == ".hdf5")
      return Error(Errc::kInvalidModel,
                   "not an HDF5 file (no HDF5 signature; truncated or not a Keras .h5)")
          .in_file(path);
    if (ext == ".keras")
      return Error(Errc::kInvalidModel,
                   "not a zip archive (a .keras file is a zip of config.json, metadata.json and "
                   "model.weights.h5)")
          .in_file(path);
    return load_tfjs_model(path, options);
  }
  const std::uint64_t cap = options.max_total_weight_bytes + options.max_json_bytes;
  if (size > cap)
    return Error(Errc::kInvalidModel, "has " + std::to_string(size) +
                                          " bytes, more than the limit " + std::to_string(cap))
        .in_file(path);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    return Error(Errc::kIo, "cannot read").in_file(path);
  if (kind == ModelFileKind::kKerasH5) return load_keras_h5_from_memory(bytes, path, options);
  return load_keras_archive_from_memory(bytes, path, options);
}

}  // namespace emc::converter
