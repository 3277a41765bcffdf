// EMC_CONCAT_INT8, EMC_PAD_CROP_INT8, EMC_RESIZE_NEAREST_INT8 (format/emc_layers.h;
// docs/cpu_target.md): int8 data movement; concat requantizes each input to the output's
// parameters (a byte copy when they are the identity).
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "emc_int8_support.h"
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

using format::EmcResizeMode;

class ConcatInt8Layer final : public interpreter::PreparedLayer {
 public:
  ConcatInt8Layer(const format::EmcConcatInt8Body& b, const Int8Io& io) : io_(io) {
    for (const format::EmcConcatInput& in : b.inputs) {
      Part p;
      p.copy = in.multiplier == (1 << 30) && in.shift == 1 && in.zero_point == b.output_zero_point;
      for (int q = -128; q < 128; ++q) {
        p.table[q + 128] =
            emc_clamp_code(emc_scale_round(q - in.zero_point, in.multiplier, in.shift),
                           b.output_zero_point, -128, 127);
      }
      parts_.push_back(p);
    }
  }

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, io_.out));
    for (std::size_t k = 0; k < parts_.size(); ++k) {
      EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, io_.reads[k]));
      const std::uint64_t n = io_.reads[k].size;
      if (parts_[k].copy) {
        if (in != out) std::memmove(out, in, n);
      } else {
        for (std::uint64_t i = 0; i < n; ++i) {
          out[i] = static_cast<std::uint8_t>(parts_[k].table[in[i] ^ 0x80]);  // code + 128
        }
      }
      out += n;
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return io_.out.mem_range(); }

 private:
  struct Part {
    bool copy = false;
    std::array<std::int8_t, 256> table{};  // requantized code by input code + 128
  };
  Int8Io io_;
  std::vector<Part> parts_;
};

class PadCropInt8Layer final : public interpreter::PreparedLayer {
 public:
  PadCropInt8Layer(const format::EmcPadCropInt8Body& b, const Int8Io& io)
      : b_(b), in_(io.reads[0]), out_(io.out) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const std::int64_t iw = b_.in_width, ih = b_.in_height, ow = b_.out_width;
    const std::int64_t oh = b_.out_height;
    const auto fill = static_cast<std::uint8_t>(static_cast<std::int8_t>(b_.fill));
    // Output columns [xa, xb) come from input columns xa - pad_left ...
    const std::int64_t xa = std::clamp<std::int64_t>(b_.pad_left, 0, ow);
    const std::int64_t xb = std::clamp<std::int64_t>(b_.pad_left + iw, xa, ow);
    for (std::int64_t c = 0; c < b_.channels; ++c) {
      for (std::int64_t y = 0; y < oh; ++y) {
        std::uint8_t* row = out + (c * oh + y) * ow;
        const std::int64_t iy = y - b_.pad_top;
        if (iy < 0 || iy >= ih || xa == xb) {
          std::memset(row, fill, static_cast<std::size_t>(ow));
          continue;
        }
        std::memset(row, fill, static_cast<std::size_t>(xa));
        std::memcpy(row + xa, in + (c * ih + iy) * iw + (xa - b_.pad_left),
                    static_cast<std::size_t>(xb - xa));
        std::memset(row + xb, fill, static_cast<std::size_t>(ow - xb));
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  format::EmcPadCropInt8Body b_;
  ByteRange in_, out_;
};

// The source index of output index o along one axis (exact integers; emc_layers.h).
std::uint64_t resize_src(EmcResizeMode mode, std::uint64_t o, std::uint64_t in, std::uint64_t out) {
  switch (mode) {
    case EmcResizeMode::kAsymmetric:
      return std::min(o * in / out, in - 1);
    case EmcResizeMode::kHalfPixel:
      return std::min((2 * o + 1) * in / (2 * out), in - 1);
    case EmcResizeMode::kAlignCorners:
      if (out == 1) return 0;
      return std::min((2 * o * (in - 1) + (out - 1)) / (2 * (out - 1)), in - 1);
  }
  return 0;
}

class ResizeNearestInt8Layer final : public interpreter::PreparedLayer {
 public:
  ResizeNearestInt8Layer(const format::EmcResizeNearestInt8Body& b, const Int8Io& io)
      : b_(b), in_(io.reads[0]), out_(io.out) {
    const auto mode = static_cast<EmcResizeMode>(b.mode);
    for (std::uint64_t x = 0; x < b.out_width; ++x) {
      sx_.push_back(resize_src(mode, x, b.in_width, b.out_width));
    }
    for (std::uint64_t y = 0; y < b.out_height; ++y) {
      sy_.push_back(resize_src(mode, y, b.in_height, b.out_height));
    }
  }

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const std::uint64_t iw = b_.in_width, ih = b_.in_height, ow = b_.out_width;
    for (std::uint64_t c = 0; c < b_.channels; ++c) {
      for (std::uint64_t y = 0; y < sy_.size(); ++y) {
        const std::uint8_t* src = in + (c * ih + sy_[y]) * iw;
        std::uint8_t* dst = out + (c * sy_.size() + y) * ow;
        for (std::uint64_t x = 0; x < ow; ++x) dst[x] = src[sx_[x]];
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  format::EmcResizeNearestInt8Body b_;
  ByteRange in_, out_;
  std::vector<std::uint64_t> sx_, sy_;
};

}  // namespace

Result<PreparedPtr> prepare_emc_concat_int8(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcConcatInt8Body* b, c.body<format::EmcConcatInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<ConcatInt8Layer>(*b, io));
}

Result<PreparedPtr> prepare_emc_pad_crop_int8(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcPadCropInt8Body* b,
                           c.body<format::EmcPadCropInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<PadCropInt8Layer>(*b, io));
}

Result<PreparedPtr> prepare_emc_resize_nearest_int8(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcResizeNearestInt8Body* b,
                           c.body<format::EmcResizeNearestInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<ResizeNearestInt8Layer>(*b, io));
}

}  // namespace emc::cpu_backend::detail
