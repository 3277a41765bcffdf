// The K210 KPU arithmetic, straight from ../shared/docs/kmodel_v3.md §5.2 and §6.1-§6.5, with
// int64 everywhere. Loops are naive apart from two rearrangements that do not change any value:
// the per-output-channel constant ((arg_w * Σw) >> shr_w) + arg_add * g_ic is computed once per
// layer, and Σx·w is accumulated one weight tap at a time over a whole plane (integer sums are
// order-independent).
#include "k210_arithmetic.h"

#include <algorithm>

#include "emc/format/kpu_layout.h"

namespace emc::cpu_backend {

std::int64_t k210_wrap36(std::int64_t v) {
  // Keep the low 36 bits (unsigned arithmetic: no signed overflow), then sign-extend bit 35.
  const std::uint64_t low = static_cast<std::uint64_t>(v) & ((std::uint64_t{1} << 36) - 1);
  const std::int64_t s = static_cast<std::int64_t>(low);
  return s >= (std::int64_t{1} << 35) ? s - (std::int64_t{1} << 36) : s;
}

std::int64_t k210_floor_shift(std::int64_t v, std::int64_t s) {
  if (s <= 0) return v;
  if (s >= 63) return v < 0 ? -1 : 0;
  return v >> s;  // arithmetic (flooring) shift, as on RV64 and in C++20
}

std::int64_t k210_sdk_carry_shift(std::int64_t v, std::int64_t s) {
  // kpu_carry_shift: v >>= s-1; if (v & 1) v = v < 0 ? (v >> 1) - 1 : (v >> 1) + 1; else v >>= 1.
  if (s <= 0) return v;
  v = k210_floor_shift(v, s - 1);
  if ((v & 1) != 0) return v < 0 ? k210_floor_shift(v, 1) - 1 : k210_floor_shift(v, 1) + 1;
  return k210_floor_shift(v, 1);
}

std::int64_t k210_banker_carry_shift(std::int64_t v, std::int64_t s) {
  // carry_shift<int64_t, true>: integral = v >> s, frac = v & (2^s - 1), half = 2^(s-1).
  if (s <= 0) return v;
  const std::int64_t integral = k210_floor_shift(v, s);
  const std::int64_t sign = v < 0 ? -1 : 1;
  if (s >= 63) {
    // 2^s exceeds |v|: for v >= 0 frac = v < half; for v < 0 frac = v + 2^s > half.
    return v < 0 ? integral + sign : integral;
  }
  const std::int64_t frac = v - integral * (std::int64_t{1} << s);
  const std::int64_t half = std::int64_t{1} << (s - 1);
  if (frac < half) return integral;
  if (frac > half) return integral + sign;
  return (integral & 1) != 0 ? integral + sign : integral;
}

std::int64_t k210_batch_norm(std::int64_t acc, const format::KpuBatchNorm& bn) {
  return k210_wrap36(k210_floor_shift(acc * bn.norm_mul, bn.norm_shift) + bn.norm_add);
}

std::uint8_t k210_activation(std::int64_t bn, const format::KpuActivationTable& table,
                             SegmentSelection selection, ActivationRounding rounding) {
  std::size_t seg = 0;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const bool qualifies = selection == SegmentSelection::kStartStrictlyLess
                               ? table[i].x_start < bn
                               : table[i].x_start <= bn;
    if (qualifies) seg = i;  // the highest-numbered qualifying segment
  }
  const format::KpuActivationSegment& s = table[seg];
  const std::int64_t product = (bn - s.x_start) * s.y_mul;
  const std::int64_t shifted = rounding == ActivationRounding::kNn02Banker
                                   ? k210_banker_carry_shift(product, s.shift_number)
                                   : k210_sdk_carry_shift(product, s.shift_number);
  return static_cast<std::uint8_t>(std::clamp<std::int64_t>(shifted + s.result_bias, 0, 255));
}

