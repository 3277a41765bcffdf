// emc::Error and emc::Result<T>: the one error type shared by every EMC library.
//
// An Error carries a code, a message, and optionally *where* it happened: the file, a byte offset
// into it, a layer (index, name, type) and the backend. `to_string()` renders all of it one way,
// in the wording every tool prints:
//
//   model.kmodel: offset 0x1a4: layer 7 (K210_CONV): weights_offset 0x3f000 + 4608 bytes exceeds
//   file size 0x3f800
//   model.json: layer 12 'conv2d_5' (Conv2D): kernel_size [5,5] is not supported: the KPU runs
//   1x1 and 3x3 kernels
//
// Libraries never abort and never print: they return Result<T> at their public edges. The
// converter may throw emc::ErrorException internally and converts it back at its public edge.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace emc {

enum class Errc {
  kIo,                   // cannot open/read/write a file
  kJson,                 // malformed JSON (message carries line/column)
  kInvalidArgument,      // bad API or command-line argument
  kUnsupportedLayer,     // a layer class / kmodel layer type nobody implements
  kInvalidLayerConfig,   // an attribute value that is not supported or not consistent
  kShapeMismatch,        // shapes that do not chain
  kQuantization,         // calibration / quantization failure
  kKpuOutOfMemory,       // a layer's feature maps do not fit the 2 MiB KPU RAM
  kMainOutOfMemory,      // main-memory plan exceeds the limit
  kTruncatedModel,       // a structure runs past the end of the file
  kInvalidModel,         // a structurally or semantically invalid model file
  kUnsupportedVersion,   // a kmodel that is not V3 (V4 'KMDL', V1, ...)
  kNoBackend,            // no registered backend supports a layer
  kKernelFailed,         // a kernel failed at run time (bad address, ...)
  kInternal,             // a broken internal invariant (a bug in EMC)
};

// Printable name of an Errc ("truncated_model", ...).
const char* errc_name(Errc code);

// Process exit code the CLIs use for an error of this code (always non-zero; 2 = usage/input).
int exit_code_for(Errc code);

// A layer as the user knows it. The converter fills name + Keras class; the interpreter fills the
// kmodel index + layer type name. Any field may be missing.
struct LayerRef {
  std::optional<std::int64_t> index;
  std::string name;  // e.g. "conv2d_3" (empty when unknown, e.g. in a kmodel)
  std::string type;  // e.g. "Conv2D" or "K210_CONV"
};

class Error {
 public:
  Error() = default;
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  Errc code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::optional<LayerRef>& layer() const { return layer_; }
  const std::optional<std::uint64_t>& byte_offset() const { return byte_offset_; }
  const std::string& file() const { return file_; }
  const std::string& backend() const { return backend_; }

  // Fluent setters; each returns *this so errors are built in one expression.
  Error& with_layer(LayerRef layer) & {
    layer_ = std::move(layer);
    return *this;
  }
  Error&& with_layer(LayerRef layer) && { return std::move(with_layer(std::move(layer))); }
  Error& at_offset(std::uint64_t offset) & {
    byte_offset_ = offset;
    return *this;
  }
  Error&& at_offset(std::uint64_t offset) && { return std::move(at_offset(offset)); }
  Error& in_file(std::string file) & {
    file_ = std::move(file);
    return *this;
  }
  Error&& in_file(std::string file) && { return std::move(in_file(std::move(file))); }
  Error& on_backend(std::string backend) & {
    backend_ = std::move(backend);
    return *this;
  }
  Error&& on_backend(std::string backend) && { return std::move(on_backend(std::move(backend))); }
  // Prefixes context to the message ("while calibrating: " + message).
  Error& prefix(const std::string& context) & {
    message_ = context + message_;
    return *this;
  }
  Error&& prefix(const std::string& context) && { return std::move(prefix(context)); }

  // "<file>: offset 0x..: layer N 'name' (Type) [backend]: message". Fields that are absent are
  // left out. Offsets print in hex.
  std::string to_string() const;

 private:
  Errc code_ = Errc::kInternal;
  std::string message_;
  std::optional<LayerRef> layer_;
  std::optional<std::uint64_t> byte_offset_;
  std::string file_;
  std::string backend_;
};

// Thrown only inside batch code (converter passes/importers) and caught at the library's public
// edge, where it becomes a Result. Never crosses a library boundary.
class ErrorException : public std::exception {
 public:
  explicit ErrorException(Error error) : error_(std::move(error)), what_(error_.to_string()) {}
  const Error& error() const { return error_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  Error error_;
  std::string what_;
};

// A value or an Error. [[nodiscard]] so an ignored failure is a compiler warning.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Preconditions: ok() for value(), !ok() for error(). Violations are bugs (checked by variant).
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Status ok_status() { return Status(); }

// Throws ErrorException if `r` holds an error; otherwise returns the value. For batch code only.
template <class T>
T value_or_throw(Result<T> r) {
  if (!r.ok()) throw ErrorException(std::move(r).error());
  return std::move(r).value();
}
inline void value_or_throw(Status s) {
  if (!s.ok()) throw ErrorException(std::move(s).error());
}

// The Error for the exception being handled (call only inside a catch block): an
// ErrorException's own Error; anything else (std::bad_alloc, a filesystem or JSON exception, a
// non-std exception) kInternal, "internal error in <context>: <what()>".
Error error_from_current_exception(const std::string& context);

// Runs `f` (returning Result<T> or Status) so that no exception leaves it: the public edge of a
// library wraps its body in this, so an embedding program only ever sees Results.
template <class F>
auto no_throw(const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return error_from_current_exception(context);
  }
}

}  // namespace emc

// EMC_TRY(status_expr): return the error from the enclosing function if the Status/Result failed.
#define EMC_TRY(expr)                                     \
  do {                                                    \
    auto&& emc_try_result_ = (expr);                      \
    if (!emc_try_result_.ok()) return emc_try_result_.error(); \
  } while (0)
