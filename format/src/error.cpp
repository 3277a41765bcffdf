#include "emc/format/error.h"

#include <cstdio>
#include <new>

namespace emc {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::kIo:
      return "io";
    case Errc::kJson:
      return "json";
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kUnsupportedLayer:
      return "unsupported_layer";
    case Errc::kInvalidLayerConfig:
      return "invalid_layer_config";
    case Errc::kShapeMismatch:
      return "shape_mismatch";
    case Errc::kQuantization:
      return "quantization";
    case Errc::kKpuOutOfMemory:
      return "kpu_out_of_memory";
    case Errc::kMainOutOfMemory:
      return "main_out_of_memory";
    case Errc::kTruncatedModel:
      return "truncated_model";
    case Errc::kInvalidModel:
      return "invalid_model";
    case Errc::kUnsupportedVersion:
      return "unsupported_version";
    case Errc::kNoBackend:
      return "no_backend";
    case Errc::kKernelFailed:
      return "kernel_failed";
    case Errc::kInternal:
      return "internal";
  }
  return "unknown";
}

int exit_code_for(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return 2;
    case Errc::kIo:
      return 3;
    case Errc::kJson:
    case Errc::kTruncatedModel:
    case Errc::kInvalidModel:
    case Errc::kUnsupportedVersion:
      return 4;
    case Errc::kUnsupportedLayer:
    case Errc::kInvalidLayerConfig:
    case Errc::kShapeMismatch:
    case Errc::kKpuOutOfMemory:
    case Errc::kMainOutOfMemory:
    case Errc::kNoBackend:
      return 5;
    case Errc::kQuantization:
    case Errc::kKernelFailed:
      return 6;
    case Errc::kInternal:
      return 70;
  }
  return 1;
}

std::string Error::to_string() const {
  std::string out;
  if (!file_.empty()) out += file_ + ": ";
  if (byte_offset_) {
    char buf[32];
    std::snprintf(buf, sizeof buf,
                  "offset 0x%llx: ", static_cast<unsigned long long>(*byte_offset_));
    out += buf;
  }
  if (layer_) {
    out += "layer";
    // A negative index marks a layer the importer synthesized (a Sequential model's input).
    if (layer_->index && *layer_->index >= 0) out += " " + std::to_string(*layer_->index);
    if (!layer_->name.empty()) out += " '" + layer_->name + "'";
    if (!layer_->type.empty()) out += " (" + layer_->type + ")";
    if (!backend_.empty()) out += " [" + backend_ + "]";
    out += ": ";
  } else if (!backend_.empty()) {
    out += "backend " + backend_ + ": ";
  }
  out += message_;
  return out;
}

Error error_from_current_exception(const std::string& context) {
  try {
    throw;
  } catch (const ErrorException& e) {
    return e.error();
  } catch (const std::bad_alloc&) {
    return Error(Errc::kInternal, "internal error in " + context +
                                      ": out of memory (an allocation failed; a size limit "
                                      "that should have refused this input is missing)");
  } catch (const std::exception& e) {
    return Error(Errc::kInternal, "internal error in " + context + ": " + e.what());
  } catch (...) {
    return Error(Errc::kInternal, "internal error in " + context + ": unknown exception");
  }
}

}  // namespace emc