Result<std::vector<std::int64_t>> k210_conv_accumulators(const format::ConvBody& body,
                                                         bool eight_bit_weights,
                                                         std::span<const std::uint8_t> kpu_ram) {
  // The DMA output is not touched here, so main memory is unbounded for validation.
  auto conv = detail::make_k210_conv(body, eight_bit_weights, kpu_ram.size(), UINT64_MAX);
  if (!conv.ok()) return std::move(conv).error();
  detail::K210ConvScratch scratch;
  detail::k210_conv_load_input(*conv, kpu_ram.data() + conv->in.base, scratch);
  const std::size_t plane = std::size_t{conv->in.width} * conv->in.height;
  std::vector<std::int64_t> acc(plane * conv->out.channels);
  for (std::size_t o = 0; o < conv->out.channels; ++o) {
    detail::k210_conv_accumulate(*conv, o, scratch, acc.data() + o * plane);
  }
  return acc;
}

namespace detail {
namespace {

Error invalid(const std::string& message) {
  return Error(Errc::kInvalidModel, message);
}

}  // namespace

std::uint64_t KpuMap::extent() const {
  if (width == 0 || height == 0 || channels == 0) return 0;
  std::uint64_t last_line = 0;
  for (std::uint32_t c = 0; c < channels; ++c) {
    last_line = std::max(last_line, offset(c, height - 1, 0));
  }
  return last_line + width;
}

Result<KpuMap> kpu_map_from_registers(const std::string& what, std::int64_t start_row,
                                      std::uint32_t width, std::uint32_t height,
                                      std::uint32_t channels, std::int64_t groups,
                                      std::int64_t row_switch, std::int64_t channel_switch) {
  if (groups != 1 && groups != 2 && groups != 4) {
    return invalid(what + ": group register " + std::to_string(groups) +
                   " is not 1, 2 or 4 channels per 64-byte row");
  }
  KpuMap m;
  m.base = static_cast<std::uint64_t>(start_row) * 64;
  m.width = width;
  m.height = height;
  m.channels = channels;
  m.groups = static_cast<std::uint32_t>(groups);
  m.line_stride = static_cast<std::uint64_t>(row_switch) * 64;
  m.group_stride = static_cast<std::uint64_t>(channel_switch) * 64;
  // A line must stay inside its channel's slot: 64/groups bytes of a row, or the line's rows.
  const std::uint64_t slot = m.groups > 1 ? 64 / m.groups : m.line_stride;
  if (width > slot) {
    return invalid(what + ": lines of " + std::to_string(width) + " pixels do not fit the " +
                   std::to_string(slot) + " bytes the registers give them (group " +
                   std::to_string(groups) + ", row switch " + std::to_string(row_switch) + ")");
  }
  return m;
}

KpuMap kpu_map_for_width(std::uint64_t start_row, std::uint32_t width, std::uint32_t height,
                         std::uint32_t channels) {
  const format::KpuRowLayout l = format::kpu_row_layout(width);
  KpuMap m;
  m.base = start_row * 64;
  m.width = width;
  m.height = height;
  m.channels = channels;
  m.groups = l.groups;
  m.line_stride = std::uint64_t{l.row_len} * 64;
  m.group_stride = std::uint64_t{l.row_len} * height * 64;
  return m;
}

std::uint32_t k210_pool_output_size(std::uint32_t n, std::int64_t pool_type) {
  switch (pool_type) {
    case 1:  // max 2x2 s2
    case 2:  // mean 2x2 s2
    case 5:  // left-top 2x2 s2
    case 6:  // right-top 2x2 s2
      return n / 2;
    case 3:  // max 4x4 s4
    case 4:  // mean 4x4 s4
    case 7:  // left-top 4x4 s4
      return n / 4;
    default:  // 0 bypass, 8 mean 2x2 s1, 9 max 2x2 s1
      return n;
  }
}

Result<K210Conv> make_k210_conv(const format::ConvBody& body, bool eight_bit_weights,
                                std::uint64_t kpu_bytes, std::uint64_t main_bytes) {
  const format::KpuLayerFields f = body.fields();
  if (f.kernel_type != 0 && f.kernel_type != 1) {
    return invalid("kernel_type " + std::to_string(f.kernel_type) + " is not 0 (1x1) or 1 (3x3)");
  }
  if (f.pool_type < 0 || f.pool_type > 9) {
    return invalid("pool_type " + std::to_string(f.pool_type) + " is not in 0..9");
  }
  K210Conv c;
  c.kernel = f.kernel_type == 1 ? 3 : 1;
  c.depthwise = f.depth_wise_layer != 0;
  c.pool_type = f.pool_type;
  c.pad_value = f.pad_value;
  c.arg_x = f.arg_x;
  c.shr_x = f.shr_x;
  const auto in_w = static_cast<std::uint32_t>(f.in_width());
  const auto in_h = static_cast<std::uint32_t>(f.in_height());
  const auto in_c = static_cast<std::uint32_t>(f.in_channels());
  const auto out_w = static_cast<std::uint32_t>(f.out_width());
  const auto out_h = static_cast<std::uint32_t>(f.out_height());
  const auto out_c = static_cast<std::uint32_t>(f.out_channels());
  if (c.depthwise && in_c != out_c) {
    return invalid("depthwise layer with " + std::to_string(in_c) + " input and " +
                   std::to_string(out_c) + " output channels (i_ch_num and o_ch_num must agree)");
  }
  const std::uint32_t pw = k210_pool_output_size(in_w, c.pool_type);
  const std::uint32_t ph = k210_pool_output_size(in_h, c.pool_type);
  if (pw != out_w || ph != out_h) {
    return invalid("output size " + std::to_string(out_w) + "x" + std::to_string(out_h) +
                   " (o_row_wid, o_col_high) does not match pool_type " +
                   std::to_string(c.pool_type) + " on the " + std::to_string(in_w) + "x" +
                   std::to_string(in_h) + " input (expected " + std::to_string(pw) + "x" +
                   std::to_string(ph) + ")");
  }
  if (pw == 0 || ph == 0) {
    return invalid("pool_type " + std::to_string(c.pool_type) + " on the " + std::to_string(in_w) +
                   "x" + std::to_string(in_h) + " input leaves no output pixels");
  }
  auto in = kpu_map_from_registers("input map", f.image_src_addr, in_w, in_h, in_c, f.coef_group,
                                   f.row_switch_addr, f.channel_switch_addr);
  if (!in.ok()) return std::move(in).error();
  auto out = kpu_map_from_registers("output map", f.image_dst_addr, out_w, out_h, out_c, f.wb_group,
                                    f.wb_row_switch_addr, f.wb_channel_switch_addr);
  if (!out.ok()) return std::move(out).error();
  c.in = *in;
  c.out = *out;
  for (const KpuMap* m : {&c.in, &c.out}) {
    const std::uint64_t end = m->base + m->extent();
    if (end > kpu_bytes) {
      const bool is_in = m == &c.in;
      return Error(Errc::kKpuOutOfMemory,
                   std::string(is_in ? "input map " : "output map ") + std::to_string(m->width) +
                       "x" + std::to_string(m->height) + "x" + std::to_string(m->channels) +
                       " at " + (is_in ? "image_src_addr" : "image_dst_addr") + " row " +
                       std::to_string(m->base / 64) + " ends at byte " + std::to_string(end) +
                       ", beyond KPU RAM (" + std::to_string(kpu_bytes) + " bytes)");
    }
  }
  c.main_out = body.main_mem_out();
  c.main_out_address = body.main_mem_out_address;
  if (c.main_out &&
      (c.out_bytes() > main_bytes || c.main_out_address > main_bytes - c.out_bytes())) {
    return invalid("main_mem_out_address " + std::to_string(c.main_out_address) + " + " +
                   std::to_string(c.out_bytes()) + " output bytes (" + std::to_string(out_w) + "x" +
                   std::to_string(out_h) + "x" + std::to_string(out_c) +
                   ") exceed main memory of " + std::to_string(main_bytes) + " bytes");
  }

  // Weights: [oc][ic][ky][kx] (depthwise [c][ky][kx]), uint8 or uint16 LE (§3.1).
  const std::size_t per_oc = std::size_t{c.depthwise ? 1u : in_c} * c.kernel * c.kernel;
  const std::size_t count = per_oc * out_c;
  const std::size_t bytes = count * (eight_bit_weights ? 1 : 2);
  if (body.weights.size() < bytes) {
    return invalid("weights blob has " + std::to_string(body.weights.size()) + " bytes; " +
                   std::to_string(out_c) + " output channels x " + std::to_string(per_oc) +
                   " taps need " + std::to_string(bytes) +
                   (eight_bit_weights ? " (8-bit weights)" : " (16-bit weights)"));
  }
  if (body.bn_words.size() < out_c) {
    return invalid("batch-norm table has " + std::to_string(body.bn_words.size()) +
                   " entries; the layer has " + std::to_string(out_c) + " output channels");
  }
  c.weights.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    c.weights[i] = eight_bit_weights
                       ? body.weights[i]
                       : body.weights[2 * i] + 256 * std::int64_t{body.weights[2 * i + 1]};
  }
  // Σw runs over all k²·g_ic weights of the output channel, so the whole term is per channel.
  const std::int64_t g_ic = c.depthwise ? 1 : in_c;
  c.const_term.resize(out_c);
  c.bn.resize(out_c);
  for (std::uint32_t o = 0; o < out_c; ++o) {
    std::int64_t sum_w = 0;
    for (std::size_t i = 0; i < per_oc; ++i) sum_w += c.weights[o * per_oc + i];
    c.const_term[o] = k210_floor_shift(f.arg_w * sum_w, f.shr_w) + f.arg_add * g_ic;
    c.bn[o] = format::unpack_kpu_batchnorm(body.bn_words[o]);
  }
  c.activation = format::unpack_kpu_activation(body.act_words);
  return c;
}

