#include "emc/interpreter/interpreter.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "dispatch.h"
#include "emc/format/kpu_layout.h"
#include "interpreter_impl.h"
#include "layer_access.h"
#include "model_checks.h"

namespace emc::interpreter {
namespace {

// Adds "layer N (TYPE) [backend]" to an error coming out of a backend, unless it already has it.
Error in_layer(Error e, const format::Kmodel& model, std::size_t index, std::string_view backend) {
  if (!e.layer()) e.with_layer(detail::layer_ref(model, index));
  if (e.backend().empty()) e.on_backend(std::string(backend));
  return e;
}

std::string shape_text(const TensorInfo& t) {
  std::string s;
  for (std::uint32_t d : t.shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

}  // namespace

std::string Diagnostic::to_string() const {
  return "layer " + std::to_string(layer) + " (" + std::string(format::to_string(type)) +
         "): " + message;
}

Interpreter::Interpreter() : impl_(std::make_unique<Impl>()) {}
Interpreter::~Interpreter() = default;

Result<std::unique_ptr<Interpreter>> Interpreter::load_model(format::Kmodel model,
                                                             const Registry& registry,
                                                             const DispatchPolicy& policy) {
  return no_throw("loading the kmodel", [&]() -> Result<std::unique_ptr<Interpreter>> {
    // 1. Validate everything before allocating the memories (robustness.md §2.1 item 17).
    std::vector<detail::LayerAccess> access;
    access.reserve(model.layers.size());
    for (std::size_t i = 0; i < model.layers.size(); ++i) {
      auto a = detail::layer_access(model.layers[i]);
      if (!a.ok()) return std::move(a).error().with_layer(detail::layer_ref(model, i));
      access.push_back(std::move(a).value());
    }
    auto diags = detail::check_model(model, access);
    if (!diags.ok()) return std::move(diags).error();

    // 2. Bind every layer (no backend state yet).
    auto bindings = detail::bind_layers(model, registry, policy);
    if (!bindings.ok()) return std::move(bindings).error();

    // 3. Allocate and zero the memories.
    std::unique_ptr<Interpreter> interp(new Interpreter());
    Impl& im = *interp->impl_;
    im.model = std::move(model);
    im.access = std::move(access);
    im.diagnostics = std::move(diags).value();
    const std::size_t kpu_bytes = kpu_ram_bytes(im.model);
    if (!im.main_mem.allocate(im.model.header.main_mem_usage) || !im.kpu_mem.allocate(kpu_bytes)) {
      return Error(Errc::kMainOutOfMemory, "cannot allocate " +
                                               std::to_string(im.model.header.main_mem_usage) +
                                               " bytes of main memory + " +
                                               std::to_string(kpu_bytes) + " bytes of KPU RAM");
    }

    // 4. Prepare each layer once on its backend.
    const std::vector<detail::Binding>& bound = bindings.value();
    for (std::size_t i = 0; i < im.model.layers.size(); ++i) {
      Backend& backend = *bound[i].backend;
      const LayerInfo info = layer_info(im.model, i, im.kpu_mem.size());
      Result<std::unique_ptr<PreparedLayer>> prepared = Error(Errc::kInternal, "not prepared");
      try {
        prepared = backend.prepare(info);
      } catch (const std::exception& ex) {
        prepared = Error(Errc::kInternal, std::string("prepare threw: ") + ex.what());
      } catch (...) {
        prepared = Error(Errc::kInternal, "prepare threw a non-standard exception");
      }
      if (!prepared.ok()) return in_layer(std::move(prepared).error(), im.model, i, backend.name());
      if (!prepared.value()) {
        return in_layer(Error(Errc::kInternal, "prepare returned no layer"), im.model, i,
                        backend.name());
      }
      PlanEntry entry;
      entry.index = i;
      entry.type = im.model.layers[i].type;
      entry.backend = std::string(backend.name());
      entry.overridden = bound[i].overridden;
      entry.simulated_cycles = prepared.value()->simulated_cycles();
      im.plan.push_back(std::move(entry));
      im.backends.push_back(&backend);
      im.prepared.push_back(std::move(prepared).value());
    }

    // 5. Describe input and outputs.
    const format::Layer& first = im.model.layers.front();
    if (first.type == format::LayerType::kK210Conv) {
      const format::KpuLayerFields f = std::get<format::ConvBody>(first.body).fields();
      im.input.type = ElementType::kUint8;
      im.input.shape = {static_cast<std::uint32_t>(f.in_channels()),
                        static_cast<std::uint32_t>(f.in_height()),
                        static_cast<std::uint32_t>(f.in_width())};
      im.input.bytes = std::size_t{im.input.shape[0]} * im.input.shape[1] * im.input.shape[2];
    } else if (first.type == format::LayerType::kEmcConv2d ||
               first.type == format::LayerType::kEmcDepthwiseConv2d) {
      // uint8 CHW pixels, stored as the int8 codes p - 128 (docs/cpu_target.md).
      const auto& g = std::get<format::EmcConv2dInt8Body>(first.body).geo;
      im.input.type = ElementType::kUint8;
      im.input.shape = {g.in_channels, g.in_height, g.in_width};
      im.input.bytes = std::size_t{g.in_channels} * g.in_height * g.in_width;
    } else if (first.type == format::LayerType::kEmcQuantizeInt8) {
      const auto& q = std::get<format::EmcQuantizeInt8Body>(first.body);
      im.input.type = ElementType::kFloat32;
      im.input.shape = {q.count};
      im.input.bytes = std::size_t{q.count} * 4;
    } else {  // FULLY_CONNECTED, enforced by check_model
      const auto& fc = std::get<format::FullyConnectedBody>(first.body);
      im.input.type = ElementType::kFloat32;
      im.input.shape = {fc.in_channels};
      im.input.bytes = std::size_t{fc.in_channels} * 4;
    }
    for (const format::OutputDesc& o : im.model.outputs) {
      TensorInfo t;
      t.bytes = o.size;
      if (o.size % 4 == 0) {
        t.type = ElementType::kFloat32;
        t.shape = {o.size / 4};
      } else {
        t.type = ElementType::kUint8;
        t.shape = {o.size};
      }
      im.outputs.push_back(std::move(t));
    }
    try {
      im.input_bytes.assign(im.input.bytes, 0);
    } catch (const std::bad_alloc&) {
      return Error(Errc::kMainOutOfMemory, "cannot allocate the model input");
    }
    return interp;
  });
}

const format::Kmodel& Interpreter::model() const {
  return impl_->model;
}
const std::vector<PlanEntry>& Interpreter::plan() const {
  return impl_->plan;
}
const std::vector<Diagnostic>& Interpreter::diagnostics() const {
  return impl_->diagnostics;
}

std::size_t Interpreter::input_count() const {
  return 1;
}

TensorInfo Interpreter::input_info(std::size_t index) const {
  return index == 0 ? impl_->input : TensorInfo{};
}

Status Interpreter::set_input(std::size_t index, std::span<const std::uint8_t> bytes) {
  Impl& im = *impl_;
  if (index != 0) {
    return Error(Errc::kInvalidArgument,
                 "input " + std::to_string(index) + " does not exist: a kmodel V3 has one input");
  }
  if (bytes.size() != im.input.bytes) {
    return Error(Errc::kInvalidArgument,
                 "input 0 takes exactly " + std::to_string(im.input.bytes) + " bytes (" +
                     (im.input.type == ElementType::kUint8 ? "uint8 CHW " : "float32 x ") +
                     shape_text(im.input) + "), got " + std::to_string(bytes.size()));
  }
  im.input_bytes.assign(bytes.begin(), bytes.end());
  return place_input();
}

Status Interpreter::place_input() {
  Impl& im = *impl_;
  const std::span<const std::uint8_t> bytes = im.input_bytes;
  const format::Layer& first = im.model.layers.front();
  if (first.type == format::LayerType::kK210Conv) {
    const format::KpuLayerFields f = std::get<format::ConvBody>(first.body).fields();
    Status s = format::kpu_upload(bytes, im.input.shape[2], im.input.shape[1], im.input.shape[0],
                                  im.kpu_mem.span(), static_cast<std::uint32_t>(f.image_src_addr));
    if (!s.ok()) return std::move(s).error().with_layer(detail::layer_ref(im.model, 0));
    return ok_status();
  }
  const bool pixels = first.type == format::LayerType::kEmcConv2d ||
                      first.type == format::LayerType::kEmcDepthwiseConv2d;
  std::uint32_t address = 0;
  if (pixels)
    address = std::get<format::EmcConv2dInt8Body>(first.body).geo.main_mem_in_address;
  else if (first.type == format::LayerType::kEmcQuantizeInt8)
    address = std::get<format::EmcQuantizeInt8Body>(first.body).main_mem_in_address;
  else
    address = std::get<format::FullyConnectedBody>(first.body).main_mem_in_address;
  auto dst = main_memory().at(address, bytes.size());
  if (!dst.ok()) return std::move(dst).error().with_layer(detail::layer_ref(im.model, 0));
  if (pixels) {  // pixel p -> int8 code p - 128 (the byte with its top bit flipped)
    for (std::size_t i = 0; i < bytes.size(); ++i)
      (*dst)[i] = static_cast<std::uint8_t>(bytes[i] ^ 0x80u);
  } else {
    std::memcpy(dst->data(), bytes.data(), bytes.size());
  }
  return ok_status();
}

std::size_t Interpreter::output_count() const {
  return impl_->outputs.size();
}

TensorInfo Interpreter::output_info(std::size_t index) const {
  return index < impl_->outputs.size() ? impl_->outputs[index] : TensorInfo{};
}

std::span<const std::uint8_t> Interpreter::output_bytes(std::size_t index) const {
  if (index >= impl_->model.outputs.size()) return {};
  const format::OutputDesc& o = impl_->model.outputs[index];
  auto r = main_memory().at(o.address, o.size);  // in range: checked at load
  return r.ok() ? std::span<const std::uint8_t>(*r) : std::span<const std::uint8_t>{};
}

std::vector<float> Interpreter::output(std::size_t index) const {
  const std::span<const std::uint8_t> raw = output_bytes(index);
  std::vector<float> out;
  if (output_info(index).type == ElementType::kFloat32) {
    out.resize(raw.size() / 4);
    std::memcpy(out.data(), raw.data(), out.size() * 4);  // V3 is little-endian like the host
  } else {
    out.assign(raw.begin(), raw.end());
  }
  return out;
}

void Interpreter::set_observer(LayerObserver observer) {
  impl_->observer = std::move(observer);
}

Status Interpreter::run() {
  return no_throw("Interpreter::run", [&]() -> Status {
    Impl& im = *impl_;
    EMC_TRY(place_input());
    ExecContext ctx{main_memory(), kpu_memory()};
    for (std::size_t i = 0; i < im.prepared.size(); ++i) {
      const std::string_view backend = im.backends[i]->name();
      const auto t0 = std::chrono::steady_clock::now();
      Status s;
      try {
        s = im.prepared[i]->run(ctx);
      } catch (const std::exception& ex) {
        s = Error(Errc::kInternal, std::string("run threw: ") + ex.what());
      } catch (...) {
        s = Error(Errc::kInternal, "run threw a non-standard exception");
      }
      const auto t1 = std::chrono::steady_clock::now();
      if (!s.ok()) return in_layer(std::move(s).error(), im.model, i, backend);
      if (im.observer) {
        LayerEvent ev;
        ev.index = i;
        ev.type = im.model.layers[i].type;
        ev.backend = backend;
        ev.host_time = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0);
        ev.simulated_cycles = im.plan[i].simulated_cycles;
        format::MemRange out = im.prepared[i]->output_range();
        if (out.size == 0 && !im.access[i].main_writes.empty()) {
          const detail::ByteRange& w = im.access[i].main_writes.front();
          out = {static_cast<std::uint32_t>(w.start), static_cast<std::uint32_t>(w.size)};
        }
        if (out.size != 0) {
          if (auto span = ctx.main.at(out.start, out.size); span.ok()) ev.output = *span;
        }
        im.observer(ev);
      }
    }
    return ok_status();
  });
}

std::uint64_t Interpreter::total_simulated_cycles() const {
  std::uint64_t total = 0;
  for (const PlanEntry& e : impl_->plan) total += e.simulated_cycles;
  return total;
}

MemoryRegion Interpreter::main_memory() const {
  return MemoryRegion("main memory", impl_->main_mem.span());
}

MemoryRegion Interpreter::kpu_memory() const {
  return MemoryRegion("KPU RAM", impl_->kpu_mem.span());
}

}  // namespace emc::interpreter
