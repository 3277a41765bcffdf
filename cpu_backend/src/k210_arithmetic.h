// Internal pieces of the K210 reference kernels: feature-map addressing from registers (§5.2),
// a validated description of one K210_CONV layer, and its stages (§6.1-§6.7). The public scalar
// functions are in emc/cpu_backend/k210_reference.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/cpu_backend/k210_reference.h"
#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"
#include "emc/format/kpu_regs.h"

namespace emc::cpu_backend::detail {

// A W x H x C uint8 map in KPU RAM (§5.2). Pixel (c, y, x) is at byte
//   base + (c / groups) * group_stride + (c % groups) * (64 / groups) + y * line_stride + x.
struct KpuMap {
  std::uint64_t base = 0;  // byte address in KPU RAM (start row * 64)
  std::uint32_t width = 0, height = 0, channels = 0;
  std::uint32_t groups = 1;         // channels sharing one 64-byte row: 1, 2 or 4
  std::uint64_t line_stride = 64;   // bytes between image lines (row_switch_addr * 64)
  std::uint64_t group_stride = 64;  // bytes between channel groups (channel_switch_addr * 64)

  // Offset of pixel (c, y, x) from `base`.
  std::uint64_t offset(std::uint32_t c, std::uint32_t y, std::uint32_t x) const {
    return std::uint64_t{c / groups} * group_stride + std::uint64_t{c % groups} * (64 / groups) +
           std::uint64_t{y} * line_stride + x;
  }
  // Bytes from `base` to one past the last pixel (the strides come from registers and need not
  // be ordered, so this is the maximum over all channels). 0 for an empty map.
  std::uint64_t extent() const;
};

// The map a layer's registers describe; kInvalidModel naming `what` ("input map", ...) and the
// field when the group is not 1/2/4 or a line does not fit its slot (64/groups bytes, or
// line_stride bytes when groups == 1).
Result<KpuMap> kpu_map_from_registers(const std::string& what, std::int64_t start_row,
                                      std::uint32_t width, std::uint32_t height,
                                      std::uint32_t channels, std::int64_t groups,
                                      std::int64_t row_switch, std::int64_t channel_switch);

// The §5.2 default layout of a width (SDK kpu_upload_core / get_kpu_row_layout). width >= 1.
KpuMap kpu_map_for_width(std::uint64_t start_row, std::uint32_t width, std::uint32_t height,
                         std::uint32_t channels);

// Output size of pool_type 0-9 along one axis (§6.5, floor).
std::uint32_t k210_pool_output_size(std::uint32_t n, std::int64_t pool_type);

// Everything a K210_CONV computes with, decoded from the body and validated.
struct K210Conv {
  KpuMap in, out;
  std::uint32_t kernel = 1;  // 1 or 3 (pad 0 or 1)
  bool depthwise = false;
  std::int64_t pool_type = 0;
  std::int64_t pad_value = 0;
  std::int64_t arg_x = 0, shr_x = 0;
  std::vector<std::int64_t> weights;      // [oc][ic][ky][kx] (depthwise: [c][ky][kx]), decoded
  std::vector<std::int64_t> const_term;   // per oc: ((arg_w * sum_w) >> shr_w) + arg_add * g_ic
  std::vector<format::KpuBatchNorm> bn;   // per oc
  format::KpuActivationTable activation;  // 16 segments
  bool main_out = false;                  // body flags bit 0: DMA the output to main memory
  std::uint64_t main_out_address = 0;     // dense CHW, out.width * out.height * out.channels bytes

  std::uint64_t out_bytes() const { return std::uint64_t{out.width} * out.height * out.channels; }
};

// Decodes and validates a K210_CONV body: kernel_type, pool_type, depthwise channel counts, the
// output size against the pool, both map layouts, blob sizes, the input and output maps inside
// `kpu_bytes` of KPU RAM (kKpuOutOfMemory) and the DMA output inside `main_bytes`
// (kInvalidModel). Errors carry no layer reference; the caller adds it.
Result<K210Conv> make_k210_conv(const format::ConvBody& body, bool eight_bit_weights,
                                std::uint64_t kpu_bytes, std::uint64_t main_bytes);

// Scratch reused across runs of one layer.
struct K210ConvScratch {
  std::vector<std::int32_t> padded;  // input planes with the pad ring, [ic][H+2p][W+2p]
  std::vector<std::int64_t> sum_x;   // normal conv: Σx of each pixel's window over all ic
  std::vector<std::int64_t> dw_sum;  // depthwise: Σx of the current channel's window
  std::vector<std::uint8_t> act;     // one activated H x W plane
};

// Reads the input map (`in_map` points at conv.in.base) into s.padded and, for a normal conv,
// the shared Σx plane. After this the KPU input bytes are no longer read, so the output may
// overwrite them.
void k210_conv_load_input(const K210Conv& conv, const std::uint8_t* in_map, K210ConvScratch& s);

// §6.1: the 36-bit accumulators of output channel `o` over the H_in x W_in map into `acc`.
void k210_conv_accumulate(const K210Conv& conv, std::size_t o, K210ConvScratch& s,
                          std::int64_t* acc);

// §6.3-§6.5: BN, activation and pooling of channel `o`'s accumulators into `pooled`
// (out.height x out.width bytes, row-major).
void k210_conv_output_stage(const K210Conv& conv, std::size_t o, const std::int64_t* acc,
                            SegmentSelection selection, ActivationRounding rounding,
                            K210ConvScratch& s, std::uint8_t* pooled);

}  // namespace emc::cpu_backend::detail