namespace {

// Σx over channel c's k x k window at every pixel, added into sum (H x W).
void add_window_sums(const K210Conv& conv, std::size_t c, const K210ConvScratch& s,
                     std::int64_t* sum) {
  const std::size_t W = conv.in.width, H = conv.in.height, k = conv.kernel;
  const std::size_t PW = W + k - 1, plane = PW * (H + k - 1);
  const std::int32_t* p = &s.padded[c * plane];
  for (std::size_t y = 0; y < H; ++y)
    for (std::size_t ky = 0; ky < k; ++ky)
      for (std::size_t kx = 0; kx < k; ++kx) {
        const std::int32_t* row = p + (y + ky) * PW + kx;
        std::int64_t* out = sum + y * W;
        for (std::size_t x = 0; x < W; ++x) out[x] += row[x];
      }
}

}  // namespace

void k210_conv_load_input(const K210Conv& conv, const std::uint8_t* in_map, K210ConvScratch& s) {
  const std::size_t W = conv.in.width, H = conv.in.height, IC = conv.in.channels;
  const std::size_t pad = conv.kernel / 2, PW = W + 2 * pad, plane = PW * (H + 2 * pad);
  // Taps outside the map read pad_value (§6.1): fill the ring with it.
  s.padded.assign(IC * plane, static_cast<std::int32_t>(conv.pad_value));
  for (std::size_t c = 0; c < IC; ++c)
    for (std::size_t y = 0; y < H; ++y)
      for (std::size_t x = 0; x < W; ++x)
        s.padded[c * plane + (y + pad) * PW + x + pad] =
            in_map[conv.in.offset(static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(y),
                                  static_cast<std::uint32_t>(x))];
  // A normal conv's output channels all read every input channel, so Σx is shared.
  if (!conv.depthwise) {
    s.sum_x.assign(H * W, 0);
    for (std::size_t c = 0; c < IC; ++c) add_window_sums(conv, c, s, s.sum_x.data());
  }
}

void k210_conv_accumulate(const K210Conv& conv, std::size_t o, K210ConvScratch& s,
                          std::int64_t* acc) {
  const std::size_t W = conv.in.width, H = conv.in.height, IC = conv.in.channels;
  const std::size_t k = conv.kernel, PW = W + k - 1, plane = PW * (H + k - 1);
  const std::size_t taps = k * k, per_oc = (conv.depthwise ? 1 : IC) * taps;
  std::fill(acc, acc + H * W, 0);
  // value = Σ_ic Σ_ky,kx x·w, one weight tap at a time over the whole plane.
  const std::size_t first_ic = conv.depthwise ? o : 0;
  const std::size_t n_ic = conv.depthwise ? 1 : IC;
  for (std::size_t i = 0; i < n_ic; ++i) {
    const std::int32_t* p = &s.padded[(first_ic + i) * plane];
    for (std::size_t ky = 0; ky < k; ++ky)
      for (std::size_t kx = 0; kx < k; ++kx) {
        const std::int64_t w = conv.weights[o * per_oc + i * taps + ky * k + kx];
        if (w == 0) continue;
        for (std::size_t y = 0; y < H; ++y) {
          const std::int32_t* row = p + (y + ky) * PW + kx;
          std::int64_t* out = acc + y * W;
          for (std::size_t x = 0; x < W; ++x) out[x] += w * row[x];
        }
      }
  }
  const std::int64_t* sum_x = s.sum_x.data();
  if (conv.depthwise) {
    s.dw_sum.assign(H * W, 0);
    add_window_sums(conv, o, s, s.dw_sum.data());
    sum_x = s.dw_sum.data();
  }
  // acc = value + ((arg_x·Σx) >> shr_x) + ((arg_w·Σw) >> shr_w) + arg_add·g_ic, in 36 bits.
  for (std::size_t i = 0; i < H * W; ++i) {
    acc[i] = k210_wrap36(acc[i] + k210_floor_shift(conv.arg_x * sum_x[i], conv.shr_x) +
                         conv.const_term[o]);
  }
}

void k210_conv_output_stage(const K210Conv& conv, std::size_t o, const std::int64_t* acc,
                            SegmentSelection selection, ActivationRounding rounding,
                            K210ConvScratch& s, std::uint8_t* pooled) {
  const std::size_t W = conv.in.width, H = conv.in.height;
  const std::size_t OW = conv.out.width, OH = conv.out.height;
  // §6.3 BN and §6.4 activation on every pixel of the full-size map.
  s.act.resize(H * W);
  const format::KpuBatchNorm& bn = conv.bn[o];
  for (std::size_t i = 0; i < H * W; ++i) {
    s.act[i] = k210_activation(k210_batch_norm(acc[i], bn), conv.activation, selection, rounding);
  }
  // §6.5 pooling of the uint8 map.
  const std::uint8_t* a = s.act.data();
  auto px = [&](std::size_t y, std::size_t x) -> std::int64_t { return a[y * W + x]; };
  for (std::size_t y = 0; y < OH; ++y) {
    for (std::size_t x = 0; x < OW; ++x) {
      std::int64_t v = 0;
      switch (conv.pool_type) {
        case 0:  // bypass
          v = px(y, x);
          break;
        case 1:    // max 2x2 stride 2
        case 3:    // max 4x4 stride 4
        case 9: {  // max 2x2 stride 1; taps past the edge read 0
          const std::size_t win = conv.pool_type == 3 ? 4 : 2;
          const std::size_t stride = conv.pool_type == 9 ? 1 : win;
          for (std::size_t ky = 0; ky < win; ++ky)
            for (std::size_t kx = 0; kx < win; ++kx) {
              const std::size_t iy = y * stride + ky, ix = x * stride + kx;
              v = std::max<std::int64_t>(v, iy < H && ix < W ? px(iy, ix) : 0);
            }
          break;
        }
        case 2:    // mean 2x2 stride 2
        case 4:    // mean 4x4 stride 4
        case 8: {  // mean 2x2 stride 1, coordinates clamped to the edge; floor division
          const std::size_t win = conv.pool_type == 4 ? 4 : 2;
          const std::size_t stride = conv.pool_type == 8 ? 1 : win;
          for (std::size_t ky = 0; ky < win; ++ky)
            for (std::size_t kx = 0; kx < win; ++kx)
              v += px(std::min(y * stride + ky, H - 1), std::min(x * stride + kx, W - 1));
          v /= static_cast<std::int64_t>(win * win);
          break;
        }
        case 5:  // left-top of 2x2
          v = px(2 * y, 2 * x);
          break;
        case 6:  // right-top of 2x2; 0 past the right edge
          v = 2 * x + 1 < W ? px(2 * y, 2 * x + 1) : 0;
          break;
        case 7:  // left-top of 4x4
          v = px(4 * y, 4 * x);
          break;
        default:  // rejected by make_k210_conv
          break;
      }
      pooled[y * OW + x] = static_cast<std::uint8_t>(v);
    }
  }
}

}  // namespace detail
}  // namespace emc::cpu_backend
